"""The text-to-speech interface every engine implements."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from voicechat.types import AudioClip


class Synthesizer(Protocol):
    """Turns one sentence into audio, handed over in pieces as soon as each is ready."""

    @property
    def engine(self) -> str:
        """The engine's registry name."""
        ...

    @property
    def voice(self) -> str:
        """The voice that speaks."""
        ...

    def stream(self, text: str) -> Iterator[AudioClip]:
        """Speak `text`: its audio, in order, in one or more pieces of one sample rate.
        Raises SynthesisUnavailable when a service fails before the first piece."""
        ...


def synthesize(synthesizer: Synthesizer, text: str) -> AudioClip:
    """All of `text`'s audio as one clip."""
    import numpy as np

    pieces = list(synthesizer.stream(text))
    if not pieces:
        return AudioClip(np.zeros(0, dtype=np.float32), 22_050)
    return AudioClip(np.concatenate([p.samples for p in pieces]), pieces[0].sample_rate)
