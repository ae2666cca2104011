"""Files from outside: only the documented formats reach a parser, and decoding runs in a
child process whose memory, CPU and time are bounded, so a hostile file costs the caller
nothing and ends in one line."""

from __future__ import annotations

import resource
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.support.hostile import (
    id3_inflating_aac,
    many_tracks_mkv,
    streamed_flac,
    zero_bits_wav,
)
from voicechat.audio.sniff import Kind, sniff
from voicechat.audio.untrusted import DecodeLimits, load_file, probe_file
from voicechat.errors import AudioFileError

NOT_READABLE = "not a readable audio file"


def _tone(path: Path, seconds: float = 1.0, rate: int = 16_000, **kwargs: str) -> Path:
    samples = (0.3 * np.sin(np.arange(int(seconds * rate)) / 7)).astype(np.float32)
    sf.write(str(path), samples, rate, **kwargs)
    return path


def _refused(path: Path, reason: str) -> str:
    with pytest.raises(AudioFileError) as raised:
        load_file(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert reason in message, message
    return message


def test_formats_libsndfile_reads_but_voicechat_does_not_list_are_refused_unread(
    tmp_path: Path,
) -> None:
    unlisted = ("AU", "AIFF", "CAF", "VOC", "W64", "RF64", "NIST", "IRCAM", "SD2", "PAF", "MAT5")
    for fmt in unlisted:
        try:
            path = _tone(tmp_path / f"a.{fmt.lower()}", format=fmt, subtype="PCM_16")
        except (sf.LibsndfileError, TypeError, ValueError):
            continue  # a format this libsndfile cannot write or takes no PCM_16
        assert sniff(path) is None, fmt
        _refused(path, NOT_READABLE)
    # The documented ones are read, and their kind is told from the bytes alone.
    for name, fmt, kind in (("a.wav", "WAV", Kind.WAV), ("a.flac", "FLAC", Kind.FLAC),
                            ("a.ogg", "OGG", Kind.OGG), ("a.mp3", "MP3", Kind.MP3)):  # fmt: skip
        path = _tone(tmp_path / name, format=fmt)
        assert sniff(path) is kind
        assert load_file(path).duration == pytest.approx(1.0, abs=0.06)


def test_an_inflating_id3_tag_is_skipped_not_parsed(tmp_path: Path) -> None:
    """ADTS AAC behind a tag of compressed frames that inflate to 200 MiB: refused from its
    first bytes, at no cost to this process."""
    path = id3_inflating_aac(tmp_path / "bomb.aac", frames=200)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _refused(path, NOT_READABLE)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 * 1024  # KiB
    # An MP3 behind an ID3 tag is still an MP3.
    mp3 = _tone(tmp_path / "plain.mp3", format="MP3")
    tagged = tmp_path / "tagged.mp3"
    tagged.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x20" + bytes(32) + mp3.read_bytes())
    assert sniff(tagged) is Kind.MP3
    assert load_file(tagged).duration == pytest.approx(1.0, abs=0.06)


def test_ffmpeg_opens_few_streams_and_odd_headers_end_in_one_line(tmp_path: Path) -> None:
    """1,000 tracks: only the first few are set up, and the first one is the recording."""
    mkv = many_tracks_mkv(tmp_path / "tracks.mkv", tracks=1000)
    assert load_file(mkv).duration == pytest.approx(0.02, abs=0.03)
    _refused(zero_bits_wav(tmp_path / "zero-bits.wav"), NOT_READABLE)
    _refused(streamed_flac(tmp_path / "streamed.flac"), "does not declare its length")


def test_the_child_s_limits_end_in_one_line(tmp_path: Path) -> None:
    """What a decoder that runs away meets: its memory, CPU and wall limits, each a reason."""
    path = _tone(tmp_path / "a.flac", seconds=2.0, format="FLAC")
    assert load_file(path, limits=DecodeLimits(memory_mib=200, cpu_s=5, wall_s=30)).duration == 2.0
    with pytest.raises(AudioFileError, match=r"(needs more than|within) 50 MiB"):
        load_file(path, limits=DecodeLimits(memory_mib=50))
    with pytest.raises(AudioFileError, match=r"took longer than 0\.05 s to decode"):
        load_file(path, limits=DecodeLimits(wall_s=0.05))
    info = probe_file(path)
    assert (info.format, info.sample_rate, info.frames) == ("FLAC", 16_000, 32_000)
