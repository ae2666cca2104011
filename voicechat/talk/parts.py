"""What the talk loop works with, as the loop sees each part: the keys, the screen, the take
being recorded, the turn being answered and the slash commands (the real ones are wired by
`talk.setup.open_talk_loop`; tests/test_talk_loop.py stands in plain objects)."""

from __future__ import annotations

import queue
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from voicechat.talk.keys import KeyEvent
    from voicechat.turn_input import Spoken, Typed
    from voicechat.types import Continuation, Take


class KeySource(Protocol):
    """Key events as they come (the terminal). kitty: key releases are reported."""

    events: queue.Queue[KeyEvent]
    kitty: bool


class Screen(Protocol):
    """What the loop shows: its state line, the line being typed, the level, notices."""

    line: str | None
    level_db: float

    def show_state(self, state: str) -> None: ...
    def notice(self, message: str) -> None: ...
    def error(self, message: str) -> None: ...
    def take_back(self) -> None: ...


class TakeControl(Protocol):
    """The take being recorded (talk.takes.Takes)."""

    failed: bool
    by_space_at: float | None

    @property
    def recording(self) -> bool: ...
    @property
    def level_db(self) -> float: ...
    def open(self) -> bool: ...
    @property
    def resumed(self) -> bool: ...
    def start(
        self,
        by_space: bool = False,
        wait_for_speech: bool = False,
        over_reply: bool = False,
        continues: Continuation | None = None,
    ) -> bool: ...
    def send(self) -> None: ...
    def discard(self) -> None: ...
    def finished(self) -> Take | None: ...
    def close(self) -> None: ...


class TurnControl(Protocol):
    """The turn being answered (talk.turns.Turns)."""

    interrupting: bool

    @property
    def busy(self) -> bool: ...
    def start(self, said: Typed | Spoken) -> None: ...
    def drop(self) -> None: ...
    def ended(self) -> bool: ...
    def close(self) -> None: ...


class Commands(Protocol):
    """Slash commands; run returns True to quit."""

    def run(self, text: str) -> bool: ...
