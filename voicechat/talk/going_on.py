"""Whether speech after a take that ended at a pause goes on with that take (`audio.resume_s`).

The talk loop asks for a continuation each time it answers a take; the take recorder then
listens on while the answer runs, and speech that starts while the continuation is open takes
the answer back and continues the take (`audio.takes.Continuation`).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from voicechat.types import Continuation

if TYPE_CHECKING:
    from voicechat.types import Take


class GoingOn:
    """The continuation of each answered take.

    resume_s: how long after a take ended by itself speech still continues it (0: never).
    hears_over_reply: the microphone hears a person through the reply (the echo is
    cancelled); otherwise it listens only until `sounding` is set, at the reply's first sound.
    """

    def __init__(
        self, resume_s: float, hears_over_reply: bool, sounding: threading.Event | None = None
    ) -> None:
        self.resume_s = resume_s
        self.hears_over_reply = hears_over_reply
        self.sounding = sounding if sounding is not None else threading.Event()
        self.watching = False
        """The take under way waits to continue the one being answered."""
        self._answered = threading.Event()

    def continuation(self, ended: Take | None) -> Continuation | None:
        """A turn starts answering `ended` (None: typed text): how speech may continue it,
        None where it may not (a take ended by a key or the length limit)."""
        self.sounding.clear()
        self._answered = threading.Event()
        self.watching = ended is not None and ended.ended_itself and self.resume_s > 0
        if ended is None or not self.watching:
            return None
        closed_by = (self._answered,) if self.hears_over_reply else (self._answered, self.sounding)
        return Continuation(ended, ended.ended_at + self.resume_s, closed_by)

    def answered(self) -> None:
        """The turn has ended: speech from now on is a turn of its own."""
        self._answered.set()

    def seen(self) -> bool:
        """Whether the take under way was waiting to continue the answered one (asked once,
        when it hears speech or ends)."""
        watching, self.watching = self.watching, False
        return watching
