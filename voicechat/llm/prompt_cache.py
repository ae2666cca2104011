"""Keeping a conversation's attention cache between turns (transformers engine).

Each turn's prompt is the previous turn's prompt and reply with one new message after them.
Before the first token the model must process every prompt token it has no cached keys and
values for; on a CPU that is most of the time to first token (Phi-3-mini: about 0.1 s per
token on 2 cores), and it grows with every turn. Keeping the cache of the last generation and
cutting it back to the part the new prompt shares with it leaves only the new message to run.

The new message itself is never taken from the cache, so asking the same question twice costs
the same both times (and a benchmark that repeats one question measures a real turn).

With a compiled decoding step the cache is a `StaticCache` of fixed length: the same object
(and the same tensors, which a captured CUDA graph addresses) serves every turn, cut back to
the shared prefix by moving its length, never reallocated.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens `a` and `b` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def cache_argument() -> str:
    """The name `generate()` takes the cache under: `cache` in transformers 5, where
    `past_key_values` still works but is deprecated; `past_key_values` before."""
    from transformers.utils import generic

    return "cache" if hasattr(generic, "_rename_kwargs_for_bc") else "past_key_values"


def cut_back(cache: Any, tokens: int) -> None:
    """Remove the last `tokens` tokens from a transformers cache, in place.

    A static layer's length is one tensor, which a captured CUDA graph reads where it is;
    transformers from 5.18 lowers it in `crop` (the keys and values after it are written
    over by the next update). Before that release static layers have no `crop` of their own
    and the cache's `crop` fails on them, so their length is lowered here the same way."""
    layers = getattr(cache, "layers", None)
    if layers is None or all(hasattr(layer, "crop") for layer in layers):
        cache.crop(-tokens)  # negative: tokens to remove
        return
    for layer in layers:
        if hasattr(layer, "crop"):
            layer.crop(-tokens)
        else:
            layer.cumulative_length.sub_(tokens)


class PromptCache:
    """The keys and values of the tokens of the last generation, for the next one.

    make_cache: builds an empty cache; None for a `DynamicCache`, which grows as needed.
    Hold `lock` from `prepare` until `keep` (or `drop`): the cache is changed in place.
    """

    def __init__(self, make_cache: Callable[[], Any] | None = None) -> None:
        self.lock = threading.Lock()
        self.reused_tokens = 0
        """Prompt tokens the last `prepare` took from the cache."""
        self._make_cache = make_cache
        self._cache: Any = None
        self._tokens: list[int] = []
        self._argument = cache_argument()

    def prepare(self, prompt: Sequence[int], history_tokens: int) -> dict[str, Any]:
        """`generate()` keyword arguments that reuse what `prompt` shares with the cache.

        history_tokens: how many leading tokens of `prompt` are the conversation before the
        new message; only those are taken from the cache. The model always runs over at
        least one prompt token.
        """
        reuse = min(
            common_prefix(self._tokens, prompt), history_tokens, len(prompt) - 1, len(self._tokens)
        )
        if self._cache is None or (reuse <= 0 and self._make_cache is None):
            self._cache, self._tokens, self.reused_tokens = self._new_cache(), [], 0
        else:
            reuse = max(reuse, 0)
            cached = int(self._cache.get_seq_length())
            if cached > reuse:
                cut_back(self._cache, cached - reuse)
            self._tokens = self._tokens[:reuse]
            self.reused_tokens = reuse
        return {self._argument: self._cache}

    def _new_cache(self) -> Any:
        if self._make_cache is not None:
            return self._make_cache()
        from transformers import DynamicCache

        return DynamicCache()

    def keep(self, sequence: Sequence[int]) -> None:
        """After `generate()`: `sequence` is the prompt and what was generated. The cache
        holds all of it but the last token, which the model never ran over."""
        self._tokens = list(sequence[: int(self._cache.get_seq_length())])

    def drop(self) -> None:
        """Forget everything (after a failed generation the cache may be half written)."""
        self._cache, self._tokens, self.reused_tokens = None, [], 0
