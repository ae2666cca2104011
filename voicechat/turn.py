"""One voice turn, the only code path every way of talking goes through.

    take or text ─> transcript ─> history fitted to the window ─> reply streamed to
    sentences, voice and speaker ─> session saved, with the turn's timings

`voicechat ask`, `voicechat talk` (typed and spoken turns, and replies begun at a pause) and
`voicechat bench` (both its streaming turns and its sequential baseline) all call `run_turn`.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from voicechat.conversation import Conversation
from voicechat.errors import UsageError, VoicechatError
from voicechat.marks import Marks, Stage
from voicechat.own_voice import is_own_words
from voicechat.reply import Reply, ReplyListener
from voicechat.turn_input import Spoken, Typed

__all__ = ["Spoken", "TurnListener", "TurnResult", "TurnTimings", "Typed", "run_turn"]


CANCEL_POLL_S = 0.02
"""Seconds between checks for a stop while a transcript or a released reply is awaited."""


@dataclass
class TurnListener(ReplyListener):
    """What a turn shows beyond its reply: transcribing, then what was said."""

    on_transcribing: Callable[[], None] = lambda: None
    on_said: Callable[[str], None] = lambda _: None


SHOWN = (Stage.TRANSCRIPT, Stage.FIRST_TOKEN, Stage.FIRST_AUDIO, Stage.END)
"""The stages a turn's one-line summary shows."""


@dataclass(frozen=True)
class TurnTimings:
    """When each stage of a turn happened, in ms from the end of the take (or from when the
    text was sent); None where the stage never happened. Negative: before the take ended
    (a reply begun at a pause). The transcript counts 0 when it was ready as the take ended;
    the first audio is never before a held reply was released."""

    marks: Marks

    def ms(self, stage: Stage) -> float | None:
        """Milliseconds from the turn's start to `stage`."""
        return self.marks.ms(stage)

    def line(self) -> str:
        """ "speech-to-text 420 ms · first token 130 ms · …" for the stages that happened; a
        stage reached before the take ended (a reply begun at a pause) shows as 0 ms."""
        shown = ((stage, self.marks.ms(stage)) for stage in SHOWN)
        return " · ".join(
            f"{stage.label} {max(0.0, ms):.0f} ms" for stage, ms in shown if ms is not None
        )

    def as_dict(self) -> dict[str, float | None]:
        """Rounded to the millisecond, for JSON and session files."""
        return self.marks.as_dict()

    @staticmethod
    def of(
        start: float,
        stt_at: float | None,
        reply: Reply | None = None,
        released_at: float | None = None,
    ) -> TurnTimings:
        """A turn's timings counted from `start` (time.monotonic()): its transcript ready at
        `stt_at`, its reply's own marks, and its end now.

        released_at: when a held reply was let play; nothing was heard before it.
        """
        marks = reply.marks.copy(start) if reply is not None else Marks(start)
        if reply is not None:
            marks.mark(Stage.REPLY_START, reply.marks.start)
            heard = marks.at(Stage.FIRST_AUDIO)
            if heard is not None and released_at is not None and heard < released_at:
                marks.move(Stage.FIRST_AUDIO, released_at)
        if stt_at is not None:
            marks.mark(Stage.TRANSCRIPT, stt_at)
        marks.move(Stage.END, time.monotonic())
        return TurnTimings(marks)


@dataclass(frozen=True)
class TurnResult:
    """How a turn ended. said: what was said or typed ("" for a take with no words in it,
    and then reply is None). stopped: the turn was stopped before its reply began (reply is
    None; what was said, if known, is saved with an empty reply marked interrupted).
    own_voice: the take stopped a reply and held only that reply's words (`own_voice`): its
    echo, not answered or saved (said is what it was heard as; reply is None).
    dropped: the person went on speaking after the take ended (`audio.takes.Continuation`):
    the turn was stopped and taken back, nothing of it kept (reply is None)."""

    said: str
    reply: Reply | None
    timings: TurnTimings
    stopped: bool = False
    own_voice: bool = False
    dropped: bool = False


def run_turn(
    conversation: Conversation,
    said: Typed | Spoken,
    listener: TurnListener,
    keep_audio: bool = False,
    streaming: bool = True,
    cancel: threading.Event | None = None,
    drop: threading.Event | None = None,
) -> TurnResult:
    """Answer one take or text: transcribe, save the question, reply, save the reply.

    A take spoken over a reply that holds only that reply's words is its echo: nothing is
    saved or answered (`TurnResult.own_voice`).

    An interrupted reply is saved as far as it got; a failed one is saved with its error and
    the error raised. streaming: False writes the whole reply before speaking it (bench's
    sequential baseline). cancel: stops the turn wherever it is: between transcription,
    prompt and reply, and the reply itself. drop: set (with `cancel`) when the person went on
    speaking: the turn stops and is taken back from the session (`TurnResult.dropped`).
    """
    cancel = cancel if cancel is not None else threading.Event()
    drop = drop if drop is not None else threading.Event()
    kept = len(conversation.session.messages)
    try:
        result = _answer(conversation, said, listener, keep_audio, streaming, cancel)
    except VoicechatError:
        if not drop.is_set():
            raise
        conversation.forget_since(kept)
        return TurnResult("", None, TurnTimings.of(time.monotonic(), None), dropped=True)
    if drop.is_set():
        conversation.forget_since(kept)
        return TurnResult(result.said, None, result.timings, dropped=True)
    return result


def _answer(
    conversation: Conversation,
    said: Typed | Spoken,
    listener: TurnListener,
    keep_audio: bool,
    streaming: bool,
    cancel: threading.Event,
) -> TurnResult:
    """`run_turn` but for taking a turn back."""
    if isinstance(said, Typed):
        start, text, stt_at = said.at, said.text, None
    else:
        start = said.ended_at
        text, stt_at = _transcript(conversation, said, listener, cancel)
        if not text:
            if said.early is not None:
                said.early.abandon()
            timings = TurnTimings.of(start, stt_at)
            return TurnResult("", None, timings, stopped=cancel.is_set())
        if said.over_reply and is_own_words(text, conversation.last_reply()):
            if said.early is not None:
                said.early.abandon()
            return TurnResult(text, None, TurnTimings.of(start, stt_at), own_voice=True)
    listener.on_said(text)
    early = said.early if isinstance(said, Spoken) else None
    messages = None if early is not None or cancel.is_set() else conversation.prompt(text)
    conversation.save_question(text)
    if cancel.is_set():
        if early is not None:
            early.abandon()
        conversation.save_stopped()
        timings = TurnTimings.of(start, stt_at)
        return TurnResult(text, None, timings, stopped=True)
    released_at = None
    pipeline = None
    try:
        if early is not None:
            released_at = early.release()
            reply = early.result(cancel)
        else:
            assert messages is not None
            pipeline = conversation.reply(
                listener, keep_audio=keep_audio, streaming=streaming, cancel=cancel
            )
            reply = pipeline.run(messages, conversation.options)
    except VoicechatError as e:
        written = "".join(pipeline.pieces).strip() if pipeline is not None else ""
        conversation.save_failure(str(e), written)
        raise
    timings = TurnTimings.of(start, stt_at, reply, released_at)
    conversation.save_reply(reply, timings.as_dict())
    return TurnResult(text, reply, timings)


def _transcript(
    conversation: Conversation, said: Spoken, listener: TurnListener, cancel: threading.Event
) -> tuple[str, float]:
    """The take's text and the time.monotonic() it was there ("" when `cancel` came first);
    a transcript begun at the pause the take ended at counts as there when it ended."""
    if said.early is not None:
        return said.early.text, said.ended_at
    if said.transcript is None and conversation.hear is None:
        raise UsageError("this conversation takes text only")
    listener.on_transcribing()
    if said.transcript is not None:
        while not cancel.is_set():
            done, _ = concurrent.futures.wait([said.transcript], timeout=CANCEL_POLL_S)
            if done:
                break
        text = said.transcript.result() if said.transcript.done() else ""
    else:
        assert conversation.hear is not None
        text = conversation.hear(said.clip)
    return text, time.monotonic()
