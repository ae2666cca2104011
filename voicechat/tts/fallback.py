"""Keeping a reply speaking when the online voice fails: the rest goes to the fallback."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

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

    def stream(self, text: str) -> Iterator[AudioClip]:
        """Speak `text` with the active engine, switching to the fallback on failure.

        A failure before any audio of `text` hands the whole sentence to the fallback; one
        after some of it was heard switches from the next sentence on (the rest of this one
        is not said, rather than said twice).
        """
        if self._switched:
            yield from self._active.stream(text)
            return
        heard = False
        try:
            for piece in self._active.stream(text):
                heard = True
                yield piece
        except SynthesisUnavailable as e:
            if self._make_fallback is None:
                raise
            self._switch(e)
            if not heard:
                yield from self._active.stream(text)

    def _switch(self, error: SynthesisUnavailable) -> None:
        """Speak with the fallback from now on (once, whichever thread gets here first)."""
        assert self._make_fallback is not None
        with self._lock:
            if self._switched:
                return
            self._active = self._make_fallback()
            self._switched = True
        self._on_switch(f"{error}; speaking with {self._active.engine} instead")
