"""The language-model interface every engine implements."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from voicechat.types import Message


@dataclass(frozen=True)
class GenerationOptions:
    """max_new_tokens: longest reply in tokens. temperature: 0 = greedy decoding."""

    max_new_tokens: int = 256
    temperature: float = 0.7


class ChatModel(Protocol):
    """Streams a reply to a conversation, piece by piece, as it is written.

    context_window: tokens the model attends to (prompt and reply together).
    """

    engine: str
    model_name: str
    device: str
    context_window: int

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens the prompt for `messages` takes, the generation prompt included."""
        ...

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions, cancel: threading.Event
    ) -> Iterator[str]:
        """Yield the reply's text pieces; stop soon after `cancel` is set."""
        ...
