"""The early start: a reply begun at a pause in a take, before the take is known to be over.

A take ends after `audio.silence_ms` of silence (or, with the smart end of turn, at a pause
judged to finish it). When the speaker has paused for `SPECULATE_MS`, what they said so far is
transcribed (and judged), and once that transcript is ready a reply to it is started (unless
the pause is judged unfinished), held: written and voiced, but nothing shown or played. If
the take ends at that pause, the turn releases the reply and it plays at once; if the
speaker goes on, it is abandoned and leaves no trace.

The hold is a gate in front of the reply's listener and speaker, so the reply itself runs as
any other. Three threads meet here: the recorder (pauses and resumptions), the transcription
worker and the loop (the end of the take); one lock keeps them in step.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable

from voicechat.asr.longform import Heard, TakeTranscriber
from voicechat.audio.playback import AudioSink
from voicechat.conversation import Conversation, Hear
from voicechat.end_of_turn import TurnJudge, Verdict
from voicechat.reply import Reply, ReplyListener
from voicechat.turn import CANCEL_POLL_S
from voicechat.turn_input import Spoken
from voicechat.types import AudioClip, Message, Take

log = logging.getLogger(__name__)


class _Gate:
    """Closed until opened (released) or shut (abandoned); decided once."""

    def __init__(self) -> None:
        self.decided = threading.Event()
        self.opened = False
        self.opened_at: float | None = None
        """time.monotonic() of the release."""

    def open(self) -> None:
        if not self.decided.is_set():
            self.opened, self.opened_at = True, time.monotonic()
            self.decided.set()

    def shut(self) -> None:
        self.decided.set()


class _GatedListener(ReplyListener):
    """Keeps what the reply shows until the gate opens, then passes it on in order."""

    def __init__(self, inner: ReplyListener, gate: _Gate) -> None:
        super().__init__(self._text, self._notice, self._speaking)
        self._inner, self._gate = inner, gate
        self._lock = threading.Lock()
        self._kept: list[Callable[[], None]] | None = []

    def flush(self) -> None:
        """The gate opened: show what was kept, and everything from now on at once."""
        with self._lock:
            kept, self._kept = self._kept or [], None
            for call in kept:
                call()

    def _pass(self, call: Callable[[], None]) -> None:
        with self._lock:
            if self._kept is None:
                call()
            elif not self._gate.decided.is_set() or self._gate.opened:
                self._kept.append(call)

    def _text(self, piece: str) -> None:
        self._pass(lambda: self._inner.on_text(piece))

    def _notice(self, message: str) -> None:
        self._pass(lambda: self._inner.on_notice(message))

    def _speaking(self) -> None:
        self._pass(self._inner.on_speaking)


class _GatedSink:
    """A speaker that waits for the gate before playing; a shut gate plays nothing."""

    def __init__(self, inner: AudioSink, gate: _Gate) -> None:
        self._inner, self._gate = inner, gate

    def play(self, clip: AudioClip, cancel: threading.Event | None = None) -> bool:
        self._gate.decided.wait()
        return self._gate.opened and self._inner.play(clip, cancel)

    def wait(self, cancel: threading.Event | None = None) -> None:
        if self._gate.opened:
            self._inner.wait(cancel)

    def stop(self) -> None:
        if self._gate.opened:
            self._inner.stop()

    def close(self) -> None:
        self._inner.close()


class EarlyReply:
    """A reply to `text` started at a pause `paused_at` samples into a take, held.

    It is written and its first sentence voiced at once, on its own thread; `release()` lets
    it be shown and heard, `abandon()` stops it unseen. The turn that releases it saves it.
    """

    def __init__(
        self, conversation: Conversation, text: str, paused_at: int, listener: ReplyListener
    ) -> None:
        self.text = text
        self.paused_at = paused_at
        self._gate = _Gate()
        self._listener = _GatedListener(listener, self._gate)
        speaker = conversation.speaker
        gated = _GatedSink(speaker, self._gate) if speaker is not None else None
        messages = conversation.prompt(text)  # before the question joins the history
        self._conversation = conversation
        self._reply = conversation.reply(self._listener, speaker=gated, current=False)
        self._job: concurrent.futures.Future[Reply] = concurrent.futures.Future()
        threading.Thread(
            target=self._run, args=(messages, conversation), name="voicechat-early", daemon=True
        ).start()

    def _run(self, messages: list[Message], conversation: Conversation) -> None:
        try:
            reply = self._reply.run(messages, conversation.options)
        except BaseException as e:
            self._gate.shut()  # a reply that failed while held is never shown
            self._job.set_exception(e)
            return
        self._gate.decided.wait()  # a reply finishes only once it is decided
        self._job.set_result(reply)

    @property
    def abandoned(self) -> bool:
        """Abandoned (or failed) before release: nothing of it will be shown or played."""
        return self._gate.decided.is_set() and not self._gate.opened

    @property
    def failed(self) -> bool:
        """It failed before it was decided (start afresh instead)."""
        return self._job.done() and self._job.exception() is not None

    def release(self) -> float:
        """Show and play it from now on; returns the time.monotonic() of the release."""
        self._conversation.make_current(self._reply)
        self._gate.open()
        self._listener.flush()
        assert self._gate.opened_at is not None
        return self._gate.opened_at

    def abandon(self) -> None:
        """Stop it; nothing of it is shown, played or kept (no-op once released)."""
        self._gate.shut()
        if not self._gate.opened:
            self._reply.interrupt()

    def result(self, cancel: threading.Event | None = None) -> Reply:
        """Wait for the released reply to end, stopping it when `cancel` is set; raises what
        the reply raised."""
        while cancel is not None and not cancel.is_set():
            try:
                return self._job.result(timeout=CANCEL_POLL_S)
            except concurrent.futures.TimeoutError:
                continue
        if cancel is not None:
            self._reply.interrupt()
        return self._job.result()


def _with_sureness(hear: Hear) -> Callable[[AudioClip], Heard]:
    """`hear` telling how sure it was, where it can (a TakeTranscriber can)."""
    if isinstance(hear, TakeTranscriber):
        return hear.heard
    return lambda clip: Heard(hear(clip))


class EarlyStart:
    """Transcribes a take at each pause and starts a held reply to what was said.

    hear: a take's text (runs on this object's worker thread).
    start: starts the held reply to a text at a pause (samples into the take).
    judge, judged: with the smart end of turn, the pause is judged too, and
    `judged(pause in samples, finished, doubt)` told the verdict (`Verdict`).
    """

    def __init__(
        self,
        hear: Hear,
        start: Callable[[str, int], EarlyReply],
        judge: TurnJudge | None = None,
        judged: Callable[[int, bool | None, float], None] = lambda at, finished, doubt: None,
    ) -> None:
        self._heard = _with_sureness(hear)
        self._start = start
        self._judge = judge
        self._judged = judged
        self.verdicts: list[Verdict] = []
        """Every judgement made, in order (for measuring the signals)."""
        self._jobs = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self._voices = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        """Scores the voice at a pause while the take is transcribed."""
        self._lock = threading.Lock()
        self._open_pause: int | None = None  # the running take's pause, while it lasts
        self._transcript: tuple[int, concurrent.futures.Future[str]] | None = None
        self._reply: EarlyReply | None = None

    @classmethod
    def of(
        cls,
        conversation: Conversation,
        listener: ReplyListener,
        judge: TurnJudge | None = None,
        judged: Callable[[int, bool | None, float], None] = lambda at, finished, doubt: None,
    ) -> EarlyStart:
        """The early start of `conversation`'s spoken turns, the one set-up talk and bench
        share: takes heard with the conversation's `hear`, held replies shown through
        `listener` once released."""
        if conversation.hear is None:
            raise ValueError("an early start needs a conversation that hears takes")
        return cls(
            conversation.hear,
            lambda text, at: EarlyReply(conversation, text, at, listener),
            judge,
            judged,
        )

    def paused(self, clip: AudioClip) -> None:
        """Recorder thread: the speaker paused; `clip` is the take so far."""
        with self._lock:
            self._open_pause = len(clip.samples)
            self._transcript = (len(clip.samples), self._jobs.submit(self._at_pause, clip))

    def resumed(self) -> None:
        """Recorder thread: the speaker went on after the pause."""
        with self._lock:
            self._open_pause = None
            self._drop_reply()

    def take_ended(self, take: Take) -> Spoken:
        """Loop thread: the take is over and is to be answered. Returns the turn's input, with
        the reply or the transcript begun at its final pause when it ended there."""
        with self._lock:
            self._open_pause = None
            reply, self._reply = self._reply, None
            transcript, self._transcript = self._transcript, None
        said = Spoken(take.clip, take.ended_at)
        if take.paused_at is None:
            if reply is not None:
                reply.abandon()
            return said
        if reply is not None and reply.paused_at == take.paused_at and not reply.failed:
            return Spoken(take.clip, take.ended_at, early=reply)
        if reply is not None:
            reply.abandon()
        if transcript is not None and transcript[0] == take.paused_at:
            return Spoken(take.clip, take.ended_at, transcript=transcript[1])
        return said

    def drop(self) -> None:
        """Loop thread: the take is not to be answered (discarded, silent, failed)."""
        with self._lock:
            self._open_pause = None
            self._transcript = None
            self._drop_reply()

    def shutdown(self) -> None:
        """Drop what is under way and stop the worker."""
        self.drop()
        self._jobs.shutdown(wait=True, cancel_futures=True)
        self._voices.shutdown(wait=True, cancel_futures=True)

    def _at_pause(self, clip: AudioClip) -> str:
        """Worker: the take's text so far; if the take is still paused there, and the pause is
        not judged unfinished (the person is then waited for, and will likely go on), start
        the reply."""
        paused_at = len(clip.samples)
        if self._open_pause != paused_at:
            return ""  # the speaker went on while this waited: nothing to hear it for
        judge = self._judge
        voice = (
            self._voices.submit(judge.voice_of, clip)
            if judge is not None and judge.hears_voice
            else None
        )
        heard = self._heard(clip)
        text = heard.text
        unfinished = False
        if judge is not None and text and self._open_pause == paused_at:
            verdict = judge(text, clip, heard.logprob, voice)
            self.verdicts.append(verdict)
            log.debug("verdict at this pause: %s", verdict)
            self._judged(paused_at, verdict.complete, verdict.doubt)
            unfinished = verdict.complete is False
        with self._lock:
            if text and not unfinished and self._open_pause == paused_at and self._reply is None:
                self._reply = self._start(text, paused_at)
                log.debug("reply started at a pause, held: %r", text)
        return text

    def _drop_reply(self) -> None:
        """Abandon the held reply, if any (hold the lock)."""
        if self._reply is not None:
            log.debug("the speaker went on; held reply dropped: %r", self._reply.text)
            self._reply.abandon()
            self._reply = None
