"""A progress bar over a recording's duration, for transcribing files."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

if TYPE_CHECKING:
    from voicechat.cli.console import Console


def _clock(seconds: float) -> str:
    """`M:SS`, or `H:MM:SS` from an hour on."""
    s = int(seconds)
    hours, rest = divmod(s, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


@dataclass
class FileProgress:
    """A progress bar over one recording's duration, showing the latest text heard."""

    progress: Progress
    task: TaskID
    total_s: float

    def advance_to(self, seconds: float) -> None:
        """Move the bar to `seconds` into the recording (a length of 0: not declared, so the
        bar pulses and shows the position alone)."""
        if not self.total_s:
            self.progress.update(self.task, position=_clock(seconds))
            return
        self.progress.update(
            self.task,
            completed=min(seconds, self.total_s),
            position=f"{_clock(seconds)} / {_clock(self.total_s)}",
        )

    def show_text(self, text: str) -> None:
        """Show the latest recognised text beside the bar."""
        self.progress.update(self.task, latest=escape(text[-60:]))


@contextlib.contextmanager
def file_progress(console: Console, name: str, total_s: float) -> Iterator[FileProgress]:
    """A transient bar for transcribing one file of `total_s` seconds (0: not declared).

    Writes to a terminal stdout are shown above the bar; redirected stdout is left alone.
    """
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[position]}"),
        TimeRemainingColumn(),
        TextColumn("[dim]{task.fields[latest]}"),
        console=console.err,
        transient=True,
        redirect_stdout=sys.stdout.isatty(),
        redirect_stderr=False,
    )
    with progress:
        total = total_s if total_s > 0 else None  # a recording that declares no length
        task = progress.add_task(escape(name), total=total, position="", latest="")
        bar = FileProgress(progress, task, total_s)
        bar.advance_to(0.0)
        yield bar
