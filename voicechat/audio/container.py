"""Decoding a browser's WebM/Opus recording and MP4/M4A with AAC through FFmpeg (PyAV).

Hostile input is bounded: only files whose signature is WebM/Matroska or MP4 reach FFmpeg,
only those demuxers may read them and only local files are opened (`format_whitelist`,
`protocol_whitelist`); probing reads little and admits few streams (`FFMPEG_OPTIONS`); the
stream's rate, channels and declared length are checked before decoding (`io.check_header`),
and decoding stops as soon as more than the allowed length has come out. Files from outside
are decoded in a child process with limits besides (`untrusted`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicechat.audio.io import SUPPORTED, AudioInfo, check_header, sniffed, too_long
from voicechat.errors import AudioFileError
from voicechat.types import WHISPER_SAMPLE_RATE

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

DEMUXERS = ("matroska", "webm", "mov", "mp4", "m4a")
"""FFmpeg's demuxers that may read a file: what browsers record and phones save."""
FFMPEG_OPTIONS = {
    "format_whitelist": ",".join(DEMUXERS),
    "protocol_whitelist": "file",
    "probesize": str(256 * 1024),  # bytes read to find the streams
    "analyzeduration": "500000",  # microseconds of media probed
    "max_streams": "8",  # a recording has one audio track; a phone's video a few more
}
"""What FFmpeg is allowed while it opens a file."""
ACCEPTED = f"{SUPPORTED}, WebM or MP4/M4A"


def frame_mono(frame: Any) -> npt.NDArray[np.float32]:
    """A decoded PyAV audio frame as mono float32 in [-1, 1] at the frame's own rate."""
    import numpy as np

    raw = frame.to_ndarray()
    samples = raw.astype(np.float32)
    if raw.dtype.kind == "i":  # s16 or s32
        samples /= float(2 ** (8 * raw.dtype.itemsize - 1))
    elif raw.dtype.kind == "u":  # u8
        samples = (samples - 128.0) / 128.0
    channels = len(frame.layout.channels)
    if frame.format.is_planar:  # (channels, samples)
        samples = samples.reshape(channels, -1)
    else:  # (1, samples x channels), interleaved
        samples = samples.reshape(-1, channels).T
    mono = samples[0] if channels == 1 else samples.mean(axis=0)
    return np.ascontiguousarray(mono, dtype=np.float32)


@contextmanager
def _opened(path: Path) -> Iterator[tuple[Any, Any]]:
    """`path` opened by FFmpeg, and its first audio stream; AudioFileError if it has none."""
    import av

    kind = sniffed(path)
    unreadable = AudioFileError(path, f"not a readable audio file (expected {ACCEPTED})")
    if kind is None or not kind.by_ffmpeg:
        raise unreadable
    try:
        container = av.open(str(path), options=FFMPEG_OPTIONS)
    except (av.error.FFmpegError, ValueError, UnicodeDecodeError):
        raise unreadable from None
    with container:
        audio = container.streams.audio
        if not audio or audio[0].codec_context is None or not audio[0].codec_context.layout:
            raise unreadable
        yield container, audio[0]


def probe_container(path: Path, max_s: float | None = None) -> AudioInfo:
    """The header facts of a WebM/Matroska or MP4/M4A file's first audio stream (frames:
    0 when the container declares no length, as a browser's recording does not).
    Raises AudioFileError with a one-line reason."""
    with _opened(path) as (container, stream):
        return _checked(path, container, stream, max_s)


def _checked(path: Path, container: Any, stream: Any, max_s: float | None) -> AudioInfo:
    """The header facts of an opened `stream`, checked (`io.check_header`)."""
    import av

    rate = int(stream.codec_context.sample_rate or 0)
    channels = len(stream.codec_context.layout.channels)
    declared = container.duration / av.time_base if container.duration else None
    check_header(path, rate, channels, declared, max_s)
    frames = round((declared or 0) * rate)
    return AudioInfo(path, container.format.name.split(",")[0], rate, channels, frames)


def stream_container(
    path: Path, sample_rate: int = WHISPER_SAMPLE_RATE, max_s: float | None = None
) -> Iterator[npt.NDArray[np.float32]]:
    """The first audio stream of a WebM/Matroska or MP4/M4A file, decoded in blocks of mono
    float32 at `sample_rate` Hz.

    max_s: the longest audio accepted in seconds (None: any length).
    Raises AudioFileError with a one-line reason.
    """
    import av
    import numpy as np
    import soxr

    unreadable = AudioFileError(path, f"not a readable audio file (expected {ACCEPTED})")
    with _opened(path) as (container, stream):
        rate = _checked(path, container, stream, max_s).sample_rate
        resampler = (
            soxr.ResampleStream(rate, sample_rate, 1, dtype="float32", quality="HQ")
            if rate != sample_rate
            else None
        )
        limit = None if max_s is None else int((max_s + 1.0) * rate)  # a frame's slack
        decoded = 0
        try:
            for frame in container.decode(stream):
                if frame.sample_rate != rate:
                    raise AudioFileError(path, "the sample rate changes part way; not supported")
                mono = frame_mono(frame)
                decoded += len(mono)
                if limit is not None and max_s is not None and decoded > limit:
                    raise AudioFileError(path, too_long(decoded / rate, max_s))
                out = resampler.resample_chunk(mono) if resampler else mono
                if len(out):
                    yield np.ascontiguousarray(out, dtype=np.float32)
        except (av.error.FFmpegError, ValueError):
            if not decoded:
                raise unreadable from None
            at = decoded / rate
            raise AudioFileError(path, f"corrupt or truncated audio after {at:.1f} s") from None
    if resampler is not None:
        tail = resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        if len(tail):
            yield np.asarray(tail, dtype=np.float32)
