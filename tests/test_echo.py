"""The microphone filter removes what the speaker played from what the microphone heard,
and keeps a person's voice, offline through the real WebRTC module (the duplex extra)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from voicechat.audio.io import load_audio
from voicechat.echo.canceller import ECHO_S, EchoRemoval, MicFilter
from voicechat.echo.far_end import FarEnd, PlayedTimeline
from voicechat.types import AudioClip, MicBlock

pytest.importorskip("livekit")

RATE = 16_000
START = 100.0


def _level_db(x: np.ndarray) -> float:
    return 10 * float(np.log10(np.mean(np.square(x.astype(np.float64))) + 1e-12))


def _through_filter(
    mic: np.ndarray, played: AudioClip | None, stopped_s: float | None = None, kept: bool = False
) -> np.ndarray:
    """`mic` in 32 ms blocks through the filter, the speaker having played `played` at 0 s:
    what voice activity judges, or with `kept`, what a take keeps."""
    far_end = FarEnd()
    if played is not None:
        far_end.played(played, START)
    if stopped_s is not None:
        far_end.stopped(START + stopped_s)
    clean = MicFilter(echo_cancel=True, noise_suppression=True, far_end=far_end)
    blocks = [
        clean.process(mic[i : i + 512], START + (i + len(mic[i : i + 512])) / RATE)
        for i in range(0, len(mic), 512)
    ]
    return np.concatenate([b.kept if kept else b.judged for b in blocks])


@pytest.fixture(scope="module")
def reply(tmp_path_factory: pytest.TempPathFactory) -> AudioClip:
    from tests.support.speech import speak

    folder = tmp_path_factory.mktemp("echo")
    text = "The weather today is sunny and warm, with a light breeze from the west."
    return load_audio(speak(text, folder / "reply.wav"))


def _echo(samples: np.ndarray, length: int) -> np.ndarray:
    """How a room carries the speaker to the microphone: 40 ms later at 0.6, and a second
    reflection 50 ms after that at 0.3."""
    echo = np.zeros(length, np.float32)
    for delay_s, gain in ((0.04, 0.6), (0.09, 0.3)):
        k = int(delay_s * RATE)
        part = samples[: length - k]
        echo[k : k + len(part)] += gain * part
    return echo


def test_what_the_speaker_played_is_removed_from_the_microphone(reply: AudioClip) -> None:
    mic = _echo(reply.samples, len(reply.samples) + RATE // 2)
    cleaned = _through_filter(mic, reply)
    settled = slice(RATE, len(reply.samples))  # the canceller has had a second to learn
    removed = _level_db(mic[settled]) - _level_db(cleaned[settled])
    assert removed >= 15.0, f"only {removed:.1f} dB of echo removed"


def test_without_the_speaker_told_the_echo_stays(reply: AudioClip) -> None:
    """What removes the echo is knowing what was played (nothing else in the filter does)."""
    mic = _echo(reply.samples, len(reply.samples) + RATE // 2)
    cleaned = _through_filter(mic, None)
    settled = slice(RATE, len(reply.samples))
    assert _level_db(mic[settled]) - _level_db(cleaned[settled]) < 6.0


def test_a_person_speaking_alone_comes_through(tmp_path: Path) -> None:
    real = Path(__file__).resolve().parents[2] / "shared" / "clips" / "real" / "stars.wav"
    if not real.is_file():
        pytest.skip("../shared/clips/real is not here")
    voice = load_audio(real).samples
    cleaned = _through_filter(voice, None)
    assert abs(_level_db(cleaned[RATE:]) - _level_db(voice[RATE : len(cleaned)])) < 6.0


def test_a_person_talking_over_the_reply_is_kept_whole_and_heard(
    reply: AudioClip, tmp_path: Path, tiny_en_ct2: Path
) -> None:
    """While both talk, the take keeps the linear canceller's output: the echo goes, the
    person stays at their own level, and speech-to-text hears them right."""
    from tests.support.speech import speak, word_error_rate
    from voicechat.asr.base import take_options
    from voicechat.asr.longform import TakeTranscriber
    from voicechat.audio.vad import VoiceActivityDetector
    from voicechat.config import AsrConfig
    from voicechat.models import create_transcriber

    question = "What is the capital of France?"
    voice = load_audio(speak(question, tmp_path / "q.wav")).samples
    long_reply = np.concatenate([reply.samples, reply.samples])
    onset = 2 * RATE
    mic = _echo(long_reply, len(long_reply))
    mic[onset : onset + len(voice)] += voice
    kept = _through_filter(mic, AudioClip(long_reply, RATE), kept=True)
    echo_alone, person = slice(RATE, onset), slice(onset, onset + len(voice))
    assert _level_db(mic[echo_alone]) - _level_db(kept[echo_alone]) >= 12.0
    assert abs(_level_db(kept[person]) - _level_db(voice)) < 3.0
    asr = AsrConfig(engine="faster-whisper", model=str(tiny_en_ct2))
    hear = TakeTranscriber(create_transcriber(asr), VoiceActivityDetector(), take_options())
    span = slice(onset - RATE // 4, onset + len(voice) + RATE // 4)
    assert word_error_rate(question, hear(AudioClip(kept[span], RATE))) <= 1 / 6


def test_once_the_speaker_is_stopped_voice_activity_hears_the_person_as_the_microphone_does(
    reply: AudioClip,
) -> None:
    """A person talks over the reply, which is stopped, and goes on. AEC3 can go on
    suppressing them for a second after the echo is gone (by 30-50 dB in some runs through
    its own adaptive state), long enough for the silence rule to end their take
    mid-request; so once the speaker cannot be heard (STOP_TAIL_S and ECHO_S after the
    stop) voice activity judges what a take keeps."""
    from voicechat.audio.vad import StreamingVad
    from voicechat.echo.far_end import STOP_TAIL_S

    real = Path(__file__).resolve().parents[2] / "shared" / "clips" / "real" / "cheetah_en.wav"
    if not real.is_file():
        pytest.skip("../shared/clips/real is not here")
    voice = load_audio(real).samples * np.float32(0.5)  # a quiet talker under the echo
    onset, stop_s = 2 * RATE, 3.2
    mic = _echo(reply.samples, onset + len(voice))
    mic[int((stop_s + STOP_TAIL_S + 0.1) * RATE) :] = 0.0  # the speaker's sound has stopped
    mic[onset:] += voice
    played = AudioClip(reply.samples, RATE)
    judged = _through_filter(mic, played, stopped_s=stop_s)
    kept = _through_filter(mic, played, stopped_s=stop_s, kept=True)
    after = slice(int((stop_s + STOP_TAIL_S + ECHO_S + 0.05) * RATE), len(judged))
    assert np.array_equal(judged[after], kept[after])

    def speech_frames(samples: np.ndarray) -> int:  # the second after, in 32 ms frames
        vad = StreamingVad()
        vad.reset()
        probabilities = np.array(vad.feed(samples.astype(np.float32)))
        first = after.start // 512
        return int(np.sum(probabilities[first : first + RATE // 512] >= 0.5))

    # AEC3 still suppressing the person would leave few on some of piper's renderings of the
    # reply (0 of 31 on one); the noise suppressor on this quiet talker costs up to a quarter
    # of them on others (24 of 31 in 2 runs of 26)
    assert speech_frames(judged) >= 0.7 * speech_frames(mic[: len(judged)])


def test_a_take_keeps_the_linear_canceller_only_while_it_removes_the_echo() -> None:
    """The best of the latest windows counts: a person talking over the echo does not turn
    it off, 5 s of echo it cannot remove do; quiet windows are not judged."""
    rng = np.random.default_rng(2)
    echo = rng.normal(0, 3000, (EchoRemoval.WINDOWS + 1, 160)).astype(np.int16)
    removal = EchoRemoval()
    for frame in echo[: EchoRemoval.WINDOW_FRAMES]:
        removal.add(frame, (frame // 10).astype(np.int16))  # 20 dB removed
    assert removal.enough
    for _ in range(EchoRemoval.WINDOWS - 1):
        for frame in echo[: EchoRemoval.WINDOW_FRAMES]:
            removal.add(frame, frame)  # a person over it: nothing seems removed
    assert removal.enough
    for frame in echo[: EchoRemoval.WINDOW_FRAMES]:
        removal.add((frame // 100).astype(np.int16), np.zeros(160, np.int16))  # too quiet
    assert removal.enough
    for frame in echo[: EchoRemoval.WINDOW_FRAMES]:
        removal.add(frame, frame)
    assert not removal.enough


def test_echo_the_linear_canceller_cannot_follow_leaves_the_take_with_aec3s(
    reply: AudioClip,
) -> None:
    """An echo whose delay jumps every 100 ms (a clock the far end's stamps do not follow)
    is no steady filtering of what was played: the take keeps AEC3's output, as voice
    activity judges it."""
    rng = np.random.default_rng(3)
    mic = np.zeros(len(reply.samples) + RATE // 2, np.float32)
    step = RATE // 10
    for start in range(0, len(reply.samples), step):
        delay = int(rng.integers(int(0.03 * RATE), int(0.12 * RATE)))
        part = reply.samples[start : start + step]
        mic[start + delay : start + delay + len(part)] += 0.6 * part
    kept = _through_filter(mic, reply, kept=True)
    judged = _through_filter(mic, reply)
    settled = slice(2 * RATE, len(reply.samples))
    assert np.allclose(kept[settled], judged[settled])


def test_the_timeline_gives_what_played_over_any_span() -> None:
    """Frames stamped as they played are read back sample for sample over spans that do not
    line up with them; silence where nothing played, and before a stream that starts anew."""
    rng = np.random.default_rng(1)
    frames = (rng.uniform(-1e4, 1e4, (4, 160))).astype(np.int16)
    timeline = PlayedTimeline()
    for i, frame in enumerate(frames):
        timeline.add(START + i * 0.01, frame)
    stream = frames.reshape(-1)
    assert not timeline.over(START - 0.01, 160).any()
    assert np.array_equal(timeline.over(START + 0.005, 160), stream[80:240])
    assert np.array_equal(timeline.over(START + 0.015, 160), stream[240:400])
    tail = timeline.over(START + 0.035, 160)
    assert np.array_equal(tail[:80], stream[560:]) and not tail[80:].any()
    later = frames[0]
    timeline.add(START + 0.1, later)  # 60 ms after the stream's end: silence between
    assert not timeline.over(START + 0.045, 160).any()
    assert np.array_equal(timeline.over(START + 0.1, 160), later)
    timeline.add(START + 5.0, frames[1])  # long after: a stream of its own
    assert np.array_equal(timeline.over(START + 5.0, 160), frames[1])


class _TimedFilter(MicFilter):
    """A MicFilter that keeps every block it cleaned: (captured at, heard, kept)."""

    def __init__(self, far_end: FarEnd) -> None:
        super().__init__(echo_cancel=True, noise_suppression=True, far_end=far_end)
        self.blocks: list[tuple[float, np.ndarray, np.ndarray]] = []

    def process(self, block: np.ndarray, captured_at: float) -> MicBlock:
        cleaned = super().process(block, captured_at)
        self.blocks.append((captured_at, block, cleaned.kept))
        return cleaned


def test_a_reply_stopped_mid_word_leaves_nothing_of_it_in_what_a_take_keeps(
    pulse: dict[str, str], reply: AudioClip
) -> None:
    """Through PulseAudio, the speaker looped into the microphone: once a stopped reply's
    echo has come, the take keeps silence, not the linear canceller's prediction of sound
    that never played. (Told that 0.3 s more of it played after the stop, the canceller put
    that 0.3 s into the take at -15 to -24 dBFS, inverted, over the first words of the
    person who had stopped the reply.)"""
    import threading
    import time

    from tests.support.pulse import speaker_leaking_into_microphone
    from voicechat.audio.capture import Microphone
    from voicechat.audio.playback import Speaker

    far_end = FarEnd()
    clean = _TimedFilter(far_end)
    with speaker_leaking_into_microphone(pulse):
        speaker = Speaker("", far_end)
        speaker.open()
        mic = Microphone("", clean)
        mic.start()
        stop = threading.Event()

        def play() -> None:
            if speaker.play(reply, stop):
                speaker.wait(stop)

        player = threading.Thread(target=play)
        try:
            player.start()
            until = time.monotonic() + 2.5
            while time.monotonic() < until:
                mic.read(0.1)
            stop.set()
            player.join()
            stopped_at = time.monotonic()
            until = stopped_at + 1.0
            while time.monotonic() < until:
                mic.read(0.1)
        finally:
            stop.set()
            mic.close()
            speaker.close()

    def level(start: float, end: float, which: int) -> float:
        parts = [b[which] for b in clean.blocks if start <= b[0] - len(b[1]) / RATE < end]
        return _level_db(np.concatenate(parts))

    assert clean.linear and clean.echo_s > 0, "the echo's delay was found"
    echo_ends = stopped_at + clean.echo_s  # the echo of what played before the stop is in
    assert level(stopped_at - 1.0, stopped_at - 0.2, 1) > -30.0, "the reply was heard"
    assert level(echo_ends, echo_ends + 0.4, 1) < -90.0, "the room went silent"
    assert level(echo_ends, echo_ends + 0.4, 2) < -60.0, "and so did what a take keeps"


def test_clips_played_one_after_another_reach_the_canceller_as_one_stream() -> None:
    """No silence is put between clips at frame boundaries (it would move the echo's delay
    at every join); a clip after a gap starts a stream of its own."""
    rng = np.random.default_rng(0)
    first, second, later = (rng.uniform(-0.5, 0.5, n).astype(np.float32) for n in (1000, 1234, 500))
    far_end = FarEnd()
    far_end.played(AudioClip(first, RATE), START)
    far_end.played(AudioClip(second, RATE), START + len(first) / RATE)
    far_end.played(AudioClip(later, RATE), START + 1.0)
    heard = np.concatenate([f for _, f in far_end.due(START + 2.0)]).astype(np.float32) / 32767
    joined = len(first) + len(second)
    assert np.allclose(heard[:joined], np.concatenate([first, second]), atol=1e-4)
    pad = -joined % 160
    assert not heard[joined : joined + pad].any()
    assert np.allclose(heard[joined + pad : joined + pad + len(later)], later, atol=1e-4)
    assert far_end.started_at == START + 1.0, "after a gap the delay is found anew"


def test_through_the_virtual_devices_the_linear_canceller_follows_what_the_speaker_played(
    pulse: dict[str, str], reply: AudioClip
) -> None:
    """voicechat's own speaker plays into the virtual microphone while its microphone, at the
    device's 44.1 kHz resampled to 16 kHz, reads through the filter: the linear canceller is
    handed what played over each frame, so it removes the echo (it cannot when a block's
    capture time is taken from the device block instead of the resampled samples, which the
    resampler hands out in uneven bursts)."""
    import subprocess
    import threading
    import time

    from voicechat.audio.capture import Microphone
    from voicechat.audio.playback import Speaker

    env = {**__import__("os").environ, **pulse}
    subprocess.run(["pactl", "set-default-sink", "vmic_sink"], env=env, check=True)
    far_end = FarEnd()
    clean = MicFilter(echo_cancel=True, noise_suppression=False, far_end=far_end)
    mic = Microphone("", clean)
    speaker = Speaker("", far_end)
    done = threading.Event()

    def listen() -> None:
        while not done.is_set():
            mic.read(timeout=0.2)

    mic.start()
    listener = threading.Thread(target=listen)
    listener.start()
    try:
        for _ in range(3):
            speaker.play(reply)
        speaker.wait()
    finally:
        time.sleep(0.2)
        done.set()
        listener.join()
        mic.close()
        speaker.close()
        subprocess.run(["pactl", "set-default-sink", "vspeaker"], env=env, check=False)
    # Without the resampled blocks timed by their own samples it never did (1-7 dB); with
    # them 7-19 dB over the last two plays; with the devices' delay found and taken out
    # (echo.delay), the median 0.5 s window of a run 21-24 dB.
    assert clean.linear, "the linear canceller never removed 10 dB of echo"


def _late_echo(played: np.ndarray) -> tuple[np.ndarray, MicFilter, list[MicBlock]]:
    """Speakers 0.3 s late (Bluetooth), a reflection 40 ms after: the microphone's samples,
    and what the filter made of them in 32 ms blocks, `played` having played at 0 s."""
    late = np.zeros(len(played) + RATE // 2, np.float32)
    k = int(0.3 * RATE)
    late[k : k + len(played)] = 0.6 * played
    late[k + 640 : k + 640 + len(played)] += 0.3 * played
    far_end = FarEnd()
    far_end.played(AudioClip(played, RATE), START)
    clean = MicFilter(echo_cancel=True, noise_suppression=True, far_end=far_end)
    blocks = [
        clean.process(late[i : i + 512], START + (i + len(late[i : i + 512])) / RATE)
        for i in range(0, len(late), 512)
    ]
    return late, clean, blocks


def test_an_echo_later_than_the_linear_cancellers_length_is_still_removed_from_the_take(
    reply: AudioClip,
) -> None:
    """Past the 128 ms the canceller models: the delay is found and taken out, so the take
    keeps the linear canceller's output, the echo removed."""
    long_reply = np.concatenate([reply.samples, reply.samples])
    late, clean, blocks = _late_echo(long_reply)
    kept = np.concatenate([block.kept for block in blocks])
    settled = slice(3 * RATE, len(long_reply))
    assert clean.linear, "the take never kept the linear canceller's output"
    assert _level_db(late[settled]) - _level_db(kept[settled]) >= 15.0


def test_a_late_echo_is_judged_cancelled_until_it_has_all_arrived(reply: AudioClip) -> None:
    """A reply cut off mid-word on speakers 0.3 s late: its echo goes on past ECHO_S after
    the last sound played, and voice activity still judges AEC3's output over all of it."""
    cut = np.concatenate([reply.samples, reply.samples[: len(reply.samples) // 2]])
    late, clean, blocks = _late_echo(cut)
    judged = np.concatenate([block.judged for block in blocks])
    after = slice(len(cut) + int((ECHO_S + 0.01) * RATE), len(cut) + int(0.34 * RATE))
    assert clean.echo_s > ECHO_S
    assert _level_db(late[after]) - _level_db(judged[after]) >= 40.0


class _StampedFarEnd(FarEnd):
    """A FarEnd that also keeps when each clip it was told of played, and for how long (s)."""

    def __init__(self) -> None:
        super().__init__()
        self.stamps: list[tuple[float, float]] = []

    def played(self, clip: AudioClip, at: float) -> None:
        self.stamps.append((at, len(clip.samples) / clip.sample_rate))
        super().played(clip, at)


def test_a_replys_clips_reach_the_echo_canceller_end_to_end_in_the_order_they_play(
    pulse: dict[str, str], reply: AudioClip
) -> None:
    """Short clips through the virtual speaker, joined by the speaker's pads: each is stamped
    where what was handed out before it ends. pygame's channel reads as idle for a moment as
    a queued sound starts; a clip played then was stamped before the pad it went out beside,
    and the canceller heard it 100 ms early (at 4 of about 85 joins through PulseAudio with
    the microphone's filter and voice activity busy; rarely here, so this guards the rule
    more than it finds the moment)."""
    from voicechat.audio.playback import Speaker

    far_end = _StampedFarEnd()
    speaker = Speaker("", far_end)
    piece = RATE // 5
    try:
        for i in range(20):
            start = (i * piece) % (len(reply.samples) - piece)
            speaker.play(AudioClip(reply.samples[start : start + piece], RATE))
        speaker.wait()
    finally:
        speaker.close()
    stamps = far_end.stamps[1:]  # after the silence that primes the mixer
    assert len(stamps) >= 20
    overlaps = [
        (round(before + length - at, 4), i)
        for i, ((before, length), (at, _)) in enumerate(itertools.pairwise(stamps))
        if at < before + length - 0.002
    ]
    assert not overlaps, f"stamped before what played ahead of it had ended: {overlaps}"


def test_closing_the_speaker_while_replies_wait_on_it_returns_them(
    pulse: dict[str, str], reply: AudioClip
) -> None:
    """talk closes the speaker as it exits, where a failed reply's player can still be
    waiting on it: the wait returns, and nothing touches the closed mixer (which crashed the
    process, exit 139, in about half of the runs where the model's server died mid-reply)."""
    import threading
    import time

    from voicechat.audio.playback import Speaker

    short = AudioClip(reply.samples[: RATE // 4], RATE)
    for _ in range(4):
        speaker = Speaker("", FarEnd())
        played = threading.Event()

        def play(speaker: Speaker = speaker, played: threading.Event = played) -> None:
            speaker.play(short)
            played.set()
            speaker.play(reply)  # still playing it when the speaker closes
            speaker.wait()

        players = [threading.Thread(target=play), threading.Thread(target=speaker.wait)]
        players[0].start()
        assert played.wait(10)
        players[1].start()
        time.sleep(0.1)
        speaker.close()
        for player in players:
            player.join(timeout=2)
            assert not player.is_alive(), "a wait outlived the speaker"


def _speech_rms(samples: np.ndarray) -> float:
    """RMS over the louder half of `samples`' 32 ms frames (where the speech is)."""
    frames = samples[: len(samples) // 512 * 512].reshape(-1, 512).astype(np.float64)
    energy = np.sort(np.mean(np.square(frames), axis=1))
    return float(np.sqrt(np.mean(energy[len(energy) // 2 :])))


def test_someone_talking_over_the_reply_is_told_from_the_linear_cancellers_output(
    reply: AudioClip,
) -> None:
    """A real person, as loud as the echo, talks over the reply 3 s in: the filter finds
    them talking over within their first 1.5 s, and never on the echo alone before."""
    real = Path(__file__).resolve().parents[2] / "shared" / "clips" / "real" / "stars.wav"
    if not real.is_file():
        pytest.skip("../shared/clips/real is not here")
    long_reply = np.concatenate([reply.samples, reply.samples])
    mic = _echo(long_reply, len(long_reply))
    voice = load_audio(real).samples
    voice = voice * np.float32(_speech_rms(mic) / _speech_rms(voice))
    onset = 3 * RATE
    first_word = onset + int(np.argmax(np.abs(voice) > 0.1 * np.abs(voice).max()))
    mic[onset : onset + len(voice)] += voice[: len(mic) - onset]
    far_end = FarEnd()
    far_end.played(AudioClip(long_reply, RATE), START)
    clean = MicFilter(echo_cancel=True, noise_suppression=True, far_end=far_end)
    told = []
    for i in range(0, len(mic), 512):
        clean.process(mic[i : i + 512], START + (i + len(mic[i : i + 512])) / RATE)
        told.append((i + 512, clean.talked_over))
    assert not [end for end, over in told if over and end <= first_word]
    assert [end for end, over in told if over and end <= first_word + 3 * RATE // 2]


def test_a_canceller_still_learning_the_echo_path_finds_nobody_talking_over_it() -> None:
    """Frames with little removed mean someone talking only from a canceller that has lately
    removed TRUSTED_DB of the echo alone: one still learning removes little of every frame."""
    from voicechat.echo.talk_over import MIN_FRAMES, TRUSTED_DB, TalkOverDetector

    rng = np.random.default_rng(3)
    heard = rng.normal(0, 3000, (MIN_FRAMES, 160)).astype(np.int16)
    for canceller_db, talked_over in ((TRUSTED_DB - 4, False), (TRUSTED_DB + 10, True)):
        detector = TalkOverDetector()
        for frame in heard:
            detector.add(frame, (frame // 2).astype(np.int16), canceller_db)  # 6 dB removed
        assert detector.talked_over is talked_over, canceller_db
