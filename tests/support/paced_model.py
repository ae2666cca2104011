"""A language model that writes a fixed reply at a set pace, for measuring what the pipeline
does while a slow model is still writing (the trained tiny Phi-3 writes a reply in a few
milliseconds). It implements the same ChatModel protocol as the real engines."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

from voicechat.llm.base import GenerationOptions
from voicechat.types import Message


class PacedChatModel:
    """Writes a fixed reply word by word, `delay_s` apart, like a slow model on a CPU."""

    engine = "paced"
    model_name = "paced"
    device = "cpu"
    context_window = 4096

    def __init__(self, text: str, delay_s: float) -> None:
        self.text = text
        self.delay_s = delay_s
        self.finished_at: float | None = None
        self.written_at: list[float] = []
        """When each word was handed out (time.monotonic())."""

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return sum(len(m.content.split()) for m in messages)

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions, cancel: threading.Event
    ) -> Iterator[str]:
        for i, word in enumerate(self.text.split(" ")):
            if cancel.is_set():
                return
            time.sleep(self.delay_s)
            self.written_at.append(time.monotonic())
            yield word if i == 0 else " " + word
        self.finished_at = time.monotonic()
