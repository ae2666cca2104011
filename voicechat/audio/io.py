"""Reading audio files: WAV, FLAC, OGG/Opus and MP3 through libsndfile, at any rate and depth.

Files are decoded block by block, mixed down to mono and resampled with soxr's band-limited
streaming resampler, so an hour of audio never sits in memory at its original rate.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from voicechat.errors import AudioFileError
from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

SUPPORTED = "WAV, FLAC, OGG/Opus or MP3"

_TRUNCATION_TOLERANCE_S = 0.5
"""Seconds a decoder may fall short of the header's length before the file counts as truncated
(MP3 headers only estimate their length)."""


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says.

    sample_rate: Hz. frames: samples per channel (an estimate for MP3).
    """

    path: Path
    format: str
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        """Length in seconds, from the header."""
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def _wav_is_truncated(path: Path) -> bool:
    """Whether a RIFF/WAVE file's `data` chunk claims more bytes than the file holds.

    libsndfile silently shortens such files; a cut-off download should be reported instead.
    Streamed WAVs that leave the size at 0 or 0xFFFFFFFF are not judged.
    """
    size = path.stat().st_size
    with path.open("rb") as f:
        if f.read(12)[8:12] != b"WAVE":
            return False
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, chunk_len = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                return chunk_len not in (0, 0xFFFFFFFF) and pos + 8 + chunk_len > size
            pos += 8 + chunk_len + (chunk_len & 1)
    return False


def probe(path: Path) -> AudioInfo:
    """Check that `path` is a readable audio file and return its header facts.

    Raises AudioFileError with a one-line reason for a missing path, a directory, an empty
    file, non-audio bytes, an unknown format or a truncated WAV.
    """
    import soundfile as sf

    if not path.exists():
        raise AudioFileError(path, "no such file")
    if path.is_dir():
        raise AudioFileError(path, "is a directory, not an audio file")
    try:
        if path.stat().st_size == 0:
            raise AudioFileError(path, "the file is empty")
        info = sf.info(str(path))
    except PermissionError:
        raise AudioFileError(path, "permission denied") from None
    except (sf.LibsndfileError, RuntimeError):
        raise AudioFileError(path, f"not a readable audio file (expected {SUPPORTED})") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioFileError(path, "contains no audio")
    if info.format == "WAV" and _wav_is_truncated(path):
        raise AudioFileError(path, "the file is truncated (shorter than its header says)")
    return AudioInfo(path, info.format, int(info.samplerate), int(info.channels), int(info.frames))


def stream_mono(
    info: AudioInfo, sample_rate: int = WHISPER_SAMPLE_RATE, block_s: float = 10.0
) -> Iterator[npt.NDArray[np.float32]]:
    """Decode `info.path` in blocks of about `block_s` seconds, mixed to mono at `sample_rate` Hz.

    Raises AudioFileError if decoding fails part way or the file ends well before its header says.
    """
    import numpy as np
    import soundfile as sf
    import soxr

    resampler = (
        soxr.ResampleStream(info.sample_rate, sample_rate, 1, dtype="float32", quality="HQ")
        if info.sample_rate != sample_rate
        else None
    )
    block_frames = max(1, int(block_s * info.sample_rate))
    frames_read = 0
    try:
        with sf.SoundFile(str(info.path)) as f:
            # SoundFile.blocks() pads a short final read to the header's length; read() does not.
            while len(block := f.read(block_frames, dtype="float32", always_2d=True)):
                frames_read += len(block)
                mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
                out = resampler.resample_chunk(mono) if resampler else mono
                if len(out):
                    yield np.ascontiguousarray(out, dtype=np.float32)
    except (sf.LibsndfileError, RuntimeError) as e:
        at = frames_read / info.sample_rate
        raise AudioFileError(
            info.path, f"corrupt or truncated audio after {at:.1f} s ({e})"
        ) from None
    if resampler:
        tail = resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        if len(tail):
            yield np.asarray(tail, dtype=np.float32)
    shortfall = (info.frames - frames_read) / info.sample_rate
    if shortfall > max(_TRUNCATION_TOLERANCE_S, 0.01 * info.duration):
        raise AudioFileError(
            info.path,
            f"the file is truncated: audio ends at {frames_read / info.sample_rate:.1f} s "
            f"of {info.duration:.1f} s",
        )


def load_audio(path: Path, sample_rate: int = WHISPER_SAMPLE_RATE) -> AudioClip:
    """The whole file as one mono clip at `sample_rate` Hz (for short recordings)."""
    import numpy as np

    blocks = list(stream_mono(probe(path), sample_rate))
    samples = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    return AudioClip(samples=samples, sample_rate=sample_rate)


def load_any_audio(path: Path, sample_rate: int = WHISPER_SAMPLE_RATE) -> AudioClip:
    """`load_audio`, and for what libsndfile cannot read (a browser's WebM/Opus recording,
    M4A/AAC), FFmpeg's decoders through PyAV. A file neither can read raises AudioFileError."""
    import numpy as np

    try:
        return load_audio(path, sample_rate)
    except AudioFileError as e:
        if "not a readable audio file" not in e.reason:
            raise
    import av
    import soxr

    blocks = []
    rate = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioFileError(path, f"not a readable audio file (expected {SUPPORTED})")
            for frame in container.decode(audio=0):
                raw = frame.to_ndarray()
                samples = raw.astype(np.float32)
                if raw.dtype.kind == "i":  # s16 or s32: scale to [-1, 1]
                    samples /= float(2 ** (8 * raw.dtype.itemsize - 1))
                channels = len(frame.layout.channels)
                if not frame.format.is_planar:
                    samples = samples.reshape(-1, channels).T
                blocks.append(samples.reshape(channels, -1).mean(axis=0))
                rate = frame.sample_rate
    except (av.error.FFmpegError, ValueError):
        raise AudioFileError(path, f"not a readable audio file (expected {SUPPORTED})") from None
    if not blocks:
        raise AudioFileError(path, "contains no audio")
    mono = np.concatenate(blocks).astype(np.float32)
    if rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate).astype(np.float32)
    return AudioClip(samples=mono, sample_rate=sample_rate)
