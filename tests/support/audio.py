"""Building audio files of every kind the tests feed to voicechat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf
import soxr


def tone(
    freq_hz: float, rate: int, seconds: float, amplitude: float = 0.5
) -> npt.NDArray[np.float32]:
    """A sine wave of `freq_hz` at `rate` Hz."""
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def write_variant(
    samples: npt.NDArray[np.float32],
    source_rate: int,
    path: Path,
    rate: int,
    channels: int = 1,
    subtype: str | None = None,
) -> Path:
    """Write mono `samples` to `path` resampled to `rate` Hz, with `channels` copies.

    The format follows the extension (.wav, .flac, .ogg, .mp3); subtype picks e.g. PCM_24 or OPUS.
    """
    data = soxr.resample(samples, source_rate, rate) if rate != source_rate else samples
    if channels > 1:
        # A quieter second channel, so a mixdown that drops a channel would show.
        data = np.stack([data] + [data * 0.5] * (channels - 1), axis=1)
    sf.write(str(path), data, rate, subtype=subtype)
    return path


def dominant_frequency(samples: npt.NDArray[np.float32], rate: int) -> float:
    """The frequency (Hz) of the strongest FFT bin."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def rms(samples: npt.NDArray[np.float32]) -> float:
    """Root mean square level."""
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
