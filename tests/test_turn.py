"""One turn: `run_turn` and the early start, on a real voice (piper) and a timed speaker.

A model that writes at a set pace stands in for a slow language model, so what happens while
it is still writing can be seen.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.paced_model import PacedChatModel
from voicechat.audio.playback import TimedSink
from voicechat.config import LlmConfig
from voicechat.conversation import Conversation
from voicechat.early_start import EarlyReply, EarlyStart
from voicechat.end_of_turn import TurnJudge
from voicechat.errors import ModelError
from voicechat.marks import Stage
from voicechat.session import Session, SessionStore
from voicechat.tts.piper import PiperSynthesizer
from voicechat.turn import Spoken, TurnListener, Typed, run_turn
from voicechat.types import AudioClip, Ended, Take

REPLY = "It is sunny and warm today, so go out. Buy milk."
QUESTION = "Weather?"


@pytest.fixture(scope="module")
def piper() -> PiperSynthesizer:
    return PiperSynthesizer()


class Shown:
    """What a turn showed, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def listener(self) -> TurnListener:
        return TurnListener(
            on_text=lambda piece: self.events.append(("text", piece)),
            on_said=lambda text: self.events.append(("said", text)),
            on_speaking=lambda: self.events.append(("speaking", "")),
            on_transcribing=lambda: self.events.append(("transcribing", "")),
        )

    def text(self) -> str:
        return "".join(v for k, v in self.events if k == "text")


def _conversation(
    tmp_path: Path, model: PacedChatModel, piper: PiperSynthesizer | None, hear: str = ""
) -> Conversation:
    return Conversation(
        llm=LlmConfig(system_prompt="Be brief."),
        model=model,
        synthesizer=piper,
        speaker=TimedSink(),
        store=SessionStore(tmp_path),
        session=Session("t"),
        hear=lambda clip: hear,
    )


def _saved(tmp_path: Path) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in SessionStore(tmp_path).load("t").messages]


def _silence(seconds: float = 1.0) -> AudioClip:
    return AudioClip(np.zeros(int(16000 * seconds), dtype=np.float32), 16000)


def _wait_until(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.02)
    assert condition(), "timed out"  # type: ignore[operator]


def test_a_typed_turn_is_said_replied_spoken_and_saved(
    tmp_path: Path, piper: PiperSynthesizer
) -> None:
    shown = Shown()
    conversation = _conversation(tmp_path, PacedChatModel(REPLY, 0.0), piper)
    result = run_turn(conversation, Typed(QUESTION), shown.listener())
    assert result.said == QUESTION and result.reply is not None
    assert result.reply.text == REPLY == shown.text()
    assert shown.events[0] == ("said", QUESTION)
    assert ("speaking", "") in shown.events
    assert _saved(tmp_path) == [("user", QUESTION), ("assistant", REPLY)]
    t = result.timings
    first_token, first_audio = t.ms(Stage.FIRST_TOKEN), t.ms(Stage.FIRST_AUDIO)
    assert t.ms(Stage.TRANSCRIPT) is None and first_token is not None and first_audio is not None
    assert 0 <= first_token <= first_audio <= (t.ms(Stage.END) or 0.0)
    saved = SessionStore(tmp_path).load("t").messages[1]["timings_ms"]
    assert saved == t.as_dict()


def test_a_take_is_transcribed_then_answered(tmp_path: Path, piper: PiperSynthesizer) -> None:
    shown = Shown()
    conversation = _conversation(tmp_path, PacedChatModel(REPLY, 0.0), None, hear=QUESTION)
    result = run_turn(conversation, Spoken(_silence(), time.monotonic()), shown.listener())
    assert [k for k, _ in shown.events[:2]] == ["transcribing", "said"]
    assert result.said == QUESTION and result.timings.ms(Stage.TRANSCRIPT) is not None
    assert _saved(tmp_path) == [("user", QUESTION), ("assistant", REPLY)]


def test_a_take_with_no_words_sends_nothing(tmp_path: Path) -> None:
    model = PacedChatModel(REPLY, 0.0)
    conversation = _conversation(tmp_path, model, None, hear="")
    result = run_turn(conversation, Spoken(_silence(), time.monotonic()), TurnListener())
    assert result.said == "" and result.reply is None
    assert model.written_at == [], "the model was never asked"
    assert not SessionStore(tmp_path).exists("t")


@pytest.mark.parametrize("over_reply", [True, False])
def test_a_take_that_stopped_a_reply_with_only_its_words_is_its_echo_and_not_answered(
    tmp_path: Path, over_reply: bool
) -> None:
    model = PacedChatModel(REPLY, 0.0)
    conversation = _conversation(tmp_path, model, None, hear="So go out.")
    conversation.session.add("user", QUESTION)
    conversation.session.add("assistant", "It is sunny and warm today, so go", interrupted=True)
    take = Spoken(_silence(), time.monotonic(), over_reply=over_reply)
    result = run_turn(conversation, take, TurnListener())
    if over_reply:  # heard while the reply played, and the reply's own words: its echo
        assert result.own_voice and result.said == "So go out." and result.reply is None
        assert model.written_at == [], "the model was never asked"
        assert not SessionStore(tmp_path).exists("t"), "nothing was saved"
    else:  # the same words said after the reply are a person's, and answered
        assert not result.own_voice and result.reply is not None
        assert _saved(tmp_path)[-2:] == [("user", "So go out."), ("assistant", REPLY)]


def test_a_person_talking_over_a_reply_is_answered(tmp_path: Path) -> None:
    conversation = _conversation(tmp_path, PacedChatModel(REPLY, 0.0), None, hear=QUESTION)
    conversation.session.add("assistant", "It is sunny and warm today, so go", interrupted=True)
    result = run_turn(
        conversation, Spoken(_silence(), time.monotonic(), over_reply=True), TurnListener()
    )
    assert not result.own_voice and result.reply is not None and result.reply.text == REPLY


def test_a_failed_reply_keeps_the_question_and_the_error(tmp_path: Path) -> None:
    class Failing(PacedChatModel):
        """Fails after its first piece, as a model that runs out of memory would."""

        def stream(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            yield "It"
            raise ModelError("the model fell over")

    conversation = _conversation(tmp_path, Failing(REPLY, 0.0), None)
    with pytest.raises(ModelError):
        run_turn(conversation, Typed(QUESTION), TurnListener())
    saved = SessionStore(tmp_path).load("t").messages
    assert [m["role"] for m in saved] == ["user", "assistant"]
    assert saved[1]["error"] == "the model fell over"


def test_a_reply_begun_early_is_written_and_voiced_unseen_until_its_turn_releases_it(
    tmp_path: Path, piper: PiperSynthesizer
) -> None:
    shown = Shown()
    model = PacedChatModel(REPLY, 0.0)
    conversation = _conversation(tmp_path, model, piper)
    sink = conversation.speaker
    assert isinstance(sink, TimedSink)
    early = EarlyReply(conversation, QUESTION, 1000, shown.listener())
    _wait_until(lambda: model.finished_at is not None)
    time.sleep(0.5)  # the first clause's synthesis, which also runs while held
    assert shown.events == [] and sink.played == [], "nothing shown or played while held"
    assert not SessionStore(tmp_path).exists("t"), "nothing saved while held"

    ended_at = time.monotonic()
    result = run_turn(conversation, Spoken(_silence(), ended_at, early=early), shown.listener())
    assert result.reply is not None and result.reply.text == REPLY == shown.text()
    t = result.timings
    reply_start, first_clip = t.ms(Stage.REPLY_START), t.ms(Stage.FIRST_CLIP)
    first_audio = t.ms(Stage.FIRST_AUDIO)
    assert t.ms(Stage.TRANSCRIPT) == 0.0, "the transcript was there when the take ended"
    assert reply_start is not None and reply_start < 0, "begun before the take ended"
    assert first_clip is not None and first_clip < 0, "voiced before the take ended"
    assert first_audio is not None and first_audio >= 0, "heard only after it"
    assert sink.played[0][0] >= ended_at
    assert _saved(tmp_path) == [("user", QUESTION), ("assistant", REPLY)]


def test_an_abandoned_early_reply_stops_and_leaves_nothing_behind(
    tmp_path: Path, piper: PiperSynthesizer
) -> None:
    shown = Shown()
    model = PacedChatModel(REPLY + " " + REPLY, 0.1)
    conversation = _conversation(tmp_path, model, piper)
    early = EarlyReply(conversation, QUESTION, 1000, shown.listener())
    time.sleep(0.5)
    early.abandon()
    _wait_until(lambda: len(model.written_at) > 0)
    written = len(model.written_at)
    time.sleep(0.5)
    assert len(model.written_at) <= written + 1, "writing stopped"
    assert model.finished_at is None
    assert shown.events == []
    assert conversation.speaker.played == []  # type: ignore[union-attr]
    assert not SessionStore(tmp_path).exists("t")


def _take(paused_at: int | None) -> Take:
    return Take(_silence(), True, Ended.SILENCE, paused_at=paused_at, ended_at=time.monotonic())


def test_the_early_start_hands_the_turn_the_reply_begun_at_the_pause_the_take_ended_at(
    tmp_path: Path,
) -> None:
    started: list[EarlyReply] = []
    conversation = _conversation(tmp_path, PacedChatModel(REPLY, 0.05), None)

    def start(text: str, at: int) -> EarlyReply:
        started.append(EarlyReply(conversation, text, at, TurnListener()))
        return started[-1]

    early = EarlyStart(lambda clip: QUESTION, start)
    try:
        early.paused(_silence(1.0))  # a pause 16000 samples in
        _wait_until(lambda: len(started) == 1)
        said = early.take_ended(_take(16000))
        assert said.early is started[0] and said.transcript is None

        # The speaker went on after a pause: that reply is abandoned, and the take's own
        # final pause has no transcript yet, so the turn transcribes it.
        early.paused(_silence(1.0))
        _wait_until(lambda: len(started) == 2)
        early.resumed()
        said = early.take_ended(_take(None))
        assert said.early is None and said.transcript is None
        assert started[1].abandoned and not started[0].abandoned
    finally:
        early.shutdown()
        started[0].abandon()


def test_a_take_ending_at_another_pause_gets_that_pauses_transcript_not_the_reply(
    tmp_path: Path,
) -> None:
    conversation = _conversation(tmp_path, PacedChatModel(REPLY, 0.05), None)
    replies: list[EarlyReply] = []
    gate = threading.Event()

    def hear(clip: AudioClip) -> str:
        gate.wait(10)
        return "so far"

    def start(text: str, at: int) -> EarlyReply:
        replies.append(EarlyReply(conversation, text, at, TurnListener()))
        return replies[-1]

    early = EarlyStart(hear, start)
    try:
        early.paused(_silence(1.0))
        said = early.take_ended(_take(16000))  # before the transcript is ready: no reply yet
        assert said.early is None and said.transcript is not None
        gate.set()
        assert said.transcript.result(timeout=10) == "so far"
        time.sleep(0.2)
        assert replies == [], "no reply is begun for a take that has already ended"
    finally:
        early.shutdown()


def test_a_pause_judged_unfinished_starts_no_reply_but_its_transcript_still_answers(
    tmp_path: Path,
) -> None:
    conversation = _conversation(tmp_path, PacedChatModel(REPLY, 0.05), None)
    replies: list[EarlyReply] = []
    verdicts: list[tuple[int, bool | None]] = []

    def start(text: str, at: int) -> EarlyReply:
        replies.append(EarlyReply(conversation, text, at, TurnListener()))
        return replies[-1]

    # The rule under test is the early start's; the judge's signals are plain scores.
    judge = TurnJudge(lambda text: 0.01, lambda clip: 0.1)  # both say unfinished
    early = EarlyStart(
        lambda clip: "Please set a timer",
        start,
        judge,
        lambda at, done, doubt: verdicts.append((at, done)),
    )
    try:
        early.paused(_silence(1.0))
        _wait_until(lambda: verdicts == [(16000, False)])
        time.sleep(0.2)
        assert replies == [], "a pause the person is waited out at starts no reply"
        said = early.take_ended(_take(16000))  # the take did end there, after the long wait
        assert said.early is None and said.transcript is not None
        assert said.transcript.result(timeout=10) == "Please set a timer"
    finally:
        early.shutdown()
