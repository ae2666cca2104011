"""The values passed between stages. Audio always carries its sample rate; times are seconds."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

WHISPER_SAMPLE_RATE = 16_000
"""Hz; every Whisper model expects mono audio at this rate."""


@dataclass(frozen=True)
class AudioClip:
    """Mono audio.

    samples: float32 in [-1, 1], shape (n,).
    sample_rate: Hz.
    """

    samples: npt.NDArray[np.float32]
    sample_rate: int

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class MicBlock:
    """One block of microphone audio at 16 kHz, float32, seen two ways.

    judged: what voice activity judges: noise suppressed where that is on, and with the
    speaker's own echo removed.
    kept: what a take keeps and speech-to-text hears: the same while the speaker's sound may
    be in the microphone, only noise suppressed after it (why: `echo.canceller`); the same array
    where nothing is cancelled.
    settling: the echo canceller may still be letting the speaker through in this block (it
    has just started from silence): what it holds is not to be taken for a person.
    talked_over: the echo canceller finds someone talking over the speaker here
    (`echo.talk_over`).
    """

    kept: npt.NDArray[np.float32]
    judged: npt.NDArray[np.float32]
    settling: bool = False
    talked_over: bool = False

    @classmethod
    def alone(cls, samples: npt.NDArray[np.float32]) -> MicBlock:
        """A block with nothing cancelled: both views are `samples`."""
        return cls(samples, samples)


@dataclass(frozen=True)
class Segment:
    """A stretch of recognised speech; `start` and `end` in seconds from the start of the audio.

    logprob: the decode's average log probability per token (how sure speech-to-text was of
    these words; Whisper takes below -1 for unsure), None where the engine does not say.
    """

    start: float
    end: float
    text: str
    logprob: float | None = None


@dataclass(frozen=True)
class Transcript:
    """What speech-to-text made of one recording, the same for every engine.

    language: ISO 639-1 code (detected or given).
    duration: length of the audio in seconds.
    model, engine: what produced it.
    """

    segments: tuple[Segment, ...]
    language: str
    duration: float
    model: str
    engine: str

    @property
    def text(self) -> str:
        """All segments' text joined by single spaces."""
        return " ".join(s.text for s in self.segments).strip()


@dataclass(frozen=True)
class Message:
    """One chat message. role: "system", "user" or "assistant"."""

    role: str
    content: str

    def as_dict(self) -> dict[str, str]:
        """The `{"role", "content"}` form chat templates and OpenAI-compatible servers take."""
        return {"role": self.role, "content": self.content}


class Ended(StrEnum):
    """How a take ended (a string, as benchmarks and reports show it)."""

    KEY = "key"
    """The person sent it with a key."""
    SILENCE = "silence"
    """audio.silence_ms of silence after speech."""
    SMART = "smart"
    """A pause the smart end of turn judged the end of the turn."""
    LIMIT = "limit"
    """audio.max_record_s reached."""
    DISCARDED = "discarded"
    """Thrown away (the person discarded it, or talk stopped it)."""
    EXPIRED = "expired"
    """It waited to continue a take and no speech came in time (`Continuation`)."""

    @property
    def by_itself(self) -> bool:
        """At a pause, by the smart end of turn or by silence, not by a key or the limit."""
        return self in (Ended.SMART, Ended.SILENCE)


@dataclass(frozen=True)
class Take:
    """One recording at 16 kHz, and how it ended.

    paused_at: samples offered to `on_pause` when no speech followed them (so a transcript
    of those samples is a transcript of the whole take), else None.
    ended_at: time.monotonic() when the take ended.
    """

    clip: AudioClip
    had_speech: bool
    ended_by: Ended
    paused_at: int | None = None
    ended_at: float = 0.0
    resumed: bool = False
    """It goes on from a take that ended at a pause (`Continuation`): `clip` holds both."""

    @property
    def ended_itself(self) -> bool:
        """It ended at a pause (by the smart end of turn or by silence), not by a key or the
        length limit: speech soon after may continue it (`Continuation`)."""
        return self.ended_by.by_itself


@dataclass(frozen=True)
class Continuation:
    """A take that ended by itself at a pause, which speech that starts soon after goes on
    with: the person had paused mid-thought, not finished.

    take: the take that ended. until: time.monotonic() before which speech that starts
    continues it (the end of the take plus `audio.resume_s`).
    closed_by: once any of these is set, speech no longer continues the take (the answer
    has ended; or its first sound is about to play where the microphone cannot hear past
    it, without echo cancellation).
    """

    take: Take
    until: float
    closed_by: tuple[threading.Event, ...] = ()

    def open(self, now: float) -> bool:
        """Whether speech starting at `now` (time.monotonic()) still continues the take."""
        return now <= self.until and not any(event.is_set() for event in self.closed_by)
