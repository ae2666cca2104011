"""Decoding what libsndfile cannot read through FFmpeg (PyAV): a browser's WebM/Opus
recording, MP4/M4A with AAC.

Hostile input is bounded: only the demuxers in DEMUXERS are tried and only local files are
opened (FFmpeg's `format_whitelist` and `protocol_whitelist`), the stream's rate, channels
and declared length are checked before decoding (`io.check_header`), and decoding stops as
soon as more than the allowed length has come out, so a header that lies costs nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicechat.audio.io import SUPPORTED, check_header, load_audio, too_long
from voicechat.errors import AudioFileError
from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

DEMUXERS = ("matroska", "webm", "mov", "mp4", "m4a", "ogg", "aac", "mp3", "wav", "flac")
"""FFmpeg's demuxers that may read an upload: what browsers record and phones save."""
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


def load_container_audio(
    path: Path, sample_rate: int = WHISPER_SAMPLE_RATE, max_s: float | None = None
) -> AudioClip:
    """The first audio stream of `path` as one mono clip at `sample_rate` Hz.

    max_s: the longest audio accepted in seconds (None: any length).
    Raises AudioFileError with a one-line reason.
    """
    import av
    import numpy as np
    import soxr

    unreadable = AudioFileError(path, f"not a readable audio file (expected {ACCEPTED})")
    options = {"format_whitelist": ",".join(DEMUXERS), "protocol_whitelist": "file"}
    try:
        container = av.open(str(path), options=options)
    except (av.error.FFmpegError, ValueError, UnicodeDecodeError):
        raise unreadable from None
    blocks: list[npt.NDArray[np.float32]] = []
    with container:
        if not container.streams.audio:
            raise unreadable
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate or 0)
        declared = container.duration / av.time_base if container.duration else None
        check_header(path, rate, len(stream.codec_context.layout.channels), declared, max_s)
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
                blocks.append(resampler.resample_chunk(mono) if resampler else mono)
        except (av.error.FFmpegError, ValueError):
            if not blocks:
                raise unreadable from None
            at = decoded / rate
            raise AudioFileError(path, f"corrupt or truncated audio after {at:.1f} s") from None
    if resampler is not None:
        blocks.append(resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    samples = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    if not len(samples):
        raise AudioFileError(path, "contains no audio")
    return AudioClip(samples=samples.astype(np.float32, copy=False), sample_rate=sample_rate)


def load_any_audio(
    path: Path, sample_rate: int = WHISPER_SAMPLE_RATE, max_s: float | None = None
) -> AudioClip:
    """`load_audio`, and for what libsndfile cannot read (a browser's WebM/Opus recording,
    M4A/AAC), FFmpeg's decoders through PyAV (below). A file neither can read
    raises AudioFileError; so does audio past `max_s` seconds, checked before and while decoding.
    """
    try:
        return load_audio(path, sample_rate, max_s)
    except AudioFileError as e:
        if "not a readable audio file" not in e.reason:
            raise
    return load_container_audio(path, sample_rate, max_s)
