"""What `voicechat talk` shows (with the CLI's console, the only code that prints).

Finished lines (what you said, the assistant's replies, notices, timings) scroll up as
ordinary output; below them a live region shows the reply being written and one status line:
idle with the key hints, listening with the elapsed time and a level meter, transcribing,
thinking, speaking.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.text import Text

METER = " ▁▂▃▄▅▆▇█"
HINTS = {
    "idle": "[bold]Space[/]/[bold]Enter[/] talk · type to write · [bold]/help[/] · Ctrl-D quit",
    "idle-hold": (
        "hold [bold]Space[/] to talk · Enter talk · type to write · [bold]/help[/] · Ctrl-D quit"
    ),
    "hands-free": "listening for speech… · type to write · [bold]/help[/] · Ctrl-D quit",
}


def level_meter(level_db: float, width: int = 12) -> str:
    """A bar for a level in dBFS (-60 dB empty, 0 dB full)."""
    fill = max(0.0, min(1.0, (level_db + 60.0) / 60.0)) * width
    full = int(fill)
    partial = METER[int((fill - full) * (len(METER) - 1))] if full < width else ""
    return ("█" * full + partial).ljust(width)


class TalkScreen:
    """The talk loop's terminal, safe to update from worker threads."""

    def __init__(self, console: Console, hint: str = "idle") -> None:
        self.console = console
        self._shown = "loading"
        self.hint = hint
        self.line: str | None = None
        self.listening_since = 0.0
        self.level_db = -100.0
        self._reply = ""
        self._said: str | None = None
        self._lock = threading.Lock()
        self._live = Live(
            self,
            console=console,
            refresh_per_second=12,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def __enter__(self) -> TalkScreen:
        self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._live.stop()

    def __rich__(self) -> RenderableType:
        with self._lock:
            parts: list[RenderableType] = []
            if self._said is not None:
                parts.append(Text.from_markup(self._said_line(self._said)))
            if self._reply:
                parts.append(Text(self._reply, style="green"))
            parts.append(Text.from_markup(self._status()))
        return Group(*parts)

    def _status(self) -> str:
        if self.line is not None:
            return f"[bold]›[/] {escape(self.line)}[blink]▏[/]  [dim]Enter send · Esc cancel[/]"
        if self._shown == "listening":
            elapsed = time.monotonic() - self.listening_since
            return (
                f"[bold red]● listening[/] {elapsed:4.1f} s [cyan]{level_meter(self.level_db)}[/]  "
                "[dim]Space/Enter send · Esc discard[/]"
            )
        if self._shown in ("idle", "waiting for speech"):
            return f"[dim]{HINTS[self.hint]}[/]"
        labels = {
            "loading": "loading models…",
            "transcribing": "transcribing…",
            "thinking": "thinking…",
            "speaking": "speaking…  [dim]Space interrupt and talk · Esc stop[/]",
        }
        return f"[yellow]◌ {labels.get(self._shown, self._shown)}[/]"

    def show_state(self, state: str) -> None:
        """Show the loop's state: idle, waiting for speech, listening, transcribing, thinking
        or speaking (the loop owns it; this only draws it)."""
        with self._lock:
            self._shown = state
            if state == "listening":
                self.listening_since = time.monotonic()

    def print(self, markup: str) -> None:
        """A finished line, above the live region (after what was said, when that is still
        shown in it)."""
        with self._lock:
            said, self._said = self._said, None
        if said is not None:
            self._live.console.print(self._said_line(said), soft_wrap=True, highlight=False)
        self._live.console.print(markup, soft_wrap=True, highlight=False)

    def notice(self, message: str) -> None:
        """A one-line notice."""
        self.print(f"[yellow]notice:[/] {escape(message)}")

    def error(self, message: str) -> None:
        """A one-line error that did not end the conversation."""
        self.print(f"[bold red]error:[/] {escape(message)}")

    def user_said(self, text: str) -> None:
        """What the user said or typed: shown above the reply in the live region until the
        next finished line, so a turn taken back (`take_back`) leaves no line, and a take
        that goes on shows one line that grows."""
        with self._lock:
            self._said = text

    def take_back(self) -> None:
        """The person went on speaking: the reply begun for what they had said goes, and
        what they said stays shown, marked as going on, until the whole take's text
        replaces it."""
        with self._lock:
            self._reply = ""
            if self._said is not None and not self._said.endswith(" …"):
                self._said += " …"

    @staticmethod
    def _said_line(text: str) -> str:
        return f"[bold cyan]you:[/] {escape(text)}"

    def reply_piece(self, piece: str) -> None:
        """A piece of the reply, shown as it is written."""
        with self._lock:
            self._reply = (self._reply + piece).lstrip()

    def reply_done(self, text: str, interrupted: bool) -> None:
        """Move the finished reply into the scrollback."""
        with self._lock:
            self._reply = ""
        mark = " [yellow](interrupted)[/]" if interrupted else ""
        self.print(f"[bold green]assistant:[/] {escape(text)}{mark}")

    def timings(self, line: str) -> None:
        """One dim line: speech-to-text, first token, first audio, whole turn."""
        self.print(f"[dim]{escape(line)}[/]")

    def history(self, messages: Sequence[dict[str, Any]], title: str) -> None:
        """Earlier turns, dimmed."""
        self.print(f"[dim]── {escape(title)} ──[/]")
        for m in messages:
            who = "you" if m["role"] == "user" else "assistant"
            mark = " (interrupted)" if m.get("interrupted") else ""
            self.print(f"[dim]{who}: {escape(m['content'])}{mark}[/]")
