"""Work started at a pause in a take, before the take is known to be over.

A take ends only after `audio.silence_ms` of silence. When the speaker has paused for PAUSE_MS,
what they said so far is transcribed, and once that transcript is ready the reply to it is
started under a `Hold`: written and voiced, but not shown, played or saved. If the take ends at
that pause, both are ready (the reply is released); if the speaker goes on, the reply is
abandoned and the transcript forgotten.

Three threads meet here: the recorder (pauses and resumptions), the transcription worker and
the loop (the end of the take); one lock keeps them in step.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from voicechat.pipeline import Hold
from voicechat.types import AudioClip

log = logging.getLogger(__name__)

Outcome = TypeVar("Outcome")


@dataclass(frozen=True)
class Speculation(Generic[Outcome]):
    """A reply started at a pause in a take that is still being recorded.

    paused_at: samples in the take at the pause; the take must end there for it to count.
    """

    paused_at: int
    text: str
    hold: Hold
    job: concurrent.futures.Future[Outcome]


@dataclass(frozen=True)
class EarlyWork(Generic[Outcome]):
    """What was started at the pause where a take ended.

    reply: the held reply, still running and not yet released; None if there is none.
    transcript: the transcript of the take up to that pause, when there is no reply.
    """

    reply: Speculation[Outcome] | None = None
    transcript: concurrent.futures.Future[str] | None = None


class EarlyStart(Generic[Outcome]):
    """Transcribes at each pause and starts the reply under a hold.

    transcribe: a take's text (runs on this object's worker thread).
    start_reply: starts a held reply to a text and returns its job.
    """

    def __init__(
        self,
        transcribe: Callable[[AudioClip], str],
        start_reply: Callable[[str, Hold], concurrent.futures.Future[Outcome]],
    ) -> None:
        self._transcribe = transcribe
        self._start_reply = start_reply
        self._jobs = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self._lock = threading.Lock()
        self._open_pause: int | None = None  # the running take's pause, while it lasts
        self._transcript: tuple[int, concurrent.futures.Future[str]] | None = None
        self._reply: Speculation[Outcome] | None = None

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

    def take_ended(self, paused_at: int | None, wanted: bool) -> EarlyWork[Outcome]:
        """Loop thread: the take is over. `paused_at`: the take's final pause, if it ended at
        one; `wanted`: the take is to be answered (not discarded, not silent)."""
        with self._lock:
            self._open_pause = None
            reply, self._reply = self._reply, None
            transcript, self._transcript = self._transcript, None
        if not wanted or paused_at is None:
            if reply is not None:
                reply.hold.abandon()
            return EarlyWork()
        if reply is not None and reply.paused_at == paused_at and not reply.job.done():
            return EarlyWork(reply=reply)  # (done before its release: it failed; start afresh)
        if reply is not None:
            reply.hold.abandon()
        if transcript is not None and transcript[0] == paused_at:
            return EarlyWork(transcript=transcript[1])
        return EarlyWork()

    def shutdown(self) -> None:
        """Drop what is under way and stop the worker."""
        with self._lock:
            self._open_pause = None
            self._drop_reply()
        self._jobs.shutdown(wait=True, cancel_futures=True)

    def _at_pause(self, clip: AudioClip) -> str:
        """Worker: the take's text so far; if the take is still paused there, start the reply."""
        text = self._transcribe(clip)
        with self._lock:
            paused_at = len(clip.samples)
            if text and self._open_pause == paused_at and self._reply is None:
                hold = Hold()
                self._reply = Speculation(paused_at, text, hold, self._start_reply(text, hold))
                log.debug("reply started at a pause, held: %r", text)
        return text

    def _drop_reply(self) -> None:
        """Abandon the held reply, if any (hold the lock)."""
        if self._reply is not None:
            log.debug("the speaker went on; held reply dropped: %r", self._reply.text)
            self._reply.hold.abandon()
            self._reply = None
