"""The text-to-speech interface every engine implements."""

from __future__ import annotations

from typing import Protocol

from voicechat.types import AudioClip


class Synthesizer(Protocol):
    """Turns one sentence into audio."""

    @property
    def engine(self) -> str:
        """The engine's registry name."""
        ...

    @property
    def voice(self) -> str:
        """The voice that speaks."""
        ...

    def synthesize(self, text: str) -> AudioClip:
        """Speak `text`; raises SynthesisUnavailable when a service fails."""
        ...
