"""A tiny Phi-3 that answers a few fixed questions word for word, trained in about a minute.

No Phi-3 weights can be fetched offline. This builds the real architecture (`Phi3ForCausalLM`)
at a small width with a byte-level BPE tokenizer, Phi-3's special tokens and its chat template,
and trains it on fixed conversations, so a test can follow one question through every real
stage and check the answer that comes out.
"""

from __future__ import annotations

import itertools
from pathlib import Path

VERSION = "3"
"""Bump to rebuild cached models when the recipe changes."""

SYSTEM_PROMPTS = (
    None,
    "You are a helpful voice assistant. Your replies are spoken aloud, so answer in one to "
    "three short sentences of plain text: no markdown, lists, code or emoji.",
)

ANSWERS = {
    "What is the capital of France?": (
        "The capital of France is Paris. Paris is known for the Eiffel Tower. "
        "It is a lovely city to visit."
    ),
    "What colour is the sky?": "The sky is blue on a clear day. At sunset it turns orange.",
    "How many legs does a spider have?": "A spider has eight legs. Insects have six.",
    "Tell me a long story.": (
        "Once upon a time there was a small robot. It lived in a quiet town by the sea. "
        "Every morning it walked to the harbour. It counted the boats one by one. "
        "There were twelve boats on most days. On windy days there were only three. "
        "The robot liked the windy days best. It could hear the waves and the gulls. "
        "One day a fisherman asked the robot for help. Together they mended a torn net. "
        "After that the robot had a friend. They met at the harbour every morning."
    ),
}
"""Questions and the replies the model learns; the first is the one the tests speak."""

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ '<|system|>\n' + message['content'] + '<|end|>\n' }}"
    "{% elif message['role'] == 'user' %}{{ '<|user|>\n' + message['content'] + '<|end|>\n' }}"
    "{% elif message['role'] == 'assistant' %}"
    "{{ '<|assistant|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)
"""Phi-3-mini-4k-instruct's chat format."""

SPECIAL_TOKENS = ["<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]


def _conversations() -> list[list[dict[str, str]]]:
    """Every question alone, and the short ones after another turn, with each system prompt."""
    items = list(ANSWERS.items())
    conversations = []
    for system in SYSTEM_PROMPTS:
        head = [{"role": "system", "content": system}] if system else []
        for question, answer in items:
            conversations.append(
                [
                    *head,
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": answer},
                ]
            )
        for (q1, a1), (q2, a2) in itertools.permutations(items[:3], 2):
            conversations.append(
                [
                    *head,
                    {"role": "user", "content": q1},
                    {"role": "assistant", "content": a1},
                    {"role": "user", "content": q2},
                    {"role": "assistant", "content": a2},
                ]
            )
    return conversations


def _tokenizer(texts: list[str]):  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


QUESTION_WEIGHT = 0.1
"""How much the question's tokens weigh in training, against 1 for the reply's."""


def asked_rows(rows: list[tuple[list[int], list[int], int]], width: int) -> list[list[bool]]:
    """For each padded row, which positions are the question's (before the reply)."""
    return [[i < asked for i in range(width)] for _, _, asked in rows]


def build(path: Path, steps: int = 400) -> Path:
    """Build, train and save the model and tokenizer into `path` (written atomically)."""
    import torch
    from transformers import Phi3Config, Phi3ForCausalLM

    torch.manual_seed(0)
    conversations = _conversations()
    texts = [str(q) + " " + str(a) for q, a in ANSWERS.items()] + [
        m["content"] for c in conversations for m in c
    ]
    tokenizer = _tokenizer(texts)

    config = Phi3Config(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=4096,
        original_max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids(["<|endoftext|>", "<|end|>"]),
        bos_token_id=None,
        sliding_window=None,
        tie_word_embeddings=False,
    )
    model = Phi3ForCausalLM(config)

    # Learn the assistant replies (and their <|end|>), as instruction tuning does, and the
    # question before each (and its <|end|>), as pretraining on text would: the model then
    # knows how its questions go on, and where they are finished.
    rows: list[tuple[list[int], list[int], int]] = []
    for conv in conversations:
        prompt = tokenizer.apply_chat_template(
            conv[:-1], add_generation_prompt=True, tokenize=False
        )
        encoded = tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
        ids = encoded["input_ids"]
        asked = conv[-2]["content"] + "<|end|>"
        start = prompt.rindex(asked)
        learnt = [
            token if start <= begin and end <= start + len(asked) else -100
            for token, (begin, end) in zip(ids, encoded["offset_mapping"], strict=True)
        ]
        reply = tokenizer(conv[-1]["content"] + "<|end|>", add_special_tokens=False)["input_ids"]
        rows.append((ids + reply, learnt + reply, len(ids)))
    width = max(len(r[0]) for r in rows)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([r[0] + [pad] * (width - len(r[0])) for r in rows])
    labels = torch.tensor([r[1] + [-100] * (width - len(r[1])) for r in rows])
    attention = (
        torch.arange(width)[None, :] < torch.tensor([len(r[0]) for r in rows])[:, None]
    ).long()

    # The question's tokens count for less than the reply's: enough to know where a question
    # ends, not so much that replies start echoing questions.
    weights = torch.tensor(
        [[QUESTION_WEIGHT if r else 1.0 for r in row] for row in asked_rows(rows, width)]
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        logits = model(input_ids=input_ids, attention_mask=attention).logits[:, :-1]
        targets = labels[:, 1:]
        losses = torch.nn.functional.cross_entropy(
            logits.transpose(1, 2), targets, ignore_index=-100, reduction="none"
        )
        mask = (targets != -100).float() * weights[:, 1:]
        loss = (losses * mask).sum() / mask.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()

    tmp = path.with_name(path.name + ".tmp")
    model.generation_config.eos_token_id = config.eos_token_id
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(path)
    return path
