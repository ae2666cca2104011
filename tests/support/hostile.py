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


def _syncsafe(n: int) -> bytes:
    return bytes((n >> s) & 0x7F for s in (21, 14, 7, 0))


def id3_inflating_aac(path: Path, frames: int = 200, text_bytes: int = 2**20) -> Path:
    """ADTS AAC behind an ID3v2.4 tag of `frames` zlib-compressed text frames, each
    inflating to `text_bytes`: a parser that reads the tag pays frames * text_bytes for a
    file of a few hundred bytes per frame."""
    import zlib

    import av

    packed = zlib.compress(b"A" * text_bytes, 9)
    body = b""
    for i in range(frames):
        data = _syncsafe(text_bytes) + packed  # the data-length indicator, then the data
        body += f"TXX{i % 10}".encode() + _syncsafe(len(data)) + b"\x00\x09" + data
    tag = b"ID3\x04\x00\x00" + _syncsafe(len(body)) + body
    aac = path.with_suffix(".adts")
    with av.open(str(aac), "w", format="adts") as out:
        stream = out.add_stream("aac", rate=16_000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 16_000), np.float32), format="fltp",
                                           layout="mono")  # fmt: skip
        frame.sample_rate = 16_000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    path.write_bytes(tag + aac.read_bytes())
    aac.unlink()
    return path


def many_tracks_mkv(path: Path, tracks: int = 1000) -> Path:
    """Matroska with `tracks` Opus tracks of a few packets each: FFmpeg sets up a decoder's
    worth of state for every track it is allowed to open."""
    import av

    rate, n = 48_000, 960
    with av.open(str(path), "w", format="matroska") as out:
        streams = []
        for _ in range(tracks):
            stream = out.add_stream("libopus", rate=rate)
            stream.layout = "mono"
            streams.append(stream)
        silence = np.zeros((1, n), np.float32)
        for stream in streams:
            frame = av.AudioFrame.from_ndarray(silence, format="flt", layout="mono")
            frame.sample_rate, frame.pts = rate, 0
            for packet in [*stream.encode(frame), *stream.encode(None)]:
                out.mux(packet)
    return path


def zero_bits_wav(path: Path) -> Path:
    """A WAV whose format chunk says 0 bits per sample."""
    data = bytes(1000)
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16_000, 0, 0, 0)
    path.write_bytes(header + b"data" + struct.pack("<I", len(data)) + data)
    return path


def streamed_flac(path: Path, seconds: float = 2.0) -> Path:
    """A valid FLAC whose STREAMINFO leaves total_samples at 0, as a stream encoder writes it."""
    import soundfile as sf

    rate = 16_000
    tone = (0.3 * np.sin(np.arange(int(seconds * rate)) / 10)).astype(np.float32)
    sf.write(str(path), tone, rate, format="FLAC")
    data = bytearray(path.read_bytes())
    data[21] &= 0xF0  # STREAMINFO at 8: total_samples is the low 36 bits of bytes 21-25
    data[22:26] = bytes(4)
    path.write_bytes(bytes(data))
    return path
