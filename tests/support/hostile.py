"""Hostile inputs, built at test time: audio whose header lies, and ways to measure what they
cost a running process."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def tiny_rate_wav(path: Path, size: int = 8192, rate: int = 1) -> Path:
    """A valid 16-bit mono WAV of `size` bytes whose header claims `rate` Hz: at 1 Hz, 8 KB
    is over an hour of audio to a decoder that trusts it."""
    samples = np.random.default_rng(1).integers(-3000, 3000, (size - 44) // 2, dtype=np.int16)
    data = samples.astype("<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    header += b"data" + struct.pack("<I", len(data))
    path.write_bytes(header + data)
    return path


def endless_webm(path: Path, seconds: float = 600.0) -> Path:
    """WebM/Opus at 6 kbit/s that declares no duration, as a browser's MediaRecorder writes
    it: only decoding finds out how long it is (600 s in a few hundred KB)."""
    import av

    rate, n = 48_000, 960
    tone = (0.1 * np.sin(np.arange(n) / 10)).astype(np.float32).reshape(1, -1)
    with av.open(str(path), "w", format="webm", options={"live": "1"}) as out:
        stream = out.add_stream("libopus", rate=rate)
        stream.bit_rate = 6000
        stream.layout = "mono"
        for i in range(int(seconds * rate / n)):
            frame = av.AudioFrame.from_ndarray(tone, format="flt", layout="mono")
            frame.sample_rate = rate
            frame.pts = i * n
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def peak_growth_mib(pid: int, action: Callable[[], T]) -> tuple[T, float]:
    """Run `action`; return its result and how far process `pid`'s resident memory rose
    above where it was before, at its peak (MiB). Linux: the peak (VmHWM) is reset first
    through /proc/PID/clear_refs; where that is refused, the growth until the end counts."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        peak_field = "VmHWM"
    except OSError:
        peak_field = "VmRSS"
    before = _status_kib(pid, "VmRSS")
    result = action()
    return result, (_status_kib(pid, peak_field) - before) / 1024
