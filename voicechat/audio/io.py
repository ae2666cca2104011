"""Reading audio files: WAV, FLAC, OGG/Opus and MP3 through libsndfile, at any rate and depth.

Only those four reach libsndfile: the file's signature is checked first (`sniff`), and the
format libsndfile then reports must agree, so its parsers for AU, AIFF, CAF, VOC and the rest
never run on a file from outside.

Files are decoded block by block, mixed down to mono and resampled with soxr's band-limited
streaming resampler, so an hour of audio never sits in memory at its original rate.

Audio from outside (an upload, a file) cannot be inflated: the header's sample rate and
length are checked before anything is decoded (`check_header`), and decoding stops as soon
as more than the allowed length has come out, whatever the header said.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from voicechat.audio.sniff import LIBSNDFILE_FORMATS, Kind, sniff
from voicechat.errors import AudioFileError
from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

SUPPORTED = "WAV, FLAC, OGG/Opus or MP3"

MIN_SAMPLE_RATE = 8_000
"""Hz; lower rates are no recording of speech (a 1 Hz header turns kilobytes into hours)."""
MAX_SAMPLE_RATE = 192_000
"""Hz; the highest rate audio interfaces record at."""
MAX_CHANNELS = 32
BLOCK_MAX_SAMPLES = 2**20
"""Samples (all channels) decoded at once: a block holds at most 4 MiB as float32."""

UNKNOWN_FRAMES = 2**63 - 1
"""What libsndfile reports as the length of a stream that does not declare it (a streamed
FLAC with total_samples 0); it cannot read such a file through to its end."""

_TRUNCATION_TOLERANCE_S = 0.5
"""Seconds a decoder may fall short of the header's length before the file counts as truncated
(MP3 headers only estimate their length)."""


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says.

    sample_rate: Hz. frames: samples per channel (an estimate for MP3; 0 when a WebM
    recording does not declare its length).
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


def check_header(
    path: Path, sample_rate: int, channels: int, duration: float | None, max_s: float | None
) -> None:
    """Refuse, before decoding, audio whose header cannot be a recording we take.

    duration: seconds the header declares (None when it declares none). max_s: the longest
    audio accepted in seconds (None: any length, for files that are streamed).
    Raises AudioFileError with a one-line reason.
    """
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioFileError(
            path,
            f"a sample rate of {sample_rate} Hz is outside "
            f"{MIN_SAMPLE_RATE // 1000}–{MAX_SAMPLE_RATE // 1000} kHz; not a speech recording",
        )
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioFileError(path, f"{channels} channels; at most {MAX_CHANNELS} are read")
    if max_s is not None and duration is not None and duration > max_s:
        raise AudioFileError(path, too_long(duration, max_s))


def too_long(duration: float, max_s: float) -> str:
    """The reason given for audio past the limit (duration and max_s in seconds)."""
    return f"{duration:.0f} s is longer than {max_s:.0f} s (audio.max_record_s)"


def probe(path: Path, max_s: float | None = None) -> AudioInfo:
    """Check that `path` is a readable audio file and return its header facts.

    max_s: the longest audio accepted, in seconds (None: any length).
    Raises AudioFileError with a one-line reason for a missing path, a directory, an empty
    file, non-audio bytes, a format other than WAV, FLAC, OGG or MP3, a truncated WAV, a sample
    rate that is no recording's, or a declared length past `max_s`.
    """
    import soundfile as sf

    kind = sniffed(path)
    unreadable = AudioFileError(path, f"not a readable audio file (expected {SUPPORTED})")
    if kind is None or kind.by_ffmpeg:
        raise unreadable
    try:
        info = sf.info(str(path))
    except PermissionError:
        raise AudioFileError(path, "permission denied") from None
    except (sf.LibsndfileError, RuntimeError):
        raise unreadable from None
    if info.format not in LIBSNDFILE_FORMATS[kind]:
        raise unreadable
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioFileError(path, "contains no audio")
    check_header(
        path, int(info.samplerate), int(info.channels), info.frames / info.samplerate, None
    )
    if info.frames == UNKNOWN_FRAMES:
        raise AudioFileError(
            path, "does not declare its length (a streamed FLAC); re-encode it with `flac` first"
        )
    check_header(
        path, int(info.samplerate), int(info.channels), info.frames / info.samplerate, max_s
    )
    if info.format == "WAV" and _wav_is_truncated(path):
        raise AudioFileError(path, "the file is truncated (shorter than its header says)")
    return AudioInfo(path, info.format, int(info.samplerate), int(info.channels), info.frames)


def sniffed(path: Path) -> Kind | None:
    """The format of `path` from its signature (`sniff`), after the checks every file
    from outside gets. Raises AudioFileError for a missing path, a folder, an empty or
    unreadable file."""
    if not path.exists():
        raise AudioFileError(path, "no such file")
    if path.is_dir():
        raise AudioFileError(path, "is a directory, not an audio file")
    try:
        if path.stat().st_size == 0:
            raise AudioFileError(path, "the file is empty")
        return sniff(path)
    except PermissionError:
        raise AudioFileError(path, "permission denied") from None


def stream_mono(
    info: AudioInfo,
    sample_rate: int = WHISPER_SAMPLE_RATE,
    block_s: float = 10.0,
    max_s: float | None = None,
) -> Iterator[npt.NDArray[np.float32]]:
    """Decode `info.path` in blocks of about `block_s` seconds, mixed to mono at `sample_rate` Hz.

    max_s: stop with AudioFileError once more than this many seconds have been decoded.
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
    block_frames = max(1, min(int(block_s * info.sample_rate), BLOCK_MAX_SAMPLES // info.channels))
    max_frames = None if max_s is None else int(max_s * info.sample_rate) + block_frames
    frames_read = 0
    try:
        with sf.SoundFile(str(info.path)) as f:
            # SoundFile.blocks() pads a short final read to the header's length; read() does not.
            while len(block := f.read(block_frames, dtype="float32", always_2d=True)):
                frames_read += len(block)
                if max_s is not None and max_frames is not None and frames_read > max_frames:
                    raise AudioFileError(info.path, too_long(frames_read / info.sample_rate, max_s))
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


def load_audio(
    path: Path, sample_rate: int = WHISPER_SAMPLE_RATE, max_s: float | None = None
) -> AudioClip:
    """The whole file as one mono clip at `sample_rate` Hz (for short recordings).

    max_s: the longest audio accepted, in seconds, checked before and while decoding.
    """
    import numpy as np

    blocks = list(stream_mono(probe(path, max_s), sample_rate, max_s=max_s))
    samples = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    return AudioClip(samples=samples, sample_rate=sample_rate)
