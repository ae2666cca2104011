"""Decoding files from outside in a child process with limits, as media servers do.

A parser fed a hostile file can be made to allocate gigabytes or spin for minutes before any
check of ours runs. So an upload or a file to transcribe is decoded by a child Python process
(`python -m voicechat.audio.untrusted`) that first limits itself (`resource.setrlimit`: its
heap, its CPU seconds, no files written) and is killed past a wall-clock deadline. It sends
16 kHz mono float32 blocks back through a pipe; the caller's memory holds only those.

The child uses the same in-process decoders (`io.stream_mono` for WAV, FLAC, OGG and MP3,
`container.stream_container` for WebM and MP4), so every check they make holds here too, and
their one-line AudioFileError reasons reach the caller unchanged.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from voicechat.audio.io import AudioInfo
from voicechat.errors import AudioFileError
from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


@dataclass(frozen=True)
class DecodeLimits:
    """What one decoding child may use.

    memory_mib: its data segment (heap and private mappings), MiB; about 110 go to Python,
    NumPy and the decoders before the file is opened. cpu_s: CPU seconds (None: no limit).
    wall_s: seconds from start before it is killed (None: no limit).
    """

    memory_mib: int = 512
    cpu_s: int | None = None
    wall_s: float | None = None


UPLOAD_LIMITS = DecodeLimits(memory_mib=384, cpu_s=10, wall_s=20.0)
"""For a recording sent to `voicechat web`: at most `audio.max_record_s` of audio, so seconds
of CPU at most."""
FILE_LIMITS = DecodeLimits(memory_mib=512)
"""For a file to transcribe: hours of audio stream through in blocks, so no time limit."""

_INFO, _BLOCK, _ERROR = b"I", b"B", b"E"
_RECORD = struct.Struct("<cI")
"""A record on the child's stdout: its kind and its length in bytes, then the bytes."""


def probe_file(
    path: Path, max_s: float | None = None, limits: DecodeLimits = FILE_LIMITS
) -> AudioInfo:
    """The header facts of a WAV, FLAC, OGG, MP3, WebM or MP4/M4A file, read in a child.

    Raises AudioFileError with a one-line reason.
    """
    for kind, data in _child(path, "probe", WHISPER_SAMPLE_RATE, max_s, limits):
        if kind == _INFO:
            fields = json.loads(data)
            return AudioInfo(**{**fields, "path": path})
    raise AudioFileError(path, "not a readable audio file")


def decoded_blocks(
    path: Path,
    sample_rate: int = WHISPER_SAMPLE_RATE,
    max_s: float | None = None,
    limits: DecodeLimits = FILE_LIMITS,
) -> Iterator[npt.NDArray[np.float32]]:
    """The audio of `path` in mono float32 blocks at `sample_rate` Hz, decoded in a child.

    max_s: the longest audio accepted in seconds (None: any length).
    Raises AudioFileError with a one-line reason, part way if the file fails part way.
    """
    import numpy as np

    for kind, data in _child(path, "decode", sample_rate, max_s, limits):
        if kind == _BLOCK:
            yield np.frombuffer(data, dtype=np.float32)


def load_file(
    path: Path,
    sample_rate: int = WHISPER_SAMPLE_RATE,
    max_s: float | None = None,
    limits: DecodeLimits = UPLOAD_LIMITS,
) -> AudioClip:
    """The whole of `path` as one mono clip at `sample_rate` Hz, decoded in a child: WAV,
    FLAC, OGG, MP3, WebM or MP4/M4A. Raises AudioFileError with a one-line reason."""
    import numpy as np

    blocks = list(decoded_blocks(path, sample_rate, max_s, limits))
    samples = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    if not len(samples):
        raise AudioFileError(path, "contains no audio")
    return AudioClip(samples=samples, sample_rate=sample_rate)


def _child(
    path: Path, mode: str, sample_rate: int, max_s: float | None, limits: DecodeLimits
) -> Iterator[tuple[bytes, bytes]]:
    """Run the decoding child and yield its records until it ends; raise AudioFileError
    with its reason, or with the limit it ran into."""
    args = [mode, str(path), str(sample_rate), "" if max_s is None else str(max_s)]
    args += [str(limits.memory_mib), "" if limits.cpu_s is None else str(limits.cpu_s)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env["MALLOC_ARENA_MAX"] = "2"
    process = subprocess.Popen(
        [sys.executable, "-m", __name__, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        process.kill()

    timer = threading.Timer(limits.wall_s, kill) if limits.wall_s is not None else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    reason = None
    try:
        assert process.stdout is not None
        while (record := _read_record(process.stdout)) is not None:
            if record[0] == _ERROR:
                reason = record[1].decode("utf-8", "replace")
                break
            yield record
        process.wait()
    finally:
        if timer is not None:
            timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    if reason is not None:
        raise AudioFileError(path, reason)
    if timed_out.is_set():
        raise AudioFileError(path, f"took longer than {limits.wall_s:g} s to decode; refused")
    if process.returncode == -signal.SIGXCPU:
        raise AudioFileError(path, f"needed more than {limits.cpu_s} s of CPU to decode; refused")
    if process.returncode != 0:
        raise AudioFileError(
            path, f"could not be decoded within {limits.memory_mib} MiB (the decoder failed)"
        )


def _read_record(stream: IO[bytes]) -> tuple[bytes, bytes] | None:
    head = stream.read(_RECORD.size)
    if len(head) < _RECORD.size:
        return None
    kind, size = _RECORD.unpack(head)
    data = stream.read(size)
    return (kind, data) if len(data) == size else None


def _write_record(kind: bytes, data: bytes) -> None:
    sys.stdout.buffer.write(_RECORD.pack(kind, len(data)) + data)


def _limit_self(memory_mib: int, cpu_s: int | None) -> None:
    """Limits this process sets on itself before it opens the file."""
    import resource

    memory = memory_mib * 2**20
    resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if cpu_s is not None:  # SIGXCPU at the soft limit, SIGKILL a second later
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))


def _main(argv: list[str]) -> int:
    """The child: decode one file and write its records to stdout (see `_child`)."""
    mode, path_text, rate_text, max_text, memory_text, cpu_text = argv
    _limit_self(int(memory_text), int(cpu_text) if cpu_text else None)
    from voicechat.audio.container import ACCEPTED, probe_container, stream_container
    from voicechat.audio.io import probe, sniffed, stream_mono

    path = Path(path_text)
    rate, max_s = int(rate_text), float(max_text) if max_text else None
    try:
        kind = sniffed(path)
        if kind is None:
            raise AudioFileError(path, f"not a readable audio file (expected {ACCEPTED})")
        by_ffmpeg = kind.by_ffmpeg
        info = probe_container(path, max_s) if by_ffmpeg else probe(path, max_s)
        _write_record(_INFO, json.dumps({**asdict(info), "path": ""}).encode())
        if mode == "probe":
            sys.stdout.flush()
            return 0
        if by_ffmpeg:
            blocks = stream_container(path, rate, max_s)
        else:
            blocks = stream_mono(info, rate, max_s=max_s)
        for block in blocks:
            _write_record(_BLOCK, block.astype("<f4", copy=False).tobytes())
    except AudioFileError as e:
        _write_record(_ERROR, e.reason.encode())
    except MemoryError:
        _write_record(_ERROR, f"needs more than {memory_text} MiB to decode; refused".encode())
    except Exception as e:  # a decoder's own failure on a hostile file is still one line
        _write_record(_ERROR, f"not a readable audio file ({type(e).__name__})".encode())
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
