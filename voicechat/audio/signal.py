"""The arithmetic the signal modules share, and the quantities they name once.

Levels along the echo path are mean squares of 16-bit samples (`mean_square`), the scale
WebRTC's canceller works at; 0 dBFS is a full-scale sine's. Two frame lengths live side by
side: the echo canceller's 10 ms frame (WebRTC's) and voice activity's 32 ms frame
(Silero's, at 16 kHz).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from voicechat.types import WHISPER_SAMPLE_RATE

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

PCM16_FULL_SCALE = 32767
"""The largest 16-bit sample: float audio in [-1, 1] is scaled by this."""
ECHO_FRAME_SAMPLES = WHISPER_SAMPLE_RATE // 100
"""Samples of one echo canceller frame (10 ms at 16 kHz)."""
ECHO_FRAME_S = ECHO_FRAME_SAMPLES / WHISPER_SAMPLE_RATE
"""Seconds of one echo canceller frame."""
VAD_FRAME_SAMPLES = 512
"""Samples of one voice-activity frame (32 ms at 16 kHz; Silero VAD needs 512)."""
VAD_FRAME_MS = 1000 * VAD_FRAME_SAMPLES / WHISPER_SAMPLE_RATE
"""Milliseconds of one voice-activity frame."""
QUIET_MEAN_SQUARE = 1e4
"""Mean square (16-bit) below which a signal is too quiet to learn or judge an echo from
(about -50 dBFS)."""
LOUD_MEAN_SQUARE = 1e5
"""Mean square (16-bit) a frame must reach for how much of its echo was removed to say
anything (about -40 dBFS)."""


def to_pcm16(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.int16]:
    """Float audio in [-1, 1] as 16-bit samples (clipped)."""
    import numpy as np

    return (np.clip(samples, -1.0, 1.0) * PCM16_FULL_SCALE).astype(np.int16)


def from_pcm16(pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.float32]:
    """16-bit samples as float32 audio in [-1, 1]."""
    import numpy as np

    return (pcm / np.float32(PCM16_FULL_SCALE)).astype(np.float32)


def mean_square(samples: npt.NDArray[np.generic]) -> float:
    """The mean of the squared samples, summed in float64 (16-bit samples: up to 1.07e9)."""
    import numpy as np

    return float(np.mean(np.square(samples, dtype=np.float64)))


def ratio_db(power: float, reference: float) -> float:
    """`power` against `reference` in dB (10 log10 of their ratio; both above 0)."""
    return 10 * math.log10(power / reference)


def level_dbfs(samples: npt.NDArray[np.float32]) -> float:
    """The RMS level of float audio in dB below full scale (-100 for silence)."""
    rms = math.sqrt(mean_square(samples)) if len(samples) else 0.0
    return 20 * math.log10(rms) if rms > 1e-5 else -100.0
