"""Building the configured voice, with its fallback."""

from __future__ import annotations

from collections.abc import Callable

from voicechat.config import TtsConfig
from voicechat.engines import TTS_ENGINES, load_engine
from voicechat.tts.base import Synthesizer
from voicechat.tts.fallback import FallbackSynthesizer


def _build(engine: str, tts: TtsConfig) -> Synthesizer:
    factory = load_engine(TTS_ENGINES, "text-to-speech", engine)
    if engine == "edge":
        synthesizer: Synthesizer = factory(tts.voice, tts.rate)
    else:
        synthesizer = factory(tts.piper_voice)
    return synthesizer


def create_synthesizer(tts: TtsConfig, on_notice: Callable[[str], None]) -> Synthesizer | None:
    """The `[tts]` engine (None for "none"); an online engine falls back to `tts.fallback`."""
    if tts.engine == "none":
        return None
    primary = _build(tts.engine, tts)
    if tts.engine != "edge":
        return primary
    fallback = None if tts.fallback == "none" else (lambda: _build(tts.fallback, tts))
    return FallbackSynthesizer(primary, fallback, on_notice)
