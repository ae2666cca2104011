"""What `voicechat web` turned away, told in few lines: the first refusal of each kind at
once, then one line a minute with how many more there were.

Any web page can make a browser send thousands of refused requests; a line for each would
scroll the notices that matter out of the terminal, and a traceback for each would cost the
server more than the requests do.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

SUMMARY_EVERY_S = 60.0
"""Seconds between two lines about the same kind of refusal."""


class Refusals:
    """Counts refusals by kind and tells `show` about them, at most once per kind per
    `every_s` seconds. Safe to use from any thread."""

    def __init__(
        self,
        show: Callable[[str], None],
        every_s: float = SUMMARY_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.show = show
        self.every_s = every_s
        self.clock = clock
        self._shown_at: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def refused(self, kind: str, detail: str = "") -> None:
        """One refusal. kind: what was refused ("a request for another host"); detail: what
        the first one of a minute is shown with."""
        now = self.clock()
        with self._lock:
            shown = self._shown_at.get(kind)
            if shown is not None and now - shown < self.every_s:
                self._held[kind] = self._held.get(kind, 0) + 1
                return
            held = self._held.pop(kind, 0)
            self._shown_at[kind] = now
        more = f" (and {held} more in the last minute)" if held else ""
        self.show(f"refused {kind}{': ' + detail if detail else ''}{more}")

    def flush(self) -> None:
        """Tell the counts held for kinds last shown over `every_s` seconds ago."""
        now = self.clock()
        lines = []
        with self._lock:
            for kind, held in list(self._held.items()):
                if now - self._shown_at[kind] >= self.every_s:
                    del self._held[kind]
                    self._shown_at[kind] = now
                    lines.append(f"refused {held} more: {kind} (in the last minute)")
        for line in lines:
            self.show(line)


class RefusalHandler(logging.Handler):
    """A logging handler that turns the web server's own warnings and errors (uvicorn's,
    asyncio's accept loop) into summarised refusals: one line, never a traceback."""

    def __init__(self, refusals: Refusals) -> None:
        super().__init__(logging.WARNING)
        self.refusals = refusals

    def emit(self, record: logging.LogRecord) -> None:
        first_line = record.getMessage().strip().splitlines()[0][:120] if record.msg else ""
        self.refusals.refused(f"by the server: {first_line or record.levelname}")
