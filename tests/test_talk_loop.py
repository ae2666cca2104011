"""The talk loop's keys, in-process: each key in each mode, with keys, screen, recorder and
turns stood in by plain objects that record what they were asked (tests/test_talk.py drives
the real terminal, microphone and models through tmux and PulseAudio)."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator

import numpy as np
import pytest

from voicechat.early_start import EarlyReply, EarlyStart
from voicechat.talk.going_on import GoingOn
from voicechat.talk.keys import KeyEvent
from voicechat.talk.loop import HOLD_S, Mode, TalkLoop
from voicechat.turn_input import Spoken, Typed
from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip, Continuation, Ended, Take


class Keys:
    def __init__(self, kitty: bool = False) -> None:
        self.events: queue.Queue[KeyEvent] = queue.Queue()
        self.kitty = kitty


class Screen:
    def __init__(self) -> None:
        self.line: str | None = None
        self.level_db = -100.0
        self.states: list[str] = []
        self.notices: list[str] = []

    def show_state(self, state: str) -> None:
        self.states.append(state)

    def notice(self, message: str) -> None:
        self.notices.append(message)

    def error(self, message: str) -> None:
        self.notices.append(f"error: {message}")

    def take_back(self) -> None:
        self.states.append("taken back")


class Takes:
    """A recorder whose takes end when told, as the real one's do on send and discard."""

    def __init__(self) -> None:
        self.failed = False
        self.by_space_at: float | None = None
        self.started: list[bool] = []  # wait_for_speech of each take started
        self.over_reply: list[bool] = []
        self.continues: list[Continuation | None] = []
        self.resumed = False
        self._recording = False
        self._ended: Take | None = None

    @property
    def recording(self) -> bool:
        return self._recording

    @property
    def level_db(self) -> float:
        return -20.0

    def open(self) -> bool:
        return True

    def start(
        self,
        by_space: bool = False,
        wait_for_speech: bool = False,
        over_reply: bool = False,
        continues: Continuation | None = None,
    ) -> bool:
        self.started.append(wait_for_speech)
        self.over_reply.append(over_reply)
        self.continues.append(continues)
        self.resumed = False
        self.by_space_at = time.monotonic() if by_space else None
        self._recording = True
        return True

    def end(self, ended_by: str, had_speech: bool = True) -> None:
        clip = AudioClip(np.zeros(WHISPER_SAMPLE_RATE, dtype=np.float32), WHISPER_SAMPLE_RATE)
        self._ended = Take(
            clip, had_speech, Ended(ended_by), ended_at=time.monotonic(), resumed=self.resumed
        )

    def send(self) -> None:
        self.end("key")

    def discard(self) -> None:
        self.end("discarded")

    def finished(self) -> Take | None:
        take, self._ended = self._ended, None
        if take is not None:
            self._recording = False
        return take

    def close(self) -> None:
        self._recording = False


class Turns:
    """Turns that run until the test ends them."""

    def __init__(self) -> None:
        self.interrupting = False
        self.started: list[Typed | Spoken] = []
        self._busy = False
        self._done = False

    @property
    def busy(self) -> bool:
        return self._busy

    def asked_to_stop(self) -> bool:
        return self.interrupting

    def start(self, said: Typed | Spoken) -> None:
        self.started.append(said)
        self._busy, self._done = True, False
        self.dropped = False

    def drop(self) -> None:
        self.dropped = self.interrupting = True

    def finish(self) -> None:
        self._done = True

    def ended(self) -> bool:
        if not (self._busy and self._done):
            return False
        self._busy = self.interrupting = False
        return True

    def close(self) -> None:
        self._busy = False


class Commands:
    def __init__(self) -> None:
        self.ran: list[str] = []

    def run(self, text: str) -> bool:
        self.ran.append(text)
        return text == "/quit"


class Talk:
    """A loop over stand-ins, driven one key and one tick at a time."""

    def __init__(
        self,
        hands_free: bool = False,
        kitty: bool = False,
        talk_over: bool = False,
        resume_s: float = 0.0,
    ) -> None:
        self.screen, self.takes, self.turns = Screen(), Takes(), Turns()
        self.commands = Commands()
        self.heard: queue.SimpleQueue[str] = queue.SimpleQueue()

        def no_reply(text: str, at: int) -> EarlyReply:
            raise AssertionError("no pause is reported here")

        self.early = EarlyStart(lambda clip: "", no_reply)
        self.loop = TalkLoop(
            Keys(kitty),
            self.screen,
            self.commands,
            self.takes,
            self.turns,
            self.early,
            hands_free,
            self.heard,
            talk_over,
            GoingOn(resume_s, talk_over),
        )

    def press(self, *keys: str, kind: str = "press") -> None:
        for key in keys:
            if len(key) == 1:
                event = KeyEvent("space" if key == " " else "char", kind, key)
            else:
                event = KeyEvent(key, kind)
            self.loop.on_key(event)
            self.loop.tick()

    def mode(self) -> Mode:
        """The loop's mode now (a call, so a type checker does not narrow it)."""
        return self.loop.mode

    def quitting(self) -> bool:
        return self.loop.quit


@pytest.fixture
def talk() -> Iterator[Talk]:
    made = Talk()
    yield made
    made.early.shutdown()


def test_space_records_space_sends_and_the_take_is_answered(talk: Talk) -> None:
    talk.press("space")
    assert talk.mode() is Mode.LISTENING and talk.takes.started == [False]
    talk.press("space")
    assert talk.mode() is Mode.ANSWERING
    (said,) = talk.turns.started
    assert isinstance(said, Spoken) and said.early is None
    talk.turns.finish()
    talk.loop.tick()
    assert talk.mode() is Mode.IDLE and talk.screen.states[-1] == "idle"


def test_space_just_after_a_take_ended_by_silence_only_confirms_it(talk: Talk) -> None:
    talk.press("enter")
    talk.takes.end("silence")
    talk.loop.tick()
    assert talk.mode() is Mode.ANSWERING
    talk.press("space")
    assert not talk.turns.interrupting, "the confirming Space must not barge in"
    assert talk.takes.started == [False], "nor open a new take"
    talk.loop._confirm_until = time.monotonic() - 1  # the grace is over
    talk.press("space")
    assert talk.turns.asked_to_stop(), "now Space barges in"


def test_space_while_answering_interrupts_and_listens_again(talk: Talk) -> None:
    talk.press("enter", "enter")
    talk.press("space")
    assert talk.turns.interrupting and talk.mode() is Mode.ANSWERING
    talk.turns.finish()
    talk.loop.tick()
    assert talk.mode() is Mode.LISTENING and len(talk.takes.started) == 2


def test_hands_free_listens_by_itself_and_space_does_not_barge_in() -> None:
    talk = Talk(hands_free=True)
    try:
        talk.loop.tick()
        assert talk.mode() is Mode.WAITING and talk.takes.started == [True]
        talk.press("space")
        assert talk.mode() is Mode.WAITING, "Space means nothing while waiting for speech"
        talk.heard.put("speech")
        talk.loop.tick()
        assert talk.mode() is Mode.LISTENING and talk.screen.states[-1] == "listening"
        talk.takes.end("silence")
        talk.loop.tick()
        assert talk.mode() is Mode.ANSWERING
        talk.loop._confirm_until = 0.0
        talk.press("space")
        assert not talk.turns.interrupting
        talk.turns.finish()
        talk.loop.tick()
        assert talk.mode() is Mode.WAITING and len(talk.takes.started) == 2
    finally:
        talk.early.shutdown()


def test_typing_while_waiting_for_speech_drops_the_take_and_holds_the_microphone() -> None:
    talk = Talk(hands_free=True)
    try:
        talk.loop.tick()
        talk.press("h")
        assert talk.mode() is Mode.TYPING and talk.screen.line == "h"
        talk.loop.tick()  # the discarded take is collected; no notice in hands-free
        assert talk.takes.started == [True] and talk.screen.notices == []
        talk.press("i", "enter")
        assert talk.turns.started == [Typed("hi", at=talk.turns.started[0].at)]  # type: ignore[union-attr]
    finally:
        talk.early.shutdown()


def test_a_line_sent_over_the_answer_interrupts_it_and_is_sent_next(talk: Talk) -> None:
    talk.press("o", "k", "enter")
    assert talk.mode() is Mode.ANSWERING
    talk.press("n", "o", "w")
    assert talk.mode() is Mode.TYPING_OVER_ANSWER and not talk.turns.interrupting
    talk.press("backspace", "backspace", "enter")
    assert talk.mode() is Mode.ANSWERING and talk.turns.asked_to_stop()
    talk.turns.finish()
    talk.loop.tick()
    assert [s.text for s in talk.turns.started if isinstance(s, Typed)] == ["ok", "n"]
    assert talk.mode() is Mode.ANSWERING


def test_escape_discards_a_take_and_a_line(talk: Talk) -> None:
    talk.press("space", "escape")
    assert talk.mode() is Mode.IDLE and talk.screen.notices == ["take discarded"]
    talk.press("x", "escape")
    assert talk.mode() is Mode.IDLE and talk.screen.line is None and talk.turns.started == []


def test_a_take_with_no_speech_is_not_sent(talk: Talk) -> None:
    talk.press("space")
    talk.takes.end("silence", had_speech=False)
    talk.loop.tick()
    assert talk.mode() is Mode.IDLE and talk.turns.started == []
    assert talk.screen.notices == ["no speech heard; nothing was sent"]


def test_holding_space_sends_on_release_and_a_tap_does_not() -> None:
    talk = Talk(kitty=True)
    try:
        talk.press("space")
        talk.press("space", kind="release")
        assert talk.mode() is Mode.LISTENING, "a tap toggles: the take goes on"
        talk.press("space")
        assert talk.mode() is Mode.ANSWERING, "the second tap sent it"
        talk.turns.finish()
        talk.loop.tick()
        talk.press("space")
        assert talk.takes.by_space_at is not None
        talk.takes.by_space_at -= HOLD_S + 0.1
        talk.press("space", kind="release")
        assert talk.mode() is Mode.ANSWERING, "held and released: sent"
    finally:
        talk.early.shutdown()


def test_keys_that_mean_nothing_in_a_mode_change_nothing(talk: Talk) -> None:
    talk.press("space", "x", "backspace", "tab")
    assert talk.mode() is Mode.LISTENING and talk.screen.line is None


def test_ctrl_d_quits_from_an_empty_line_and_only_closes_a_full_one(talk: Talk) -> None:
    talk.press("a", "ctrl+d")
    assert not talk.quitting() and talk.mode() is Mode.IDLE
    talk.press("/", "ctrl+d")
    assert not talk.quitting()
    talk.press("ctrl+d")
    assert talk.quitting()


def test_slash_commands_run_and_quit(talk: Talk) -> None:
    talk.press(*"/help", "enter")
    assert talk.commands.ran == ["/help"] and not talk.quitting()
    talk.press(*"/quit", "enter")
    assert talk.quitting() and talk.turns.started == []


def test_a_microphone_that_fails_returns_the_loop_to_idle(talk: Talk) -> None:
    talk.press("space")
    talk.takes.close()  # the take job ended with no take: the microphone failed
    talk.loop.tick()
    assert talk.mode() is Mode.IDLE and talk.screen.states[-1] == "idle"


def test_talking_over_a_reply_stops_it_and_is_answered_next() -> None:
    talk = Talk(hands_free=True, talk_over=True)
    try:
        talk.press(*"hi", "enter")
        assert talk.mode() is Mode.ANSWERING
        assert talk.takes.over_reply == [True], "a take waits for speech over the reply"
        talk.heard.put("speech")
        talk.loop.tick()
        assert talk.turns.asked_to_stop() and talk.mode() is Mode.LISTENING
        talk.takes.end("silence")
        talk.loop.tick()
        assert len(talk.turns.started) == 1, "the reply has not stopped yet: the take waits"
        talk.turns.finish()
        talk.loop.tick()
        (_, said) = talk.turns.started
        assert isinstance(said, Spoken) and talk.mode() is Mode.ANSWERING
        assert said.over_reply, "the turn knows it stopped a reply (its echo is not answered)"
        assert talk.takes.over_reply == [True, True], "and the next reply can be talked over"
    finally:
        talk.early.shutdown()


def test_a_reply_nobody_talked_over_leaves_its_take_waiting() -> None:
    talk = Talk(hands_free=True, talk_over=True)
    try:
        talk.press(*"hi", "enter")
        talk.turns.finish()
        talk.loop.tick()
        assert talk.mode() is Mode.WAITING and len(talk.takes.started) == 1
        assert not talk.turns.asked_to_stop()
        talk.heard.put("speech")  # after the reply: a take like any other
        talk.loop.tick()
        talk.takes.end("silence")
        talk.loop.tick()
        (_, said) = talk.turns.started
        assert isinstance(said, Spoken) and not said.over_reply
    finally:
        talk.early.shutdown()


def test_without_the_echo_canceller_hands_free_does_not_listen_over_a_reply() -> None:
    talk = Talk(hands_free=True, talk_over=False)
    try:
        talk.press(*"hi", "enter")
        assert talk.takes.started == [] and talk.mode() is Mode.ANSWERING
    finally:
        talk.early.shutdown()


def test_speech_soon_after_a_take_ended_at_a_pause_takes_the_turn_back_and_goes_on() -> None:
    """Push-to-talk: a take that ended by itself is answered while the microphone listens on;
    speech within resume_s drops that turn and continues the take, which is answered once,
    when it ends, as one turn."""
    talk = Talk(resume_s=2.0)
    try:
        talk.press("enter")
        talk.takes.end("smart")
        talk.loop.tick()
        assert talk.mode() is Mode.ANSWERING and len(talk.turns.started) == 1
        watch = talk.takes.continues[-1]
        assert watch is not None and watch.until > watch.take.ended_at
        assert len(watch.closed_by) == 2, "without echo cancelling, only until the sound"
        talk.takes.resumed = True
        talk.heard.put("speech")
        talk.loop.tick()
        assert talk.turns.dropped and talk.mode() is Mode.LISTENING
        assert talk.screen.states[-2:] == ["taken back", "listening"]
        talk.takes.end("smart")
        talk.loop.tick()
        assert len(talk.turns.started) == 1, "the continued take waits for the dropped turn"
        talk.turns.finish()
        talk.loop.tick()
        assert len(talk.turns.started) == 2 and talk.mode() is Mode.ANSWERING
        assert talk.screen.notices == []
    finally:
        talk.early.shutdown()


def test_nobody_going_on_leaves_the_answer_alone_and_a_key_take_is_never_continued() -> None:
    talk = Talk(resume_s=2.0)
    try:
        talk.press("enter")
        talk.takes.end("silence")
        talk.loop.tick()
        talk.takes.end("expired", had_speech=False)
        talk.loop.tick()
        assert talk.mode() is Mode.ANSWERING and not talk.turns.dropped
        assert talk.screen.notices == [], "a continuation nobody took up says nothing"
        talk.turns.finish()
        talk.loop.tick()
        talk.loop._confirm_until = 0.0
        talk.press("enter", "enter")  # a take ended by a key
        assert [c is not None for c in talk.takes.continues] == [False, True, False]
        assert not talk.takes.recording, "a take sent with a key is never continued"
        talk.turns.finish()
        talk.loop.tick()
        # An answer that ends before the window does closes it: what follows is a new turn.
        talk.press("enter")
        talk.takes.end("silence")
        talk.loop.tick()
        watch = talk.takes.continues[-1]
        assert watch is not None and watch.open(time.monotonic())
        talk.turns.finish()
        talk.loop.tick()
        assert not watch.open(time.monotonic())
        talk.takes.end("expired", had_speech=False)
        talk.loop.tick()
        assert talk.mode() is Mode.IDLE and talk.screen.states[-1] == "idle"
    finally:
        talk.early.shutdown()


def test_talking_on_over_the_reply_continues_the_take_with_the_echo_cancelled() -> None:
    talk = Talk(hands_free=True, talk_over=True, resume_s=2.0)
    try:
        talk.loop.tick()
        talk.heard.put("speech")
        talk.loop.tick()
        talk.takes.end("smart")
        talk.loop.tick()
        watch = talk.takes.continues[-1]
        assert talk.takes.over_reply[-1] and watch is not None and len(watch.closed_by) == 1
        talk.takes.resumed = True
        talk.heard.put("speech")
        talk.loop.tick()
        assert talk.turns.dropped and talk.mode() is Mode.LISTENING
        assert not talk.loop._spoke_over, "going on is not talking over a reply"
    finally:
        talk.early.shutdown()
