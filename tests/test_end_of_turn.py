"""The smart end of turn: the words (the language model) and the sound (Smart Turn v3)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.support.turn_clips import (
    CUT_QUESTIONS,
    Trial,
    TurnClip,
    recorded_clips,
    replay,
    turn_clips,
)
from voicechat.asr.base import take_options
from voicechat.asr.longform import TakeTranscriber
from voicechat.audio.smart_turn import SmartTurn, find_model
from voicechat.audio.vad import VoiceActivityDetector
from voicechat.config import AsrConfig, AudioConfig, LlmConfig
from voicechat.conversation import Conversation
from voicechat.end_of_turn import UNSURE_LOGPROB, TurnJudge, dangling, make_judge
from voicechat.errors import ModelError
from voicechat.llm.transformers import TransformersChatModel
from voicechat.models import create_transcriber
from voicechat.session import Session, SessionStore
from voicechat.types import AudioClip

pytestmark = pytest.mark.slow
KNOWN = 4
REAL_DIGITS = Path(__file__).resolve().parents[2] / "shared" / "clips" / "real" / "vosk.wav"
"""The first CUT_QUESTIONS are those the tiny Phi-3 was trained on."""


@pytest.fixture(scope="module")
def chat(tiny_phi3: Path) -> TransformersChatModel:
    return TransformersChatModel(LlmConfig(model=str(tiny_phi3), device="cpu"))


@pytest.fixture(scope="module")
def clips() -> list[TurnClip]:
    """piper's takes of the questions the tiny Phi-3 knows."""
    known = tuple(first for first, _ in CUT_QUESTIONS[:KNOWN])
    return [
        c
        for c in turn_clips(pauses_s=(0.7,))
        if c.name.startswith("piper:") and any(first[:12] in c.name for first in known)
    ]


def test_the_words_say_whether_a_message_is_finished(chat: TransformersChatModel) -> None:
    for first, second in CUT_QUESTIONS[:KNOWN]:
        whole = f"{first.rstrip(',')} {second}"
        assert chat.end_probability(whole) > 0.9, whole
        # Whisper punctuates the unfinished half too ("What is the capital of?").
        assert chat.end_probability(first.rstrip(",") + "?") < 0.1, first
    assert chat.end_probability("") == 0.0


def test_the_judge_ends_a_turn_only_when_every_signal_says_finished() -> None:
    clip = AudioClip(np.zeros(16000, dtype=np.float32), 16000)
    both = TurnJudge(lambda text: 0.9 if text.endswith("France") else 0.01, lambda c: 0.97)
    assert both("What is the capital of France", clip).complete
    verdict = both("Which animal has a long", clip)
    assert not verdict.complete and verdict.words == 0.01 and verdict.sound == 0.97
    # A last word no sentence ends on needs no model: the words say unfinished.
    assert both("How many likes does A?", clip).words == 0.0
    assert dangling("Please set a timer for.") and not dangling("What time is it?")
    # A number Whisper leaves open is read out in groups; one it closes may end a request.
    assert dangling("1 0 0 1") and dangling("My number is 07700 900")
    assert not dangling("Wake me up at 630.") and not dangling("What is 7 times 8?")
    assert not TurnJudge(lambda text: 0.9, lambda c: 0.2)("Done.", clip).complete
    # Words speech-to-text was unsure of say nothing, and the silence rule decides.
    unsure = both("What is the capital of France", clip, logprob=UNSURE_LOGPROB - 0.1)
    assert unsure.complete is None and unsure.unsure and unsure.words is None
    assert both("What is the capital of France", clip, logprob=UNSURE_LOGPROB + 0.1).complete
    assert both("Tell me a", clip, logprob=-3.0).complete is False, "a dangling word still waits"
    assert TurnJudge(None, lambda c: 0.8).signals == "sound"
    assert TurnJudge(lambda text: 0.5, lambda c: 0.8).signals == "words + sound"


def test_smart_turn_hears_a_finished_question_as_finished(
    smart_turn_onnx: Path, clips: list[TurnClip]
) -> None:
    model = SmartTurn(smart_turn_onnx)
    whole = next(c for c in clips if "whole" in c.name)
    probability = model(AudioClip(whole.clip.samples[: whole.speech_end + 3200], 16000))
    assert probability > 0.5
    assert model(AudioClip(whole.clip.samples[: whole.speech_end + 3200], 16000)) == probability


def test_a_missing_turn_model_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such Smart Turn model"):
        find_model(str(tmp_path / "nope.onnx"))
    notices: list[str] = []
    audio = AudioConfig(end_of_turn="smart", turn_model="")
    judge = make_judge(audio, object(), notices.append)  # no words, no installed pipecat-ai
    if find_model("") is None:
        assert judge is None and any("silence" in n for n in notices)
    assert make_judge(AudioConfig(end_of_turn="silence"), object(), notices.append) is None


Replay = Callable[[TurnClip, TurnJudge | None, int], Trial]


@pytest.fixture
def replaying(chat: TransformersChatModel, tiny_en_ct2: Path, tmp_path: Path) -> Replay:
    """Plays a take through the real take recorder and early start (tests/support/
    turn_clips.py), heard by tiny.en, replies begun at pauses by the tiny Phi-3 into session
    "t" under tmp_path (saved only if a take ends there)."""
    asr = AsrConfig(engine="faster-whisper", model=str(tiny_en_ct2), device="cpu")
    hear = TakeTranscriber(create_transcriber(asr), VoiceActivityDetector(), take_options())
    conversation = Conversation(
        llm=LlmConfig(), model=chat, store=SessionStore(tmp_path), session=Session("t"), hear=hear
    )
    return lambda turn, judge, silence_ms: replay(turn, conversation, judge, silence_ms)


def test_smart_ends_whole_questions_at_their_pause_and_waits_out_a_mid_sentence_one(
    chat: TransformersChatModel,
    clips: list[TurnClip],
    replaying: Replay,
    tmp_path: Path,
) -> None:
    """The real recorder, early start and judge on replayed takes: a finished question ends
    at its first pause; a question with a 700 ms pause in the middle is never cut there.
    The silence rule is set long (2 s), so what ends a take is the judge's verdict, however
    fast this machine transcribes. The judge hears the words alone: Smart Turn was trained
    on people, and its scores for piper's last words swing with the voice's rendering (0.07
    to 0.98 for these finished questions), where the tiny Phi-3 knows the questions."""
    judge = TurnJudge(chat.end_probability, None)
    ended_early = []
    for turn in clips:
        trial = replaying(turn, judge, 2000)
        assert not trial.cut, f"{turn.name}: cut off at the pause"
        if turn.resume is None:
            ended_early.append(trial.ended_by == "smart" and trial.eos_ms < 1500)
        else:
            assert any(not v.complete for v in trial.verdicts), "the pause was judged"
    # "Tell me a long story." is a whole request the tiny Phi-3 scores as unlikely to end
    # (0.01): the silence rule ends it.
    assert sum(ended_early) >= len(ended_early) - 1, ended_early
    assert not SessionStore(tmp_path).exists("t"), "replies begun at pauses left no trace"


@pytest.mark.skipif(not REAL_DIGITS.is_file(), reason="../shared/clips/real is not here")
def test_a_real_person_reading_digits_in_groups_is_not_cut_at_the_pauses(
    chat: TransformersChatModel, replaying: Replay, smart_turn_onnx: Path, tmp_path: Path
) -> None:
    """vosk.wav: digits read in three groups with 1.4 s pauses, longer than the silence rule
    waits. Smart Turn hears the first group as finished (0.99); Whisper leaves it without a
    final mark ("1 0 0 1"), which holds the take."""
    judge = TurnJudge(chat.end_probability, SmartTurn(smart_turn_onnx))
    manifest = tmp_path / "manifest.tsv"
    manifest.write_text("vosk.wav\tpauses\n")
    (turn,) = recorded_clips(manifest, REAL_DIGITS.parent)
    trial = replaying(turn, judge, 800)
    assert not trial.cut, trial.verdicts
    assert trial.verdicts and any(v.dangling for v in trial.verdicts)
    # The same take with the silence rule alone is cut at the first pause.
    assert replaying(turn, None, 800).cut


def test_smart_turn_in_the_hub_cache_is_found_offline(
    smart_turn_onnx: Path, tmp_path: Path
) -> None:
    """The default (`audio.turn_model = ""`) finds Smart Turn where the Hub's client keeps
    it, with no network, as it is after its first download."""
    import subprocess
    import sys

    from voicechat.audio.smart_turn import HUB_FILE, HUB_REPO, HUB_REVISION

    repo = "models--" + HUB_REPO.replace("/", "--")
    snapshot = tmp_path / "hub" / repo / "snapshots" / HUB_REVISION
    snapshot.mkdir(parents=True)
    (snapshot / HUB_FILE).write_bytes(smart_turn_onnx.read_bytes())
    code = "from voicechat.audio.smart_turn import find_model; print(find_model(''))"
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    found = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == str(snapshot / HUB_FILE)
    empty = {**env, "HF_HUB_CACHE": str(tmp_path / "none")}
    missing = subprocess.run(
        [sys.executable, "-c", code], env=empty, capture_output=True, text=True, check=True
    )
    assert missing.stdout.strip() == "None", "offline and not cached: the words judge alone"
