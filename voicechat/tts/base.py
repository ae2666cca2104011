"""The text-to-speech interface every engine implements."""

from __future__ import annotations

from typing import Protocol

from voicechat.errors import VoicechatError
from voicechat.types import AudioClip


class SynthesisUnavailable(VoicechatError):
    """An online voice cannot be used right now (no network, refused, timed out)."""


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
