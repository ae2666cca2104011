"""What a turn answers: text typed, or a take spoken, perhaps with a reply already held.

These are values every front-end builds and `run_turn` reads; `HeldReply` is what a reply
begun before the take was over (the early start) promises the turn, so the turn does not
depend on the one thing that makes such replies.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from voicechat.types import AudioClip

if TYPE_CHECKING:
    from voicechat.reply import Reply


@dataclass(frozen=True)
class Typed:
    """Text sent as a turn. at: time.monotonic() when it was sent."""

    text: str
    at: float = field(default_factory=time.monotonic)


class HeldReply(Protocol):
    """A reply to `text`, written and voiced but not yet shown or played."""

    text: str

    def release(self) -> float:
        """Show and play it from now on; returns the time.monotonic() of the release."""
        ...

    def abandon(self) -> None:
        """Stop it; nothing of it is shown, played or kept (no-op once released)."""
        ...

    def result(self, cancel: threading.Event | None = None) -> Reply:
        """Wait for the released reply to end, stopping it when `cancel` is set; raises what
        the reply raised."""
        ...


@dataclass(frozen=True)
class Spoken:
    """A take to answer.

    ended_at: time.monotonic() when the take ended.
    transcript: its transcription, already under way (begun at the pause it ended at).
    early: a reply to it, already begun at that pause and held (see `early_start`).
    over_reply: its speech began while a reply played, and stopped it: a take that holds
        only that reply's words is its echo, and is not answered (`own_voice`).
    """

    clip: AudioClip
    ended_at: float
    transcript: concurrent.futures.Future[str] | None = None
    early: HeldReply | None = None
    over_reply: bool = False
