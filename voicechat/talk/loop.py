"""The push-to-talk loop: keys and takes in, turns out, one state at a time.

    idle ──Space/Enter──> listening ──Space/Enter, silence, limit──> transcribing
      ^                     │ Esc / Ctrl-C: discarded                   │ no speech: dropped
      │                     v                                           v
      └────────────────── idle <──── speaking <──── thinking <──── (what you said)
                                       │ Space: barge in (interrupt and listen again)

The loop runs in the main thread and only reacts to keys and finished jobs; recording and each
turn (`run_turn`) run in worker threads, so a key is always answered at once. The loop owns the
state; the screen only shows it. Space or Enter within GRACE_S of a take that ended by itself
(silence, the smart end of turn, the length limit) confirms that take: it never interrupts
its reply or opens a new take.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import time

from voicechat.audio.takes import Take
from voicechat.config import AudioConfig
from voicechat.conversation import Conversation
from voicechat.early_start import EarlyReply, EarlyStart
from voicechat.end_of_turn import TurnJudge
from voicechat.talk.commands import SlashCommands
from voicechat.talk.keys import KeyEvent
from voicechat.talk.screen import TalkScreen
from voicechat.talk.takes import MakeRecorder, Takes
from voicechat.talk.terminal import KeyboardInput
from voicechat.talk.turns import Turns
from voicechat.turn import TurnListener, Typed

log = logging.getLogger(__name__)

HOLD_S = 0.3
"""A Space held longer than this (where releases are reported) sends the take on release;
a shorter tap toggles instead."""
GRACE_S = 1.5
"""Seconds after a take ended by itself in which Space or Enter only confirms it."""


class State(enum.Enum):
    """What the loop is doing, as the status line shows it."""

    IDLE = "idle"
    WAITING = "waiting for speech"
    LISTENING = "listening"
    TRANSCRIBING = "transcribing"
    THINKING = "thinking"
    SPEAKING = "speaking"


class TalkLoop:
    """One `voicechat talk` run.

    make_recorder: opens the microphone when first needed (None: typing only).
    hands_free: voice activity starts and ends every take, and the microphone is ignored
    while the assistant thinks and speaks.
    judge: the smart end of turn, when `audio.end_of_turn = "smart"`.
    """

    def __init__(
        self,
        audio: AudioConfig,
        conversation: Conversation,
        make_recorder: MakeRecorder | None,
        keys: KeyboardInput,
        screen: TalkScreen,
        commands: SlashCommands,
        hands_free: bool,
        judge: TurnJudge | None = None,
    ) -> None:
        self.conversation = conversation
        self.keys = keys
        self.screen = screen
        self.commands = commands
        self.hands_free = hands_free
        self.state = State.IDLE
        self._state_lock = threading.Lock()
        self.listener = TurnListener(
            on_text=screen.reply_piece,
            on_notice=screen.notice,
            on_speaking=lambda: self._set(State.SPEAKING),
            on_transcribing=lambda: self._set(State.TRANSCRIBING),
            on_said=self._said,
        )
        assert conversation.hear is not None
        self._early = EarlyStart(
            conversation.hear,
            lambda text, at: EarlyReply(conversation, text, at, self.listener),
            judge,
            self._judged,
        )
        self.takes = Takes(
            audio,
            make_recorder,
            self._early,
            lambda e: screen.error(f"{e}; type to talk instead"),
            lambda: self._set(State.LISTENING),
        )
        self.turns = Turns(conversation, self.listener, screen)
        self._confirm_until = 0.0  # time.monotonic() until which Space/Enter confirms
        self._barge_in = False
        self._pending_text: str | None = None
        self._quit = False

    def run(self) -> None:
        """Answer keys and finished jobs until the user quits; always leaves saved."""
        # Open the microphone before saying we listen: its first open takes a while, and
        # speech in that time would be lost.
        self.takes.open()
        self._set(State.IDLE)
        try:
            while not self._quit:
                try:
                    event: KeyEvent | None = self.keys.events.get(timeout=0.03)
                except queue.Empty:
                    event = None
                if event is not None:
                    self._on_key(event)
                self._tick()
        finally:
            self._shutdown()

    def _set(self, state: State) -> None:
        """Any thread: the loop is now in `state`."""
        with self._state_lock:
            self.state = state
            self.screen.show_state(state.value)

    def _judged(self, paused_at: int, finished: bool | None) -> None:
        """Early start worker: the smart end of turn's verdict on a pause of the take."""
        self.takes.judged(paused_at, finished)

    def _said(self, text: str) -> None:
        self.screen.user_said(text)
        self._set(State.THINKING)

    def _tick(self) -> None:
        take = self.takes.finished()
        if take is not None:
            self._take_finished(take)
        elif self.state in (State.LISTENING, State.WAITING) and not self.takes.recording:
            self._set(State.IDLE)  # the microphone failed
        if self.turns.ended():
            self._turn_ended()
        if self.state is State.LISTENING:
            self.screen.level_db = self.takes.level_db
        idle = not self.takes.recording and not self.turns.busy and self.screen.line is None
        if self.hands_free and idle and not self.takes.failed and not self._quit:
            self._start_take(wait_for_speech=True)

    def _shutdown(self) -> None:
        self._early.shutdown()
        self.takes.close()
        self.turns.close()

    # Keys -------------------------------------------------------------------------------

    def _on_key(self, event: KeyEvent) -> None:
        confirming = event.key in ("space", "enter") and time.monotonic() < self._confirm_until
        if self.screen.line is not None:
            self._edit_line(event)
        elif confirming:
            log.debug("%s confirmed the take that had just ended", event.key)
        elif self.turns.busy:
            self._key_while_busy(event)
        elif self.takes.recording:
            self._key_while_listening(event)
        else:
            self._key_while_idle(event)

    def _key_while_idle(self, event: KeyEvent) -> None:
        if event.kind != "press":
            return
        if event.key == "space":
            self._start_take(by_space=self.keys.kitty)
        elif event.key == "enter":
            self._start_take()
        elif event.key == "char":
            self.screen.line = event.text
        elif event.key in ("ctrl+c", "ctrl+d"):
            self._quit = True

    def _key_while_listening(self, event: KeyEvent) -> None:
        waiting = self.state is State.WAITING
        if event.key == "space" and event.kind == "release":
            held = self.takes.by_space_at
            if held is not None and time.monotonic() - held >= HOLD_S:
                self.takes.send()  # hold-to-talk: release sends
            self.takes.by_space_at = None
            return
        if event.kind != "press":
            return
        if event.key in ("space", "enter") and not waiting:
            self.takes.send()
        elif event.key in ("escape", "ctrl+c") and not waiting:
            self.takes.discard()
        elif event.key == "char" and waiting:
            self.takes.discard()
            self.screen.line = event.text
        elif event.key == "ctrl+d" or (event.key == "ctrl+c" and waiting):
            self.takes.discard()
            self._quit = True

    def _key_while_busy(self, event: KeyEvent) -> None:
        if event.kind != "press":
            return
        if event.key == "space" and not self.hands_free:
            self._barge_in = True
            self.turns.interrupting = True
        elif event.key == "char":
            self.screen.line = event.text  # typing does not interrupt; sending the line does
        elif event.key in ("escape", "ctrl+c"):
            self.turns.interrupting = True
        elif event.key == "ctrl+d":
            self.turns.interrupting = True
            self._quit = True

    def _edit_line(self, event: KeyEvent) -> None:
        line = self.screen.line or ""
        if event.kind == "release":
            return
        if event.key in ("char", "space"):
            self.screen.line = line + event.text
        elif event.key == "backspace":
            self.screen.line = line[:-1]
        elif event.key in ("escape", "ctrl+c"):
            self.screen.line = None
        elif event.key == "ctrl+d":
            self.screen.line = None
            self._quit = not line
        elif event.key == "enter":
            self.screen.line = None
            text = line.strip()
            if text.startswith("/"):
                self._quit = self.commands.run(text) or self._quit
            elif text and not self.turns.busy:
                self.turns.start(Typed(text))
            elif text:  # sent while a reply runs: interrupt it, then send this
                self._pending_text = text
                self.turns.interrupting = True

    # Takes and turns --------------------------------------------------------------------

    def _start_take(self, by_space: bool = False, wait_for_speech: bool = False) -> None:
        if self.takes.start(by_space, wait_for_speech):
            self._set(State.WAITING if wait_for_speech else State.LISTENING)

    def _take_finished(self, take: Take) -> None:
        self._set(State.IDLE)
        if take.ended_by in ("silence", "smart", "limit"):
            self._confirm_until = take.ended_at + GRACE_S
        if take.ended_by == "discarded" or not take.had_speech:
            self._early.drop()
            if take.ended_by != "discarded":
                self.screen.notice("no speech heard; nothing was sent")
            elif not self.hands_free:
                self.screen.notice("take discarded")
            return
        self.turns.start(self._early.take_ended(take))

    def _turn_ended(self) -> None:
        self._set(State.IDLE)
        if self._quit:
            return
        if self._pending_text is not None:
            text, self._pending_text = self._pending_text, None
            self.turns.start(Typed(text))
        elif self._barge_in:
            self._barge_in = False
            self._start_take()
