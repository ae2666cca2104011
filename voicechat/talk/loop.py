"""The push-to-talk loop: keys and takes in, turns out, one mode at a time.

    idle ──Space/Enter──> listening ──Space/Enter, silence, limit──> answering ──> idle
     │ ^                    │ Esc / Ctrl-C: discarded (idle)              │ Space: barge in
     │ └── Esc / sent ──┐   │ no speech: dropped (idle)                   │ (interrupt, listen)
     └──a character──> typing                   answering ──a character──> typing over answer

Every key is looked up in one table, `(mode, key) → handler` (`keymap`); what a key does
depends on the mode alone. The mode changes only on the loop's thread, in a handler or when
a take or a turn has ended; recording and each turn (`run_turn`) run on workers, so a key is
always answered at once, and workers only report (the recorder hearing speech comes through
a queue). Space or Enter within GRACE_S of a take that ended by itself (silence, the smart
end of turn, the length limit) is read as "confirm", which does nothing: it never interrupts
the reply or opens a new take.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import queue
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from voicechat.talk.going_on import GoingOn
from voicechat.turn_input import Typed
from voicechat.types import Ended

if TYPE_CHECKING:
    from voicechat.early_start import EarlyStart
    from voicechat.talk.keys import KeyEvent
    from voicechat.talk.parts import Commands, KeySource, Screen, TakeControl, TurnControl
    from voicechat.turn_input import Spoken
    from voicechat.types import Take

log = logging.getLogger(__name__)

HOLD_S = 0.3
"""A Space held longer than this (where releases are reported) sends the take on release;
a shorter tap toggles instead."""
GRACE_S = 1.5
"""Seconds after a take ended by itself in which Space or Enter only confirms it."""
TICK_S = 0.03
"""Seconds the loop waits for a key before checking its workers."""


class Mode(enum.Enum):
    """What the loop is doing, which decides what each key does."""

    IDLE = "idle"
    TYPING = "typing"
    WAITING = "waiting for speech"
    LISTENING = "listening"
    ANSWERING = "answering"
    TYPING_OVER_ANSWER = "typing over the answer"


class TalkLoop:
    """One `voicechat talk` run over its parts (`talk.setup.open_talk_loop` wires the real ones).

    hands_free: voice activity starts and ends every take, and Space does not barge in.
    heard: the recorder's news, read on the loop's thread ("speech": a waiting take heard it).
    talk_over: hands-free with the echo cancelled: a take waits for speech while each reply
    plays, and speech in it interrupts the reply and is the next take.
    going_on: whether speech after a take that ended by itself continues it (the turn begun
    for it then taken back).
    """

    def __init__(
        self,
        keys: KeySource,
        screen: Screen,
        commands: Commands,
        takes: TakeControl,
        turns: TurnControl,
        early: EarlyStart,
        hands_free: bool,
        heard: queue.SimpleQueue[str],
        talk_over: bool = False,
        going_on: GoingOn | None = None,
    ) -> None:
        self.keys, self.screen, self.commands = keys, screen, commands
        self.takes, self.turns, self.early = takes, turns, early
        self.hands_free = hands_free
        self.talk_over = hands_free and talk_over
        self.mode = Mode.IDLE
        self.quit = False
        self._keymap = keymap(hands_free)
        self._heard = heard
        self._confirm_until = 0.0  # time.monotonic() until which Space/Enter confirms
        self._barge_in = False
        self._pending_text: str | None = None
        # A take spoken over a reply that is still ending, and the take it came from.
        self._pending_take: tuple[Spoken, Take] | None = None
        self._spoke_over = False  # the take under way stopped a reply
        self.going_on = going_on or GoingOn(0.0, self.talk_over)

    def run(self) -> None:
        """Answer keys and finished jobs until the user quits; always leaves saved."""
        # Open the microphone before saying we listen: its first open takes a while, and
        # speech in that time would be lost.
        self.takes.open()
        self._enter(Mode.IDLE)
        try:
            while not self.quit:
                try:
                    event: KeyEvent | None = self.keys.events.get(timeout=TICK_S)
                except queue.Empty:
                    event = None
                if event is not None:
                    self.on_key(event)
                self.tick()
        finally:
            self.early.shutdown()
            self.takes.close()
            self.turns.close()

    def on_key(self, event: KeyEvent) -> None:
        """Do what `event` means in the current mode."""
        name = event.key if event.kind == "press" else f"{event.key} {event.kind}"
        typing = self.mode in (Mode.TYPING, Mode.TYPING_OVER_ANSWER)
        if name in ("space", "enter") and not typing and time.monotonic() < self._confirm_until:
            name = "confirm"
        handler = self._keymap.get((self.mode, name))
        if handler is not None:
            handler(self, event)

    def tick(self) -> None:
        """Take in what the workers finished: speech heard, a take, a turn."""
        while not self._heard.empty():
            if self._heard.get() != "speech":
                continue
            watching = self.going_on.seen()
            if self.mode is Mode.WAITING:
                self._enter(Mode.LISTENING)
            elif self.mode is Mode.ANSWERING and watching and self.takes.resumed:
                log.debug("the person went on: the turn is taken back, the take goes on")
                self.turns.drop()
                self.screen.take_back()
                self._enter(Mode.LISTENING)
            elif self.mode is Mode.ANSWERING and self.talk_over:
                log.debug("speech over the reply: it stops, the take goes on")
                self._spoke_over = True
                self.interrupt()
                self._enter(Mode.LISTENING)
        take = self.takes.finished()
        if take is not None:
            self._take_finished(take)
        elif self.mode in (Mode.LISTENING, Mode.WAITING) and not self.takes.recording:
            self._enter(Mode.IDLE)  # the microphone failed
        if self.turns.ended():
            self._turn_ended()
        if self.mode is Mode.LISTENING:
            self.screen.level_db = self.takes.level_db
        if self.hands_free and self.mode is Mode.IDLE and not self.takes.failed and not self.quit:
            self.start_take(wait_for_speech=True)

    def _enter(self, mode: Mode) -> None:
        self.mode = mode
        if mode in (Mode.IDLE, Mode.WAITING, Mode.LISTENING):
            self.screen.show_state(mode.value)

    # Key handlers: (loop, event) -> None, named in `keymap` ---------------------------------

    def start_take(self, by_space: bool = False, wait_for_speech: bool = False) -> None:
        if self.takes.start(by_space, wait_for_speech):
            self._enter(Mode.WAITING if wait_for_speech else Mode.LISTENING)

    def start_by_key(self, event: KeyEvent) -> None:
        self.start_take(by_space=event.key == "space" and self.keys.kitty)

    def send_take(self, _: KeyEvent | None = None) -> None:
        self.takes.send()

    def release_space(self, _: KeyEvent) -> None:
        held = self.takes.by_space_at
        if held is not None and time.monotonic() - held >= HOLD_S:
            self.takes.send()  # hold-to-talk: release sends
        self.takes.by_space_at = None

    def discard_take(self, _: KeyEvent | None = None) -> None:
        self.takes.discard()

    def quit_now(self, _: KeyEvent | None = None) -> None:
        self.quit = True

    def interrupt(self, _: KeyEvent | None = None) -> None:
        self.turns.interrupting = True

    def barge_in(self, _: KeyEvent) -> None:
        self._barge_in = True
        self.interrupt()

    def send_text(self, text: str) -> None:
        """Answer a line typed (sent while a reply runs: interrupt it, then send this)."""
        if self.mode is Mode.IDLE:
            self._start_turn(Typed(text))
        else:
            self._pending_text = text
            self.interrupt()

    # Takes and turns ------------------------------------------------------------------------

    def _start_turn(self, said: Typed | Spoken, ended: Take | None = None) -> None:
        """Answer `said`; `ended`: the take it came from, which the microphone listens to
        continue where it ended by itself at a pause (`resume_s`)."""
        continues = self.going_on.continuation(ended)
        self.turns.start(said)
        self._enter(Mode.TYPING_OVER_ANSWER if self.mode is Mode.TYPING else Mode.ANSWERING)
        if self.mode is not Mode.ANSWERING or self.takes.recording:
            self.going_on.watching = False
        elif self.talk_over:
            self.takes.start(wait_for_speech=True, over_reply=True, continues=continues)
        elif continues is not None:
            self.takes.start(continues=continues)

    def _take_finished(self, take: Take) -> None:
        over_reply, self._spoke_over = self._spoke_over, False
        if self.going_on.seen() and not take.resumed:
            if self.mode is Mode.WAITING:  # the answer ended first
                self._enter(Mode.IDLE)
            return  # nobody went on: the take it waited to continue stands
        if self.mode in (Mode.LISTENING, Mode.WAITING):
            self._enter(Mode.IDLE)
        if take.ended_by in (Ended.SILENCE, Ended.SMART, Ended.LIMIT):
            self._confirm_until = take.ended_at + GRACE_S
        if take.ended_by is Ended.DISCARDED or not take.had_speech:
            self.early.drop()
            if take.ended_by is not Ended.DISCARDED:
                self.screen.notice("no speech heard; nothing was sent")
            elif not self.hands_free:
                self.screen.notice("take discarded")
            return
        said = dataclasses.replace(self.early.take_ended(take), over_reply=over_reply)
        if self.turns.busy:  # spoken over a reply that has not quite stopped yet
            self._pending_take = (said, take)
            self._enter(Mode.ANSWERING)
            return
        self._start_turn(said, take)

    def _turn_ended(self) -> None:
        self.going_on.answered()
        if self.mode is Mode.TYPING_OVER_ANSWER:
            self._enter(Mode.TYPING)
        elif self.mode is Mode.ANSWERING:  # a take waiting over the reply goes on waiting
            self._enter(Mode.WAITING if self.takes.recording else Mode.IDLE)
        barge_in, self._barge_in = self._barge_in, False
        if self.quit:
            return
        if self._pending_take is not None:
            (said, take), self._pending_take = self._pending_take, None
            self._start_turn(said, take)
        elif self._pending_text is not None:
            text, self._pending_text = self._pending_text, None
            self._start_turn(Typed(text))
        elif barge_in and self.mode is Mode.IDLE:
            self.start_take()


Handler = Callable[[TalkLoop, "KeyEvent"], None]


def take_line(loop: TalkLoop) -> str:
    """Close the line being typed; returns what it held."""
    line, loop.screen.line = loop.screen.line or "", None
    answering = loop.mode is Mode.TYPING_OVER_ANSWER
    loop._enter(Mode.ANSWERING if answering else Mode.IDLE)
    return line


def keymap(hands_free: bool) -> dict[tuple[Mode, str], Handler]:
    """What each key does in each mode; a key not listed does nothing there. Keys are named
    as KeyEvent names them, with " release" or " repeat" after a key that was not pressed;
    "confirm" is Space or Enter just after a take ended by itself."""
    loop = TalkLoop

    def discard_and_quit(self: TalkLoop, _: KeyEvent) -> None:
        self.discard_take()
        self.quit_now()

    def interrupt_and_quit(self: TalkLoop, _: KeyEvent) -> None:
        self.interrupt()
        self.quit_now()

    def open_line(self: TalkLoop, event: KeyEvent) -> None:
        if self.takes.recording:
            self.takes.discard()
        answering = self.mode is Mode.ANSWERING
        self._enter(Mode.TYPING_OVER_ANSWER if answering else Mode.TYPING)
        self.screen.line = event.text  # typing does not interrupt; sending the line does

    def close_line(self: TalkLoop, _: KeyEvent) -> None:
        take_line(self)

    def send_line(self: TalkLoop, _: KeyEvent) -> None:
        text = take_line(self).strip()
        if text.startswith("/"):
            self.quit = self.commands.run(text) or self.quit
        elif text:
            self.send_text(text)

    def type_text(self: TalkLoop, event: KeyEvent) -> None:
        self.screen.line = (self.screen.line or "") + event.text

    def erase(self: TalkLoop, _: KeyEvent) -> None:
        self.screen.line = (self.screen.line or "")[:-1]

    def close_line_or_quit(self: TalkLoop, _: KeyEvent) -> None:
        self.quit = not take_line(self)

    table: dict[tuple[Mode, str], Handler] = {
        (Mode.IDLE, "space"): loop.start_by_key,
        (Mode.IDLE, "enter"): loop.start_by_key,
        (Mode.IDLE, "char"): open_line,
        (Mode.IDLE, "ctrl+c"): loop.quit_now,
        (Mode.IDLE, "ctrl+d"): loop.quit_now,
        (Mode.WAITING, "char"): open_line,
        (Mode.WAITING, "ctrl+c"): discard_and_quit,
        (Mode.WAITING, "ctrl+d"): discard_and_quit,
        (Mode.LISTENING, "space"): loop.send_take,
        (Mode.LISTENING, "enter"): loop.send_take,
        (Mode.LISTENING, "space release"): loop.release_space,
        (Mode.LISTENING, "escape"): loop.discard_take,
        (Mode.LISTENING, "ctrl+c"): loop.discard_take,
        (Mode.LISTENING, "ctrl+d"): discard_and_quit,
        (Mode.ANSWERING, "char"): open_line,
        (Mode.ANSWERING, "escape"): loop.interrupt,
        (Mode.ANSWERING, "ctrl+c"): loop.interrupt,
        (Mode.ANSWERING, "ctrl+d"): interrupt_and_quit,
    }
    if not hands_free:
        table[(Mode.ANSWERING, "space")] = loop.barge_in
    line_keys: dict[str, Handler] = {
        "char": type_text,
        "space": type_text,
        "backspace": erase,
        "escape": close_line,
        "ctrl+c": close_line,
        "ctrl+d": close_line_or_quit,
        "enter": send_line,
    }
    for mode in (Mode.TYPING, Mode.TYPING_OVER_ANSWER):
        for key, handler in line_keys.items():
            table[(mode, key)] = table[(mode, f"{key} repeat")] = handler
    return table
