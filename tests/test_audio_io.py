"""Reading audio files of every format, rate, depth and channel count; rejecting bad ones."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.support.audio import dominant_frequency, rms, tone, write_variant
from voicechat.audio.io import load_audio, probe, stream_mono
from voicechat.errors import AudioFileError


@pytest.mark.parametrize(
    ("name", "rate", "channels", "subtype"),
    [
        ("8k.wav", 8000, 1, None),
        ("16k.wav", 16000, 1, None),
        ("44k.wav", 44100, 1, None),
        ("48k.wav", 48000, 1, None),
        ("stereo.wav", 44100, 2, None),
        ("24bit.wav", 48000, 1, "PCM_24"),
        ("float.wav", 22050, 1, "FLOAT"),
        ("six.wav", 48000, 6, None),
        ("lossless.flac", 44100, 2, None),
        ("vorbis.ogg", 44100, 1, "VORBIS"),
        ("opus.ogg", 48000, 1, "OPUS"),
        ("lossy.mp3", 44100, 2, None),
    ],
)
def test_every_format_becomes_16k_mono_with_the_same_content(
    tmp_path: Path, name: str, rate: int, channels: int, subtype: str | None
) -> None:
    source_rate = 48000
    path = write_variant(
        tone(440.0, source_rate, 3.0), source_rate, tmp_path / name, rate, channels, subtype
    )
    clip = load_audio(path)
    assert clip.sample_rate == 16000
    assert clip.samples.ndim == 1
    assert clip.samples.dtype == np.float32
    assert clip.duration == pytest.approx(3.0, abs=0.08)  # MP3 and Opus pad a little
    middle = clip.samples[8000:-8000]
    assert dominant_frequency(middle, 16000) == pytest.approx(440.0, abs=3.0)
    expected_rms = (
        0.5 / np.sqrt(2) * (1.0 if channels == 1 else (1 + 0.5 * (channels - 1)) / channels)
    )
    assert rms(middle) == pytest.approx(expected_rms, rel=0.08)


def test_resampler_keeps_the_passband_and_removes_what_cannot_be_represented(
    tmp_path: Path,
) -> None:
    kept = load_audio(write_variant(tone(7000.0, 44100, 2.0), 44100, tmp_path / "7k.wav", 44100))
    assert dominant_frequency(kept.samples, 16000) == pytest.approx(7000.0, abs=5.0)
    assert rms(kept.samples) == pytest.approx(0.5 / np.sqrt(2), rel=0.05)

    # 10 kHz is above the 8 kHz Nyquist limit of 16 kHz audio: a naive decimator would fold it to
    # 6 kHz; a band-limited resampler removes it.
    removed = load_audio(
        write_variant(tone(10000.0, 44100, 2.0), 44100, tmp_path / "10k.wav", 44100)
    )
    assert rms(removed.samples) < 0.01 * 0.5


def test_long_files_stream_in_bounded_blocks(tmp_path: Path) -> None:
    path = write_variant(tone(300.0, 8000, 60.0), 8000, tmp_path / "long.wav", 8000)
    blocks = list(stream_mono(probe(path), block_s=10.0))
    assert len(blocks) >= 6
    assert max(len(b) for b in blocks) <= 10.0 * 16000 + 1024
    assert sum(len(b) for b in blocks) == pytest.approx(60 * 16000, abs=64)


def _truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    out = path.with_name("cut-" + path.name)
    out.write_bytes(data[: int(len(data) * keep)])
    return out


def test_bad_inputs_get_a_one_line_reason(tmp_path: Path) -> None:
    wav = write_variant(tone(440.0, 16000, 4.0), 16000, tmp_path / "ok.wav", 16000)
    flac = write_variant(tone(440.0, 16000, 4.0), 16000, tmp_path / "ok.flac", 16000)
    mp3 = write_variant(tone(440.0, 16000, 4.0), 16000, tmp_path / "ok.mp3", 16000)
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "noise.wav").write_bytes(os.urandom(4096))
    (tmp_path / "notes.txt").write_text("these are not the sounds you are looking for\n" * 50)
    (tmp_path / "folder.wav").mkdir()
    cases = {
        tmp_path / "missing.wav": "no such file",
        tmp_path / "folder.wav": "is a directory",
        tmp_path / "empty.wav": "the file is empty",
        tmp_path / "noise.wav": "not a readable audio file",
        tmp_path / "notes.txt": "not a readable audio file",
        _truncate(wav): "truncated",
    }
    for path, reason in cases.items():
        with pytest.raises(AudioFileError) as raised:
            load_audio(path)
        assert str(raised.value).startswith(f"{path}: ")
        assert reason in str(raised.value)
        assert "\n" not in str(raised.value)

    for cut in (_truncate(flac), _truncate(mp3)):
        with pytest.raises(AudioFileError, match="truncated"):
            load_audio(cut)


def test_streamed_wav_without_a_length_is_read_to_the_end(tmp_path: Path) -> None:
    path = write_variant(tone(440.0, 16000, 2.0), 16000, tmp_path / "pipe.wav", 16000)
    data = bytearray(path.read_bytes())
    data_at = data.index(b"data")
    data[data_at + 4 : data_at + 8] = (0xFFFFFFFF).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    assert sf.info(str(path)).frames > 0
    assert load_audio(path).duration == pytest.approx(2.0, abs=0.01)


def test_a_header_that_inflates_is_refused_before_decoding(tmp_path: Path) -> None:
    from tests.support.hostile import endless_webm, tiny_rate_wav
    from voicechat.audio.untrusted import load_file as load_any_audio

    with pytest.raises(AudioFileError, match="1 Hz is outside 8–192 kHz"):
        load_any_audio(tiny_rate_wav(tmp_path / "1hz.wav"))
    long_wav = write_variant(tone(440.0, 16000, 5.0), 16000, tmp_path / "5s.wav", 16000)
    with pytest.raises(AudioFileError, match="5 s is longer than 2 s"):
        load_any_audio(long_wav, max_s=2.0)
    assert load_any_audio(long_wav, max_s=6.0).duration == pytest.approx(5.0, abs=0.01)
    # A browser's recording declares no length: decoding stops at the limit.
    endless = endless_webm(tmp_path / "endless.webm", seconds=120)
    with pytest.raises(AudioFileError, match="longer than 30 s"):
        load_any_audio(endless, max_s=30.0)
    assert load_any_audio(endless_webm(tmp_path / "short.webm", 3.0)).duration == pytest.approx(
        3.0, abs=0.1
    )


def test_only_listed_containers_are_opened(tmp_path: Path) -> None:
    import av

    from voicechat.audio.untrusted import load_file as load_any_audio

    flv = tmp_path / "clip.flv"  # FFmpeg reads it, voicechat does not take it
    with av.open(str(flv), "w", format="flv") as out:
        stream = out.add_stream("aac", rate=44100)
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 44100, i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
    with pytest.raises(AudioFileError, match="not a readable audio file"):
        load_any_audio(flv)


def test_input_lost_by_the_device_restarts_the_capture_clock_and_is_logged(
    pulse: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Capture times follow the device's sample count, which skips what an input overflow
    lost: the block after one is stamped now, not where the count had got to, so the echo
    canceller is not handed the wrong part of what played; and the loss is logged once."""
    import time

    import numpy as np
    import sounddevice as sd

    from voicechat.audio.capture import Microphone

    mic = Microphone("")
    rate = mic.device.rate
    block = np.zeros((rate // 100, 1), dtype=np.float32)  # 10 ms
    fine, lost = sd.CallbackFlags(), sd.CallbackFlags()
    lost.input_overflow = True
    for _ in range(10):  # 100 ms of blocks as a device delivers them
        mic._on_block(block, len(block), None, fine)
        time.sleep(0.01)
    assert all(mic.read(timeout=0.1) is not None for _ in range(10))
    time.sleep(0.2)  # 200 ms of input the device lost: its count of samples skips them
    mic._on_block(block, len(block), None, lost)
    now = time.monotonic()
    with caplog.at_level("WARNING", logger="voicechat.audio.capture"):
        assert mic.read(timeout=0.1) is not None
        assert mic.read(timeout=0.01) is None
    assert mic.overflows == 1
    assert mic._clock is not None
    origin, seen = mic._clock
    assert seen == len(block), "the count started again at the block after the loss"
    assert abs(origin + seen / rate - now) < 0.05, "stamped now, not 200 ms early"
    assert [r.getMessage() for r in caplog.records] == [
        "microphone: input lost 1 times so far (overflow)"
    ]


def test_resampled_capture_times_follow_the_samples_until_input_is_lost(
    pulse: dict[str, str],
) -> None:
    """Blocks that arrive in pairs (as through ALSA's PulseAudio plugin) at 44.1 kHz, resampled
    to 16 kHz: each block is stamped exactly its own samples after the one before, however
    unevenly the callbacks ran and the resampler handed out samples (the echo canceller is
    aligned to the sample); after lost input, and after blocks dropped unread, the count and
    the resampler start again from the block that follows."""
    import dataclasses
    import time

    import sounddevice as sd

    from voicechat.audio.capture import BLOCK_S, Microphone

    mic = Microphone("")
    mic.device = dataclasses.replace(mic.device, rate=44_100)
    mic._resampler = mic._new_resampler()
    frames = int(44_100 * BLOCK_S)
    block = tone(440, 44_100, BLOCK_S)[:frames, None].astype(np.float32)
    fine, lost = sd.CallbackFlags(), sd.CallbackFlags()
    lost.input_overflow = True

    def pairs(count: int, first: sd.CallbackFlags = fine) -> list[tuple[int, float]]:
        """`count` pairs of blocks, 64 ms apart; (samples, stamp) of each block read."""
        for pair in range(count):
            mic._on_block(block, frames, None, first if pair == 0 else fine)
            mic._on_block(block, frames, None, fine)
            time.sleep(2 * BLOCK_S - (0.012 if pair == count // 2 else 0.0))  # one pair early
        read = []
        while (got := mic.read(timeout=0.01)) is not None:
            assert mic._resampled is not None
            read.append((len(got.kept), mic._resampled[0] + mic._resampled[1] / 16_000))
        return read

    def steps(read: list[tuple[int, float]]) -> list[float]:
        """How much later each block is stamped than its samples after the one before, ms."""
        return [1000 * (b - a - n / 16_000) for (_, a), (n, b) in itertools.pairwise(read)]

    read = pairs(12)
    # all of it, but what the resampler holds back (about 26 ms at these rates)
    assert 0 < 24 * frames * 16_000 / 44_100 - sum(n for n, _ in read) < 16_000 * BLOCK_S
    assert max(map(abs, steps(read))) < 1e-6, "one count from the first block on"
    time.sleep(0.3)  # input lost, then the device goes on
    now = time.monotonic()
    after_loss = pairs(3, first=lost)
    assert now - BLOCK_S <= after_loss[0][1] <= now + 0.02, "counted from the time again"
    assert max(map(abs, steps(after_loss))) < 1e-6
    pairs_heard = pairs(2)  # heard while not listening, and dropped unread
    mic._on_block(block, frames, None, fine)
    mic.drain()
    mic._on_block(block, frames, None, fine)
    assert mic._clock is not None
    origin, seen = mic._clock
    heard = mic.read(timeout=0.1)
    assert heard is not None and mic._resampled is not None
    first, counted = mic._resampled
    assert counted == len(heard.kept), "the count started again after the drop"
    device_end = origin + seen / 44_100
    assert device_end - BLOCK_S <= first + counted / 16_000 <= device_end
    assert pairs_heard, "blocks kept coming meanwhile"
