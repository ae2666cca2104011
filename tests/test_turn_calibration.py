"""The end of turn's words calibrated to the loaded model, and the verdict it gives."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.support.cli import run_cli
from voicechat.end_of_turn import TurnJudge
from voicechat.turn_calibration import (
    cache_path,
    calibrate,
    calibration_for,
    choose_threshold,
    load_requests,
)
from voicechat.types import AudioClip

SILENT = AudioClip(np.zeros(16000, dtype=np.float32), 16000)


def test_the_request_set_is_varied_and_each_cut_is_a_prefix() -> None:
    requests = load_requests()
    assert len(requests) >= 150
    cut = [r for r in requests if r.cut is not None]
    assert len(cut) >= 140
    assert all(r.whole.startswith(f"{r.cut} ") for r in cut)
    assert {"Hello", "Tell me a joke"} <= {r.whole for r in requests}
    # None of the questions the tests and benchmarks speak is calibrated on.
    from tests.support.turn_clips import CUT_QUESTIONS

    spoken = {f"{a.rstrip(',')} {b}".lower() for a, b in CUT_QUESTIONS}
    assert not spoken & {r.whole.lower() for r in requests}


def test_the_threshold_keeps_97_percent_of_whole_requests() -> None:
    scores = [i / 100 for i in range(100)]  # 0.00 … 0.99
    assert choose_threshold(scores) == 0.03  # three below, 97 at or above
    assert choose_threshold([0.5]) == 0.5
    assert choose_threshold(scores, 0.90) == 0.10  # ten below, 90 at or above
    made = calibrate("m", lambda texts: [0.9 if " " in t else 0.5 for t in texts], "a b | c\nd\n")
    assert made.threshold == 0.5 and made.complete_kept == 1.0 and made.requests == 2
    assert made.finished_from == 0.5


def test_words_between_the_two_thresholds_say_neither() -> None:
    yes, no = (lambda clip: 0.95), (lambda clip: 0.1)

    def judge(words: float, sound: object = yes) -> bool | None:
        made = TurnJudge(lambda text: words, sound, 0.01, 0.05)  # type: ignore[arg-type]
        return made("Remind me to water", SILENT).complete

    assert judge(0.2) is True
    # Few whole requests score this low: the voice alone cannot end the take at once.
    assert judge(0.02) is None
    assert judge(0.02, no) is None
    assert judge(0.005, no) is False
    assert TurnJudge(lambda text: 0.02, None, 0.01, 0.05)("Water", SILENT).complete is None
    # An upper threshold below the lower one is the lower one.
    assert TurnJudge(lambda text: 0.02, None, 0.01, 0.0).words_finished == 0.01


def test_the_verdict_is_never_slower_than_silence_when_the_signals_disagree() -> None:
    finished, unfinished = (lambda text: 0.9), (lambda text: 0.01)
    yes, no = (lambda clip: 0.95), (lambda clip: 0.1)
    assert TurnJudge(finished, yes, 0.3)("Turn on the radio", SILENT).complete is True
    assert TurnJudge(unfinished, no, 0.3)("Turn on the", SILENT).complete is False
    # A last word no request ends on is confident on its own.
    verdict = TurnJudge(finished, yes, 0.3)("Please set a timer for", SILENT)
    assert verdict.complete is False and verdict.dangling
    # Disagreeing, or one signal alone saying unfinished: the plain silence rule (None).
    assert TurnJudge(finished, no, 0.3)("Turn on the radio", SILENT).complete is None
    assert TurnJudge(unfinished, yes, 0.3)("Turn on the radio", SILENT).complete is None
    assert TurnJudge(unfinished, None, 0.3)("Turn on the radio", SILENT).complete is None
    assert TurnJudge(None, yes)("Turn on the radio", SILENT).complete is True
    # The threshold is the calibrated one.
    assert TurnJudge(lambda t: 0.05, None, 0.01)("Turn on the radio", SILENT).complete is True


def test_until_the_words_are_calibrated_they_neither_end_a_take_nor_hold_it() -> None:
    release = threading.Event()
    judge = TurnJudge(lambda text: 0.9, lambda clip: 0.95, 0.3)
    done: list[bool] = []

    def calibrate() -> tuple[float, float, float]:
        release.wait(10)
        return 0.01, 0.05, 0.5

    thread = judge.calibrate_later(calibrate, lambda: done.append(True))
    pending = judge("Turn on the radio", SILENT)
    assert pending.complete is None and pending.words is None, "the voice alone cannot end it"
    assert judge("Please set a timer for", SILENT).complete is False, "a dangling word waits"
    release.set()
    thread.join(10)
    assert done and (judge.words_threshold, judge.words_finished) == (0.01, 0.05)
    assert judge("Turn on the radio", SILENT).complete is True
    # A calibration that fails leaves the words out for good, and says nothing more.
    failing = TurnJudge(lambda text: 0.9, lambda clip: 0.95, 0.3)
    failing.calibrate_later(lambda: (0.0, 1 / 0, 0.0), lambda: done.append(False)).join(10)
    assert failing("Turn on the radio", SILENT).complete is None and done == [True]


@pytest.mark.slow
def test_a_real_instruct_model_is_calibrated_once_and_kept(smollm2: Path, tmp_path: Path) -> None:
    from voicechat.config import LlmConfig
    from voicechat.llm.transformers import TransformersChatModel

    chat = TransformersChatModel(LlmConfig(model=str(smollm2), device="cpu"))
    notices: list[str] = []
    made = calibration_for(str(smollm2), chat.end_probabilities, notices.append)
    assert len(notices) == 1 and "calibrating" in notices[0]
    assert made.complete_kept >= 0.97
    assert made.finished_from >= made.threshold
    # SmolLM2 was trained on none of these requests, and separates whole from cut ones.
    assert made.cut_caught >= 0.8, made
    assert cache_path(str(smollm2)).is_file()
    # One text at a time, the template's opening comes from its kept cache: the same scores.
    texts = ["What is the capital of France", "What is the capital of", "Hello", "Turn on the"]
    for text, batched in zip(texts, chat.end_probabilities(texts), strict=True):
        assert chat.end_probability(text) == pytest.approx(batched, abs=0.03), text
    again = calibration_for(str(smollm2), lambda texts: [1.0] * len(texts), notices.append)
    assert again == made and len(notices) == 1, "read back, not made again"
    config = tmp_path / "smollm2.toml"
    config.write_text(f'[llm]\nmodel = "{smollm2}"\n')
    shown = run_cli("--config", str(config), "config", "show")
    assert shown.returncode == 0
    assert f"# end of turn: words threshold {made.threshold:.3f}" in shown.stdout
    listed = json.loads(run_cli("--config", str(config), "config", "show", "--json").stdout)
    assert listed["end_of_turn_calibration"]["threshold"] == made.threshold
