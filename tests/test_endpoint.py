"""The end-of-take rule: speech heard, then enough silence after it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tests.support.speech import speak
from voicechat.audio.endpoint import (
    MIN_SPEECH_FRAMES,
    PAUSE_MS,
    SpeechTracker,
    end_of_take_frame,
)
from voicechat.audio.io import load_audio
from voicechat.audio.signal import VAD_FRAME_MS
from voicechat.audio.vad import StreamingVad

SPEECH, SILENCE = 0.9, 0.1


def frames(ms: float) -> int:
    """Frames that last at least `ms`."""
    return math.ceil(ms / VAD_FRAME_MS)


def test_a_click_is_not_speech_and_never_ends_a_take() -> None:
    tracker = SpeechTracker()
    tracker.update([SPEECH] * (MIN_SPEECH_FRAMES - 1) + [SILENCE] * frames(5000))
    assert not tracker.heard and not tracker.paused and not tracker.ended(800)


def state(tracker: SpeechTracker) -> tuple[bool, bool]:
    """(paused, ended after 800 ms)."""
    return tracker.paused, tracker.ended(800)


def test_a_pause_comes_before_the_end_and_speech_resets_both() -> None:
    tracker = SpeechTracker()
    tracker.update([SPEECH] * 10)
    tracker.update([SILENCE] * (frames(PAUSE_MS) - 1))
    assert state(tracker) == (False, False)
    tracker.update([SILENCE])
    assert state(tracker) == (True, False)
    assert tracker.update([SPEECH]), "speech after the pause is reported"
    assert state(tracker) == (False, False) and tracker.silence_ms == 0
    tracker.update([SILENCE] * frames(800))
    assert state(tracker) == (True, True)
    assert tracker.last_speech_frame == 10 + frames(PAUSE_MS)


def test_end_of_take_frame_is_where_the_silence_runs_out() -> None:
    probabilities = [SILENCE] * 5 + [SPEECH] * 20 + [SILENCE] * 40
    last_speech, ended = end_of_take_frame(probabilities, 800) or (0, 0)
    assert last_speech == 24
    assert (ended - last_speech) * VAD_FRAME_MS >= 800 > (ended - last_speech - 1) * VAD_FRAME_MS
    assert end_of_take_frame(probabilities[:40], 800) is None, "not enough silence"
    assert end_of_take_frame([SILENCE] * 100, 800) is None, "no speech"


@pytest.mark.slow
def test_the_rule_on_real_speech_ends_after_the_words(tmp_path: Path) -> None:
    clip = load_audio(speak("Please remember to buy milk and bread.", tmp_path / "milk.wav"))
    samples = np.concatenate([clip.samples, np.zeros(16000 * 2, dtype=np.float32)])
    vad = StreamingVad()
    found = end_of_take_frame(vad.feed(samples), 800)
    assert found is not None
    last_speech_s = (found[0] + 1) * VAD_FRAME_MS / 1000
    assert clip.duration - 0.6 < last_speech_s <= clip.duration + 0.1
    vad.reset()
    assert end_of_take_frame(vad.feed(np.zeros(16000 * 3, dtype=np.float32)), 800) is None


@pytest.mark.slow
def test_a_pause_judged_unfinished_is_waited_out_and_one_judged_finished_ends_the_take(
    tmp_path: Path,
) -> None:
    """The recorder's side of the smart end of turn, with the verdicts given directly."""
    import threading

    from voicechat.audio.takes import TakeRecorder
    from voicechat.bench.replay import ReplayedMicrophone
    from voicechat.types import AudioClip

    first = load_audio(speak("Please set a timer,", tmp_path / "a.wav")).samples
    second = load_audio(speak("for ten minutes.", tmp_path / "b.wav")).samples
    pause = np.zeros(int(16000 * 1.2), dtype=np.float32)  # longer than silence_ms (800)
    tail = np.zeros(16000 * 3, dtype=np.float32)
    clip = AudioClip(np.concatenate([first, pause, second, tail]), 16000)

    def record(finished: bool) -> tuple[str, float]:
        recorder = TakeRecorder(ReplayedMicrophone(clip), StreamingVad(), 800, 60.0)
        take = recorder.record(
            threading.Event(),
            threading.Event(),
            on_pause=lambda so_far: recorder.judged(len(so_far.samples), finished),
        )
        return take.ended_by, take.clip.duration

    ended_by, heard_s = record(finished=False)
    assert ended_by == "silence" and heard_s > (len(first) + len(pause) + len(second)) / 16000
    ended_by, heard_s = record(finished=True)
    assert ended_by == "smart" and heard_s < (len(first) + len(pause)) / 16000


def test_a_hands_free_take_keeps_from_just_before_the_speech_that_started_it() -> None:
    """Over a reply a person is taken for speaking only after several frames, in pieces:
    the take still begins PRE_ROLL_S before their first word, not before that moment."""
    from voicechat.audio.takes import PRE_ROLL_S, SPEECH_GAP_S, since_speech_began

    block = 512
    silent, voiced = np.zeros(block, np.float32), np.ones(block, np.float32)
    gap = [(silent, False)] * frames(1000 * SPEECH_GAP_S)
    short_gap = [(silent, False)] * 3
    words = [(voiced, True)] * 4
    heard = [(voiced, True)] * 5 + gap + gap + words + short_gap + words + short_gap + words
    kept = since_speech_began(heard)
    first_word = len(heard) - (3 * len(words) + 2 * len(short_gap))
    before = frames(1000 * PRE_ROLL_S)
    assert len(kept) == len(heard) - first_word + before
    assert not any(b is voiced for b in kept[:before]), "the earlier speech is not kept"
    assert len(since_speech_began(heard[:4])) == 4, "as much as there is"


@pytest.mark.slow
def test_a_take_over_a_reply_begins_where_the_echo_canceller_first_heard_someone(
    tmp_path: Path,
) -> None:
    """AEC3 lets the first words of a question over the reply through to voice activity, too
    few to start a take, then hides the rest for most of a second: where the linear canceller
    finds someone talking over the reply all along, the take still keeps the first words."""
    import threading

    from voicechat.audio.takes import PRE_ROLL_S, Start, TakeRecorder
    from voicechat.bench.replay import ReplayedMicrophone
    from voicechat.types import AudioClip, MicBlock

    question = load_audio(speak("What is the capital of France?", tmp_path / "q.wav")).samples
    lead = np.zeros(16000, dtype=np.float32)
    kept = np.concatenate([lead, question, np.zeros(16000 * 2, dtype=np.float32)])
    judged = kept.copy()
    first_word = len(lead) + int(np.argmax(np.abs(question) > 0.1 * np.abs(question).max()))
    judged[first_word + 800 : first_word + 800 + 16000] = 0  # hidden after its first 50 ms

    class OverTheReply(ReplayedMicrophone):
        """The microphone over a reply: voice activity judges `judged`, the take keeps the
        linear canceller's `kept`, which finds someone talking from the first word on."""

        def read(self, timeout: float = 0.2) -> MicBlock | None:
            start = self._position
            block = super().read(timeout)
            if block is None:
                return None
            talked_over = first_word <= start < first_word + len(question)
            return MicBlock(
                block.kept, judged[start : start + len(block.kept)], talked_over=talked_over
            )

    recorder = TakeRecorder(OverTheReply(AudioClip(kept, 16000)), StreamingVad(), 800, 60.0)
    take = recorder.record(
        threading.Event(),
        threading.Event(),
        wait_for_speech=True,
        start=Start.OVER_REPLY,
    )
    clip = take.clip.samples
    began = next(
        at for at in range(0, len(kept), 512) if np.array_equal(kept[at : at + len(clip)], clip)
    )
    assert take.had_speech and take.ended_by == "silence"
    assert first_word - PRE_ROLL_S * 16000 - 512 <= began <= first_word
