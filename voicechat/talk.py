"""The push-to-talk voice loop: keys and takes in, turns out, one state at a time.

    idle ──Space/Enter──> listening ──Space/Enter, silence, limit──> transcribing
      ^                     │ Esc / Ctrl-C: discarded                   │ no speech: dropped
      │                     v                                           v
      └────────────────── idle <──── speaking <──── thinking <──── (what you said)
                                       │ Space: barge in (interrupt and listen again)

The loop runs in the main thread and only reacts to keys and finished jobs; recording and each
turn run in worker threads, so a key is always answered at once.

When the speaker pauses, what they said is transcribed and the reply started while the pause is
still being timed (`talk_early`): if the take ends at that pause the reply plays at once; if the
speaker goes on, it is abandoned unseen and unsaved.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass

from voicechat.asr.base import Transcriber, take_options
from voicechat.asr.longform import TakeTranscriber
from voicechat.assistant import Assistant
from voicechat.audio.devices import MicrophoneUnavailable
from voicechat.audio.takes import Take, TakeRecorder
from voicechat.audio.vad import VoiceActivityDetector
from voicechat.config import Config
from voicechat.errors import VoicechatError
from voicechat.keys import KeyEvent
from voicechat.pipeline import Hold, Reply
from voicechat.talk_commands import SlashCommands
from voicechat.talk_early import EarlyStart
from voicechat.talk_screen import TalkScreen
from voicechat.terminal import KeyboardInput
from voicechat.types import AudioClip

log = logging.getLogger(__name__)

HOLD_S = 0.3
"""A Space held longer than this (where releases are reported) sends the take on release;
a shorter tap toggles instead."""


@dataclass(frozen=True)
class TurnOutcome:
    """How a turn ended. Times in ms from the end of the take (or the Enter of a typed line).

    reply_offset_ms: add to the reply's own timings to count them from there (negative for a
    reply started before the take ended).
    """

    said: str | None = None
    reply: Reply | None = None
    stt_ms: float | None = None
    turn_ms: float | None = None
    error: str | None = None
    reply_offset_ms: float = 0.0

    def figures(self) -> dict[str, float | None]:
        """The timings line: speech-to-text, first token, first audio and whole turn (ms)."""
        t = self.reply.timings if self.reply is not None else None

        def since_take(ms: float | None) -> float | None:
            return None if ms is None else max(0.0, self.reply_offset_ms + ms)

        return {
            "stt_ms": self.stt_ms,
            "first_token_ms": since_take(t.first_token_ms if t else None),
            "first_audio_ms": since_take(t.first_audio_ms if t else None),
            "turn_ms": self.turn_ms,
        }


class TalkLoop:
    """One `voicechat talk` run.

    recorder: None until the microphone is first needed. hands_free: voice activity starts and
    ends every take, and the microphone is ignored while the assistant thinks and speaks.
    """

    def __init__(
        self,
        config: Config,
        assistant: Assistant,
        transcriber: Transcriber,
        file_vad: VoiceActivityDetector,
        make_recorder: type[TakeRecorder] | None,
        keys: KeyboardInput,
        screen: TalkScreen,
        hands_free: bool,
        locks: contextlib.ExitStack,
    ) -> None:
        self.config = config
        self.assistant = assistant
        self.keys = keys
        self.screen = screen
        self.hands_free = hands_free
        self._make_recorder = make_recorder
        self._recorder: TakeRecorder | None = None
        self._jobs = concurrent.futures.ThreadPoolExecutor(max_workers=1)  # the recorder
        self._turn_jobs = concurrent.futures.ThreadPoolExecutor(max_workers=1)  # one at a time
        asr = config.asr
        self._transcribe = TakeTranscriber(
            transcriber, file_vad, take_options(asr.language or None, asr.task)
        )
        self._early: EarlyStart[TurnOutcome] = EarlyStart(
            self._transcribe,
            lambda text, hold: self._turn_jobs.submit(self._run_turn, None, text, None, hold),
        )
        self._take: concurrent.futures.Future[Take] | None = None
        self._take_stop = threading.Event()
        self._take_discard = threading.Event()
        self._take_by_space_at: float | None = None
        self._turn: concurrent.futures.Future[TurnOutcome] | None = None
        self._barge_in = False
        self._pending_text: str | None = None
        self._interrupting = False
        self._quit = False
        self._mic_failed = False
        self.commands = SlashCommands(assistant, screen, locks, config.tts)

    # The loop -------------------------------------------------------------------------

    def run(self) -> None:
        """Answer keys and finished jobs until the user quits; always leaves saved."""
        # Open the microphone before saying we listen: its first open takes a while, and
        # speech in that time would be lost.
        recorder = self._ensure_recorder()
        if recorder is not None:
            try:
                recorder.mic.start()
            except MicrophoneUnavailable as e:
                self._mic_unavailable(e)
        self.screen.set_state("idle")
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

    def _tick(self) -> None:
        if self._take is not None and self._take.done():
            self._take_finished(self._take)
        if self._turn is not None:
            if self._interrupting:
                self.assistant.interrupt()
            if self._turn.done():
                self._turn_finished(self._turn)
        if self.screen.state == "listening" and self._recorder is not None:
            self.screen.level_db = self._recorder.mic.level_db
        idle = self._take is None and self._turn is None and self.screen.line is None
        if self.hands_free and idle and not self._mic_failed and not self._quit:
            self._start_take(wait_for_speech=True)

    def _shutdown(self) -> None:
        self._take_discard.set()
        self._interrupting = True
        self._early.shutdown()
        if self._turn is not None:
            while not self._turn.done():
                self.assistant.interrupt()
                time.sleep(0.02)
            self._turn_finished(self._turn)
        self._jobs.shutdown(wait=True)
        self._turn_jobs.shutdown(wait=True)
        if self._recorder is not None:
            self._recorder.mic.close()

    # Keys -------------------------------------------------------------------------------

    def _on_key(self, event: KeyEvent) -> None:
        if self.screen.line is not None:
            self._edit_line(event)
        elif self._turn is not None:
            self._key_while_busy(event)
        elif self._take is not None:
            self._key_while_listening(event)
        else:
            self._key_while_idle(event)

    def _key_while_idle(self, event: KeyEvent) -> None:
        if event.kind in {"release", "repeat"}:
            return
        if event.key == "space":
            self._start_take(by_space=True)
        elif event.key == "enter":
            self._start_take()
        elif event.key == "char":
            self.screen.line = event.text
        elif event.key in ("ctrl+c", "ctrl+d"):
            self._quit = True

    def _key_while_listening(self, event: KeyEvent) -> None:
        waiting_for_speech = self.hands_free and self.screen.state != "listening"
        if event.key == "space" and event.kind == "release":
            held = self._take_by_space_at
            if held is not None and time.monotonic() - held >= HOLD_S:
                self._take_stop.set()  # hold-to-talk: release sends
            self._take_by_space_at = None
            return
        if event.kind != "press":
            return
        if event.key in ("space", "enter") and not waiting_for_speech:
            self._take_stop.set()
        elif event.key in ("escape", "ctrl+c") and not waiting_for_speech:
            self._take_discard.set()
        elif event.key == "char" and waiting_for_speech:
            self._take_discard.set()
            self.screen.line = event.text
        elif event.key == "ctrl+d" or (event.key == "ctrl+c" and waiting_for_speech):
            self._take_discard.set()
            self._quit = True

    def _key_while_busy(self, event: KeyEvent) -> None:
        if event.kind != "press":
            return
        if event.key == "space" and not self.hands_free:
            self._barge_in = True
            self._interrupting = True
        elif event.key == "char":
            self.screen.line = event.text  # typing does not interrupt; sending the line does
        elif event.key in ("escape", "ctrl+c"):
            self._interrupting = True
        elif event.key == "ctrl+d":
            self._interrupting = True
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
            elif text and self._turn is None:
                self._turn = self._turn_jobs.submit(self._run_turn, None, text)
            elif text:  # sent while a reply runs: interrupt it, then send this
                self._pending_text = text
                self._interrupting = True

    # Takes and turns --------------------------------------------------------------------

    def _ensure_recorder(self) -> TakeRecorder | None:
        """The take recorder, made on first use; None (with one error line) without a mic."""
        if self._recorder is None and self._make_recorder is not None:
            from voicechat.audio.capture import Microphone
            from voicechat.audio.vad import StreamingVad

            audio = self.config.audio
            try:
                self._recorder = self._make_recorder(
                    Microphone(audio.input_device),
                    StreamingVad(),
                    audio.silence_ms,
                    audio.max_record_s,
                )
            except MicrophoneUnavailable as e:
                self._mic_unavailable(e)
        return self._recorder

    def _mic_unavailable(self, error: MicrophoneUnavailable) -> None:
        """Say so once per failure; typing still works."""
        self._mic_failed = True
        self.screen.error(f"{error}; type to talk instead")

    def _start_take(self, by_space: bool = False, wait_for_speech: bool = False) -> None:
        if self._ensure_recorder() is None or self._recorder is None:
            return
        self._take_stop = threading.Event()
        self._take_discard = threading.Event()
        self._take_by_space_at = time.monotonic() if by_space and self.keys.kitty else None
        if not wait_for_speech:
            self.screen.set_state("listening")
        self._take = self._jobs.submit(
            self._recorder.record,
            self._take_stop,
            self._take_discard,
            wait_for_speech,
            lambda: self.screen.set_state("listening"),
            self._early.paused,
            self._early.resumed,
        )

    def _take_finished(self, job: concurrent.futures.Future[Take]) -> None:
        self._take = None
        self.screen.set_state("idle")
        try:
            take = job.result()
        except MicrophoneUnavailable as e:
            self._mic_unavailable(e)
            self._early.take_ended(None, wanted=False)
            return
        wanted = take.had_speech and take.ended_by != "discarded"
        early = self._early.take_ended(take.paused_at, wanted)
        if early.reply is not None:
            log.debug("the take ended at the pause; held reply released")
            self.screen.user_said(early.reply.text)
            self.screen.set_state("thinking")
            early.reply.hold.release()
            self._turn = early.reply.job
            return
        if take.ended_by == "discarded":
            if not self.hands_free:
                self.screen.notice("take discarded")
            return
        if not take.had_speech:
            self.screen.notice("no speech heard; nothing was sent")
            return
        self._turn = self._turn_jobs.submit(self._run_turn, take.clip, None, early.transcript)

    def _run_turn(
        self,
        clip: AudioClip | None,
        text: str | None,
        early: concurrent.futures.Future[str] | None = None,
        hold: Hold | None = None,
    ) -> TurnOutcome:
        """Worker: transcribe (for a take), then reply. Never raises for a failed turn.

        early: a transcript already under way for exactly this take; stt_ms is then only
        the part of it still to wait for. hold: a reply to `text` started at a pause, shown
        (by the loop) and timed only from its release.
        """
        start = time.monotonic()
        stt_ms = None
        try:
            if clip is not None:
                self.screen.set_state("transcribing")
                text = early.result() if early is not None else self._transcribe(clip)
                stt_ms = (time.monotonic() - start) * 1000
                if not text:
                    return TurnOutcome()
            assert text is not None
            if hold is None:
                self.screen.user_said(text)
                self.screen.set_state("thinking")
            reply = self.assistant.reply_to(text, hold=hold)
        except VoicechatError as e:
            return TurnOutcome(said=text, error=str(e))
        if hold is not None:
            released = reply.timings.released_ms or 0.0
            return TurnOutcome(
                said=text,
                reply=reply,
                stt_ms=0.0,
                turn_ms=reply.timings.total_ms - released,
                reply_offset_ms=-released,
            )
        return TurnOutcome(
            said=text,
            reply=reply,
            stt_ms=stt_ms,
            turn_ms=(time.monotonic() - start) * 1000,
            reply_offset_ms=stt_ms or 0.0,
        )

    def _turn_finished(self, job: concurrent.futures.Future[TurnOutcome]) -> None:
        self._turn = None
        self._interrupting = False
        self.screen.set_state("idle")
        outcome = job.result()
        if outcome.error:
            self.screen.error(outcome.error)
        elif outcome.reply is None:
            self.screen.notice("no speech heard; nothing was sent")
        else:
            reply = outcome.reply
            self.screen.reply_done(reply.text, reply.interrupted)
            self.screen.timings(outcome.figures())
        if self._quit:
            return
        if self._pending_text is not None:
            text, self._pending_text = self._pending_text, None
            self._turn = self._turn_jobs.submit(self._run_turn, None, text)
        elif self._barge_in:
            self._barge_in = False
            self._start_take()
