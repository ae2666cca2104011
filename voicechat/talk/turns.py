"""The talk loop's turns: one at a time, each `run_turn` on a worker thread, and how it ended
shown on the screen."""

from __future__ import annotations

import concurrent.futures
import threading
import time

from voicechat.conversation import Conversation
from voicechat.errors import VoicechatError
from voicechat.talk.screen import TalkScreen
from voicechat.turn import Spoken, TurnListener, TurnResult, Typed, run_turn


class Turns:
    """The turn being answered, if any."""

    def __init__(
        self, conversation: Conversation, listener: TurnListener, screen: TalkScreen
    ) -> None:
        self.conversation = conversation
        self.listener = listener
        self.screen = screen
        self.interrupting = False
        """Stop the reply (set by keys; kept up until the turn has ended)."""
        self._jobs = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self._job: concurrent.futures.Future[TurnResult | str] | None = None
        self._cancel = threading.Event()
        self._drop = threading.Event()

    @property
    def busy(self) -> bool:
        """A turn is being answered."""
        return self._job is not None

    def start(self, said: Typed | Spoken) -> None:
        """Answer `said` on the worker."""
        self._cancel, self._drop = threading.Event(), threading.Event()
        self._job = self._jobs.submit(self._run, said, self._cancel, self._drop)

    def drop(self) -> None:
        """Stop the turn under way and take it back: the person went on speaking."""
        self._drop.set()
        self.interrupting = True

    def _run(
        self, said: Typed | Spoken, cancel: threading.Event, drop: threading.Event
    ) -> TurnResult | str:
        """Worker: the turn's result, or its failure as one line."""
        try:
            return run_turn(self.conversation, said, self.listener, cancel=cancel, drop=drop)
        except VoicechatError as e:
            return str(e)

    def ended(self) -> bool:
        """Loop: whether the turn has ended (then shown, once); interrupts it while asked."""
        job = self._job
        if job is None:
            return False
        if self.interrupting:
            self._cancel.set()
            self.conversation.interrupt()
        if not job.done():
            return False
        self._job = None
        self.interrupting = False
        self._show(job.result())
        return True

    def close(self) -> None:
        """Stop the turn under way (it is saved as far as it got) and the worker."""
        while self._job is not None and not self.ended():
            self.interrupting = True
            time.sleep(0.02)
        self._jobs.shutdown(wait=True)

    def _show(self, outcome: TurnResult | str) -> None:
        if not isinstance(outcome, str) and outcome.dropped:
            self.screen.take_back()
        elif isinstance(outcome, str):
            self.screen.error(outcome)
        elif outcome.own_voice:
            self.screen.notice(f"heard the reply's own voice ({outcome.said!r}); not answered")
        elif outcome.stopped:
            self.screen.notice("stopped before the reply began")
        elif outcome.reply is None:
            self.screen.notice("no speech heard; nothing was sent")
        else:
            self.screen.reply_done(outcome.reply.text, outcome.reply.interrupted)
            self.screen.timings(outcome.timings.line())
