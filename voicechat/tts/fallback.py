"""Keeping a reply speaking when the online voice fails: the rest goes to the fallback."""

from __future__ import annotations

import threading
from collections.abc import Callable

from voicechat.errors import SynthesisUnavailable
from voicechat.tts.base import Synthesizer
from voicechat.types import AudioClip


class FallbackSynthesizer:
    """Speaks with `primary` until it fails once, then with the fallback from then on.

    make_fallback: builds the fallback engine (loaded only when needed), or None to give up.
    on_switch: told the reason once, when the switch happens.
    No sentence is lost or repeated: the sentence that failed is spoken by the fallback.
    """

    def __init__(
        self,
        primary: Synthesizer,
        make_fallback: Callable[[], Synthesizer] | None,
        on_switch: Callable[[str], None],
    ) -> None:
        self._active = primary
        self._make_fallback = make_fallback
        self._on_switch = on_switch
        self._switched = False
        self._lock = threading.Lock()

    @property
    def engine(self) -> str:
        """The engine speaking now."""
        return self._active.engine

    @property
    def voice(self) -> str:
        """The voice speaking now."""
        return self._active.voice

    def synthesize(self, text: str) -> AudioClip:
        """Speak `text` with the active engine, switching to the fallback on failure."""
        with self._lock:
            if self._switched:
                return self._active.synthesize(text)
            try:
                return self._active.synthesize(text)
            except SynthesisUnavailable as e:
                if self._make_fallback is None:
                    raise
                self._active = self._make_fallback()
                self._switched = True
                self._on_switch(f"{e}; speaking with {self._active.engine} instead")
                return self._active.synthesize(text)
