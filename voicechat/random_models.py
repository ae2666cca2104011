"""The real architectures with random weights, for measuring speed and memory where the
weights cannot be downloaded. Replies are a fixed text paced by the real generation."""

from __future__ import annotations

import re
import threading
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

from voicechat.errors import ModelError, UsageError
from voicechat.llm.base import GenerationOptions
from voicechat.llm.prompt_cache import PromptCache
from voicechat.types import Message

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
_WORD_OR_MARK = re.compile(r"\w+|[^\w\s]")
FRAMING_TOKENS = 3
"""Tokens around each message in Phi-3's chat template: <|role|>, a line break, <|end|>."""


def stand_in_tokens(messages: Sequence[Message]) -> tuple[list[int], int]:
    """Token ids for `messages` without Phi-3's tokenizer: one per word or punctuation mark
    (about as many as Phi-3's tokenizer gives for plain English), by a stable hash, framed as
    its chat template frames them. Returns the ids and how many come before the last message.
    """
    ids: list[int] = []
    history = 0
    for i, message in enumerate(messages):
        if i == len(messages) - 1:
            history = len(ids)
        ids.append(32000 + i % 2)  # the role marker
        ids.extend(zlib.crc32(w.encode()) % 32000 for w in _WORD_OR_MARK.findall(message.content))
        ids.extend((32002, 13))  # <|end|>, line break
    ids.append(32003)  # <|assistant|>: the generation prompt
    return ids, history


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


def random_whisper(name: str, device: str) -> Any:
    """A WhisperTranscriber over a randomly initialised openai-whisper model of `name`'s shape."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    from voicechat.asr.base import resolve_device
    from voicechat.asr.whisper import WhisperTranscriber

    resolved = resolve_device(device, torch.cuda.is_available())
    model = Whisper(ModelDimensions(**whisper_dims(name))).to(resolved)
    return WhisperTranscriber(f"{name} (random weights)", resolved, loaded=model)


class RandomPhi3:
    """Phi-3-mini-4k with random weights; generates exactly `reply_tokens` tokens per reply
    and streams FIXED_REPLY paced by them."""

    engine = "transformers"

    def __init__(self, device: str, dtype: str, reply_tokens: int) -> None:
        import torch
        from transformers import Phi3Config, Phi3ForCausalLM

        from voicechat.asr.base import resolve_device
        from voicechat.llm.transformers import native_bf16, resolve_dtype

        self.device = resolve_device(device, torch.cuda.is_available())
        self.dtype = resolve_dtype(dtype, self.device, native_bf16(self.device))
        self.model_name = "Phi-3-mini-4k shape (random weights)"
        self.context_window = 4096
        self.reply_tokens = reply_tokens
        config = Phi3Config(**PHI3_MINI_4K)
        config._attn_implementation = "sdpa"
        torch.manual_seed(0)
        with torch.device(self.device):  # built in its dtype, as loading the real one is
            model = Phi3ForCausalLM._from_config(config, dtype=getattr(torch, self.dtype))
            self._model: Any = model.eval()
        self._prompt_cache = PromptCache()

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Prompt tokens by `stand_in_tokens`."""
        return len(stand_in_tokens(messages)[0])

    def forget_cache(self) -> None:
        """Drop the kept attention cache: the next reply processes its whole prompt."""
        with self._prompt_cache.lock:
            self._prompt_cache.drop()

    @property
    def cached_prompt_tokens(self) -> int:
        """Prompt tokens the last reply took from the kept attention cache."""
        return self._prompt_cache.reused_tokens

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions, cancel: threading.Event
    ) -> Iterator[str]:
        """Generate `reply_tokens` tokens for real; yield the fixed reply's words in step."""
        import queue

        import torch
        from transformers.generation.streamers import BaseStreamer

        words = FIXED_REPLY.split(" ")
        pieces: queue.Queue[str | None] = queue.Queue()
        total = self.reply_tokens

        class Pacer(BaseStreamer):
            def __init__(self) -> None:
                self.seen = -1  # the first put() is the prompt
                self.sent = 0

            def put(self, value: Any) -> None:
                self.seen += 1
                due = round(self.seen * len(words) / total)
                while self.sent < min(due, len(words)):
                    pieces.put(words[self.sent] if self.sent == 0 else " " + words[self.sent])
                    self.sent += 1

            def end(self) -> None:
                while self.sent < len(words):
                    pieces.put(" " + words[self.sent])
                    self.sent += 1
                pieces.put(None)

        ids, history = stand_in_tokens(messages)
        prompt = torch.tensor([ids], device=self.device)
        cache = self._prompt_cache

        failure: list[BaseException] = []

        def generate() -> None:
            with cache.lock:
                try:
                    out = self._model.generate(
                        prompt,
                        attention_mask=torch.ones_like(prompt),
                        max_new_tokens=total,
                        min_new_tokens=total,
                        do_sample=False,
                        streamer=Pacer(),
                        pad_token_id=0,
                        **cache.prepare(ids, history),
                    )
                    cache.keep(out[0].tolist())
                except BaseException as e:
                    cache.drop()
                    failure.append(e)
                    pieces.put(None)

        worker = threading.Thread(target=generate, daemon=True)
        worker.start()
        while (piece := pieces.get()) is not None:
            if not cancel.is_set():
                yield piece
        worker.join()
        if failure:
            raise ModelError(f"generation failed: {failure[0]}") from failure[0]
