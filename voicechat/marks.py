"""When each stage of a turn first happened: one `Marks` per reply or turn, keyed by `Stage`.

The reply marks its stages as they happen (any thread); the turn adds the transcript and its
end and counts them all from the end of the take; talk, ask, web, bench and the session file
read the same marks. A new stage is one line here.
"""

from __future__ import annotations

import enum
import threading
import time
from dataclasses import dataclass, field


class Stage(enum.Enum):
    """A moment in a turn. The value names it in JSON and session files (with "_ms")."""

    TRANSCRIPT = "stt"
    """The transcript was ready."""
    REPLY_START = "reply_start"
    FIRST_TOKEN = "first_token"
    LAST_TOKEN = "last_token"
    FIRST_SENTENCE = "first_sentence"
    """The first sentence (or first clause) was written out."""
    FIRST_SYNTH_START = "first_synth_start"
    """The voice began on the first sentence."""
    FIRST_CLIP = "first_clip"
    """The voice gave its first audio."""
    FIRST_AUDIO = "first_audio"
    """The first sound began to play."""
    END = "turn"
    """The reply (or the turn) was over."""

    @property
    def label(self) -> str:
        """How a person reads it: "first token"."""
        return "speech-to-text" if self is Stage.TRANSCRIPT else self.value.replace("_", " ")


@dataclass
class Marks:
    """time.monotonic() of each stage's first happening, counted in ms from `start`."""

    start: float = field(default_factory=time.monotonic)
    _at: dict[Stage, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def mark(self, stage: Stage, at: float | None = None) -> bool:
        """Record that `stage` happened now (or at `at`), unless it already had: the first
        time counts. Returns whether this call recorded it."""
        with self._lock:
            if stage in self._at:
                return False
            self._at[stage] = time.monotonic() if at is None else at
            return True

    def move(self, stage: Stage, at: float) -> None:
        """Record `stage` at `at`, whether or not it had happened (the end of a turn, a first
        sound that cannot have been heard before a held reply was released)."""
        with self._lock:
            self._at[stage] = at

    def has(self, stage: Stage) -> bool:
        """Whether `stage` has happened."""
        return stage in self._at

    def at(self, stage: Stage) -> float | None:
        """time.monotonic() when `stage` happened; None if it has not."""
        return self._at.get(stage)

    def ms(self, stage: Stage) -> float | None:
        """Milliseconds from `start` to `stage` (negative when before it); None if it has not
        happened."""
        at = self._at.get(stage)
        return None if at is None else (at - self.start) * 1000

    def now_ms(self) -> float:
        """Milliseconds from `start` to now."""
        return (time.monotonic() - self.start) * 1000

    def copy(self, start: float | None = None) -> Marks:
        """The same marks, counted from `start` (this one's when None)."""
        return Marks(self.start if start is None else start, dict(self._at))

    def as_dict(self) -> dict[str, float | None]:
        """Every stage as "<name>_ms" rounded to the millisecond (None where it never
        happened), for JSON and session files."""
        return {
            f"{stage.value}_ms": None if (ms := self.ms(stage)) is None else round(ms)
            for stage in Stage
        }
