"""A spoken turn as talk answers it, for replaying recordings: a take that ended at a pause is
answered at once, and taken back when the person goes on within `audio.resume_s`.

The take recorder, the early start, `run_turn` and the take's continuation
(`audio.takes.Continuation`) are the ones talk runs; this only drives them in order, where
talk's loop drives them from keys and its workers. The microphone is taken to hear the person
through the reply (hands-free with the echo cancelled); a restart whose reply had not yet
sounded (`Restart.sounded_s` 0) is one that a microphone closed by the reply's sound also
catches.
"""

from __future__ import annotations

import concurrent.futures
import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from voicechat.audio.playback import TimedSink
from voicechat.audio.takes import TakeRecorder
from voicechat.conversation import Conversation
from voicechat.early_start import EarlyStart
from voicechat.turn import Spoken, TurnListener, TurnResult, run_turn
from voicechat.types import Continuation, Take


@dataclass(frozen=True)
class Restart:
    """A reply begun for a take that ended at a pause, dropped because the person went on.

    heard_at: time.monotonic() when their speech was heard and the reply stopped.
    sounded_s: how long the reply had been playing then (0: it had not begun to sound).
    """

    heard_at: float
    sounded_s: float


@dataclass(frozen=True)
class SpokenTurn:
    """How a spoken turn went. take: the take answered (the last); result: its turn;
    restarts: the replies dropped on the way, in order; first_ended_at: time.monotonic()
    when the first take ended (where a person who paused was first answered)."""

    take: Take
    result: TurnResult
    restarts: tuple[Restart, ...]
    first_ended_at: float


def answer_spoken(
    conversation: Conversation,
    recorder: TakeRecorder,
    early: EarlyStart,
    listener: TurnListener,
    resume_s: float,
    streaming: bool = True,
) -> SpokenTurn:
    """Record a take and answer it; while the answer runs, listen on, and where speech starts
    within `resume_s` of the take's end, drop the answer and continue the take, as often as
    the person goes on. streaming: False answers the original way (no early start at pauses,
    the whole reply written before it is spoken: bench's sequential baseline)."""
    pauses: dict[str, Callable[..., None]] = (
        {"on_pause": early.paused, "on_resume": early.resumed} if streaming else {}
    )
    take = recorder.record(threading.Event(), threading.Event(), **pauses)  # type: ignore[arg-type]
    first_ended_at = take.ended_at
    restarts: list[Restart] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as worker:
        while True:
            said = early.take_ended(take) if streaming else Spoken(take.clip, take.ended_at)
            if not (resume_s > 0 and take.had_speech and take.ended_itself):
                result = run_turn(conversation, said, listener, streaming=streaming)
                return SpokenTurn(take, result, tuple(restarts), first_ended_at)
            answer = functools.partial(run_turn, streaming=streaming)
            result, then, heard_at = _answer_listening(
                conversation, recorder, worker, said, listener, take, resume_s, pauses, answer
            )
            if heard_at is None:
                return SpokenTurn(take, result, tuple(restarts), first_ended_at)
            began = _first_sound(conversation, take.ended_at, heard_at)
            restarts.append(Restart(heard_at, heard_at - began))
            take = then


def _answer_listening(
    conversation: Conversation,
    recorder: TakeRecorder,
    worker: concurrent.futures.Executor,
    said: Spoken,
    listener: TurnListener,
    take: Take,
    resume_s: float,
    pauses: dict[str, Callable[..., None]],
    answer: Callable[..., TurnResult] = run_turn,
) -> tuple[TurnResult, Take, float | None]:
    """Answer `said` on `worker` while the recorder listens on for speech that continues
    `take`: the turn's result, what the recorder then recorded, and time.monotonic() when
    speech went on (the turn then dropped) or None."""
    cancel, drop = threading.Event(), threading.Event()
    heard: list[float] = []

    def went_on() -> None:
        heard.append(time.monotonic())
        drop.set()
        cancel.set()

    job = worker.submit(answer, conversation, said, listener, cancel=cancel, drop=drop)
    then = recorder.record(
        threading.Event(),
        threading.Event(),
        on_speech_start=went_on,
        continues=Continuation(take, take.ended_at + resume_s),
        **pauses,  # type: ignore[arg-type]
    )
    result = job.result()
    return result, then, heard[0] if then.resumed else None


def _first_sound(conversation: Conversation, since: float, until: float) -> float:
    """When the conversation's speaker (a `TimedSink`) first played after `since`; `until`
    where it played nothing before then (or is not one)."""
    speaker = conversation.speaker
    if not isinstance(speaker, TimedSink):
        return until
    return min((start for start, _ in speaker.played if since <= start < until), default=until)
