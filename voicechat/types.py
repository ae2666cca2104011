"""The values passed between stages. Audio always carries its sample rate; times are seconds."""

from __future__ import annotations

from dataclasses import dataclass
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
    be in the microphone, only noise suppressed after it (why: `audio.echo`); the same array
    where nothing is cancelled.
    """

    kept: npt.NDArray[np.float32]
    judged: npt.NDArray[np.float32]

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
