"""How likely a message, said so far, is whole: a causal language model's probability that
the user's message ends right there, read from its chat template.

The text is rendered as a user's message and cut where the message would close, so the model
is asked what comes next: its end-of-message token (<|end|>, <|im_end|>) or a final . ? or !
means the message is whole. One forward pass, no generation. Used by the smart end of turn.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from voicechat.llm.prompt_cache import cache_argument

TRAILING_MARKS = ".?!,;: "
"""Stripped from the end of a transcript before it is scored (Whisper punctuates speech that
was cut off too)."""
CUT = "\u2063"
"""An invisible character that marks where a message is cut in its rendered template."""
BATCH = 16
"""Texts scored in one padded forward pass."""


def message_end_ids(tokenizer: Any, stop_tokens: Sequence[str] = ()) -> list[int]:
    """Tokens that finish a user's message: `stop_tokens` the vocabulary has, the token the
    chat template closes a message with, and the final marks . ? ! where each is one token."""
    vocab = tokenizer.get_vocab()
    ids = {vocab[t] for t in stop_tokens if t in vocab}
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": CUT}], tokenize=False)
    closing = rendered[rendered.index(CUT) + 1 :].lstrip(" ")
    closing_ids = tokenizer(closing, add_special_tokens=False)["input_ids"]
    if closing_ids and closing_ids[0] in tokenizer.all_special_ids:
        ids.add(closing_ids[0])
    for mark in (".", "?", "!"):
        # After a word, as it would come (SentencePiece would give "▁?" for a lone mark).
        last = tokenizer("a" + mark, add_special_tokens=False)["input_ids"][-1]
        if tokenizer.decode([last]).strip() == mark:
            ids.add(last)
    return sorted(ids)


def message_prefix(tokenizer: Any, text: str) -> str | None:
    """The chat template rendered up to the end of `text` as a user's message, trailing
    punctuation dropped (None for no words)."""
    words = text.strip().rstrip(TRAILING_MARKS).strip()
    if not words:
        return None
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": words + CUT}], tokenize=False
    )
    return str(rendered[: rendered.index(CUT)])


def end_probabilities(
    model: Any, tokenizer: Any, end_ids: Sequence[int], texts: Sequence[str]
) -> list[float]:
    """Each text's probability (0-1) of being a whole message, BATCH at a time (0 for none)."""
    import torch

    prefixes = [message_prefix(tokenizer, t) for t in texts]
    scores = [0.0] * len(texts)
    todo = [i for i, prefix in enumerate(prefixes) if prefix is not None]
    for start in range(0, len(todo), BATCH):
        chunk = todo[start : start + BATCH]
        encoded = [tokenizer(prefixes[i], add_special_tokens=False)["input_ids"] for i in chunk]
        width = max(len(ids) for ids in encoded)
        ids = torch.zeros((len(chunk), width), dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, tokens in enumerate(encoded):  # padded on the right: the ends line up per row
            ids[row, : len(tokens)] = torch.tensor(tokens)
            mask[row, : len(tokens)] = 1
        device = model.device
        with torch.inference_mode():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        last = torch.tensor([len(tokens) - 1 for tokens in encoded], device=device)
        final = logits[torch.arange(len(chunk), device=device), last].float()
        ended = torch.softmax(final, dim=-1)[:, list(end_ids)].sum(dim=-1)
        for row, i in enumerate(chunk):
            scores[i] = float(ended[row])
    return scores


@dataclass(frozen=True)
class Opening:
    """The chat template's fixed opening before a user's words (a system prompt the template
    adds, the user marker), run through the model once: every score starts from it.

    ids: its tokens. cache: the model's attention cache over them (copied for each use).
    """

    ids: list[int]
    cache: Any


def opening(model: Any, tokenizer: Any) -> Opening | None:
    """The template's opening, computed once; None when it has no tokens."""
    import torch

    rendered = tokenizer.apply_chat_template([{"role": "user", "content": CUT}], tokenize=False)
    ids = tokenizer(rendered[: rendered.index(CUT)], add_special_tokens=False)["input_ids"]
    if not ids:
        return None
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([ids], device=model.device), use_cache=True)
    cache = getattr(out, "cache", None)
    return Opening(list(ids), cache if cache is not None else out.past_key_values)


def end_probability(
    model: Any, tokenizer: Any, end_ids: Sequence[int], start: Opening | None, text: str
) -> float:
    """One text's probability (0-1) of being a whole message, from `start` on: only the
    user's words go through the model (SmolLM2's template opens with 24 tokens of system
    prompt, three times the words of a short request). Falls back to a whole pass where the
    words do not tokenize after the opening as they do alone."""
    import torch

    prefix = message_prefix(tokenizer, text)
    if prefix is None:
        return 0.0
    ids = tokenizer(prefix, add_special_tokens=False)["input_ids"]
    if start is None or len(ids) <= len(start.ids) or ids[: len(start.ids)] != start.ids:
        return end_probabilities(model, tokenizer, end_ids, [text])[0]
    rest = torch.tensor([ids[len(start.ids) :]], device=model.device)
    with torch.inference_mode():
        past = {cache_argument(): copy.deepcopy(start.cache)}
        out = model(input_ids=rest, use_cache=True, **past)
    final = out.logits[0, -1].float()
    return float(torch.softmax(final, dim=-1)[list(end_ids)].sum())
