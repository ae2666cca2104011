"""The real architectures with random weights, for measuring speed and memory where no
weights can be fetched.

Each checkpoint is built once, saved where voicechat keeps its caches, and then loaded like
a user's model: Phi-3-mini-4k as a model folder through the transformers engine (dtype,
quantization, compile, the kept attention cache and stop tokens all apply), Whisper as an
openai-whisper `.pt` file. The Phi-3 folder has a stand-in tokenizer with Phi-3's special
tokens, ids and chat template, whose every other token is one word. Random weights write
noise, so `FixedReply` shows a fixed reply instead, paced by the tokens really generated.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from voicechat import paths
from voicechat.errors import UsageError
from voicechat.llm.base import ChatModel, GenerationOptions
from voicechat.types import Message

VERSION = "1"
"""Bump to rebuild the cached checkpoints when the recipe changes."""

PHI3_MINI_4K: dict[str, Any] = {
    "num_hidden_layers": 32,
    "hidden_size": 3072,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "intermediate_size": 8192,
    "vocab_size": 32064,
    "max_position_embeddings": 4096,
    "original_max_position_embeddings": 4096,
}
"""microsoft/Phi-3-mini-4k-instruct's shape (3.8 B parameters)."""

PHI3_SPECIAL_TOKENS = {
    "<|endoftext|>": 32000,
    "<|assistant|>": 32001,
    "<|system|>": 32006,
    "<|end|>": 32007,
    "<|user|>": 32010,
}
"""Phi-3's special tokens at Phi-3's ids."""

PHI3_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)
"""Phi-3-mini-4k-instruct's chat format."""

WHISPER_DIMS = {
    "tiny": (384, 6, 4, 4),
    "base": (512, 8, 6, 6),
    "small": (768, 12, 12, 12),
    "medium": (1024, 16, 24, 24),
    "large-v3": (1280, 20, 32, 32),
    "turbo": (1280, 20, 32, 4),
}
"""Whisper width, heads, encoder layers and decoder layers by model name."""

FIXED_REPLY = (
    "The capital of France is Paris. Paris is known for the Eiffel Tower. "
    "It is a lovely city to visit."
)


def cache_dir() -> Path:
    """Where the random checkpoints are kept (under voicechat's data folder)."""
    return paths.data_dir() / "cache" / f"random-weights-v{VERSION}"


def whisper_dims(name: str) -> dict[str, int]:
    """openai-whisper's ModelDimensions for a model name (".en" names have one token less)."""
    base = name.removesuffix(".en")
    if base not in WHISPER_DIMS:
        raise UsageError(
            f"no known Whisper shape for {name!r}; use one of {', '.join(WHISPER_DIMS)}"
        )
    width, heads, enc, dec = WHISPER_DIMS[base]
    v3 = base in ("large-v3", "turbo")
    return {
        "n_mels": 128 if v3 else 80,
        "n_audio_ctx": 1500,
        "n_audio_state": width,
        "n_audio_head": heads,
        "n_audio_layer": enc,
        "n_vocab": 51864 if name.endswith(".en") else 51866 if v3 else 51865,
        "n_text_ctx": 448,
        "n_text_state": width,
        "n_text_head": heads,
        "n_text_layer": dec,
    }


def random_whisper(name: str) -> Path:
    """An openai-whisper checkpoint of `name`'s shape with random weights (built once)."""
    path = cache_dir() / f"whisper-{name}.pt"
    if path.is_file():
        return path
    import torch
    from whisper.model import ModelDimensions, Whisper

    dims = whisper_dims(name)
    torch.manual_seed(0)
    model = Whisper(ModelDimensions(**dims))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"dims": dims, "model_state_dict": model.state_dict()}, tmp)
    tmp.rename(path)
    return path


def stand_in_tokenizer() -> Any:
    """Phi-3's special tokens, ids and chat template over a vocabulary of made-up words: one
    token per word of a message (unknown words are one token each, as most short English
    words are in Phi-3's own tokenizer), and one word per generated token."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0} | {f"w{i}": i for i in range(1, 32000)} | PHI3_SPECIAL_TOKENS
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=[t for t in PHI3_SPECIAL_TOKENS if t != "<|endoftext|>"],
    )
    wrapped.chat_template = PHI3_CHAT_TEMPLATE
    return wrapped


def random_phi3(layers: int = PHI3_MINI_4K["num_hidden_layers"]) -> Path:
    """A model folder of Phi-3-mini-4k's shape with random weights (with fewer `layers` for
    a quick check), built once: about 7.6 GB in bf16 with all 32 layers. Its stop tokens
    never win a greedy step, so every reply runs to max_new_tokens, as a long answer would."""
    path = cache_dir() / f"phi3-mini-4k-{layers}-layers"
    if (path / "config.json").is_file():
        return path
    import torch
    from transformers import Phi3Config, Phi3ForCausalLM

    config = Phi3Config(
        **(PHI3_MINI_4K | {"num_hidden_layers": layers}),
        pad_token_id=PHI3_SPECIAL_TOKENS["<|endoftext|>"],
        bos_token_id=None,
        eos_token_id=[PHI3_SPECIAL_TOKENS["<|endoftext|>"], PHI3_SPECIAL_TOKENS["<|end|>"]],
        sliding_window=None,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    # Drawing 3.8 B random numbers takes a CPU a minute, a GPU a moment.
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = Phi3ForCausalLM._from_config(config, dtype=torch.bfloat16).eval()
    with torch.no_grad():
        for token in (PHI3_SPECIAL_TOKENS["<|endoftext|>"], PHI3_SPECIAL_TOKENS["<|end|>"]):
            model.lm_head.weight[token].zero_()  # a logit of 0, below the best of 32,000
    tmp = path.with_name(path.name + ".tmp")
    model.save_pretrained(tmp)
    stand_in_tokenizer().save_pretrained(tmp)
    tmp.rename(path)
    return path


class FixedReply:
    """A chat model that shows FIXED_REPLY instead of what `model` writes, one word per
    token `model` really generates (the rest when it stops), so sentences, the voice and
    the timings follow the real generation."""

    def __init__(self, model: ChatModel, text: str = FIXED_REPLY) -> None:
        self.model = model
        self.words = text.split(" ")
        self.engine = model.engine
        self.model_name = f"{model.model_name} (random weights)"
        self.device = model.device
        self.context_window = model.context_window

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """The real model's count."""
        return self.model.count_tokens(messages)

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions, cancel: threading.Event
    ) -> Iterator[str]:
        """The fixed reply's words, paced by the real model's pieces."""
        total = max(1, options.max_new_tokens)
        sent = 0
        for seen, _ in enumerate(self.model.stream(messages, options, cancel), start=1):
            due = min(len(self.words), round(seen * len(self.words) / total))
            while sent < due:
                yield self.words[sent] if sent == 0 else " " + self.words[sent]
                sent += 1
        if not cancel.is_set():
            for i in range(sent, len(self.words)):
                yield self.words[i] if i == 0 else " " + self.words[i]
