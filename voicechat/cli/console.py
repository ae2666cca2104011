"""Where the command line writes: results on stdout, everything else on stderr.

One `Console` per run of a command, made by the app's callback and reached through the
command's context, never a module-level instance: a test can pass its own (streams, colour,
width) and read what a command rendered, as httpie's `Environment` is overwritten in its tests.
stdout carries results only, so `voicechat transcribe a.wav > a.txt` writes just the text.
rich honours NO_COLOR and drops colour when a stream is not a terminal.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

import rich.console
from rich.markup import escape


@dataclass
class Console:
    """The terminal a command renders to.

    out, err: the result and message streams (sys.stdout and sys.stderr when None).
    colour: force colour on or off (None: where the stream is a terminal and NO_COLOR unset).
    width: columns (None: the terminal's).
    """

    out_stream: TextIO | None = None
    err_stream: TextIO | None = None
    colour: bool | None = None
    width: int | None = None
    _reply_open: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.out = self._rich(self.out_stream, stderr=False)
        self.err = self._rich(self.err_stream, stderr=self.err_stream is None)

    def _rich(self, stream: TextIO | None, stderr: bool) -> rich.console.Console:
        return rich.console.Console(
            file=stream,
            stderr=stderr,
            highlight=False,
            width=self.width,
            force_terminal=self.colour,
            no_color=self.colour is False or None,
        )

    @property
    def stdout(self) -> TextIO:
        """The raw result stream (for text written piece by piece)."""
        return self.out_stream or sys.stdout

    def error(self, message: str) -> None:
        """One red line: `error: <message>`."""
        self.err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)

    def notice(self, message: str) -> None:
        """One yellow line for something the user should know but that is not a failure."""
        self.err.print(f"[yellow]notice:[/] {escape(message)}", soft_wrap=True)

    def reply_piece(self, piece: str) -> None:
        """Print a piece of a reply the moment it is written (stdout, unformatted; control
        characters left out)."""
        from voicechat.session import printable

        piece = printable(piece)
        self.stdout.write(piece.lstrip() if not self._reply_open else piece)
        self.stdout.flush()
        self._reply_open = True

    def reply_end(self) -> None:
        """Finish the reply's line."""
        if self._reply_open:
            self.stdout.write("\n")
            self.stdout.flush()
        self._reply_open = False

    def dim(self, line: str) -> None:
        """One dim line on stderr (timings, machine facts)."""
        self.err.print(f"[dim]{escape(line)}[/]", soft_wrap=True)

    def print_json(self, data: dict[str, Any]) -> None:
        """One JSON object on stdout."""
        self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")

    @contextlib.contextmanager
    def working(self, what: str) -> Iterator[None]:
        """A spinner with `what` while slow work (loading a model) runs."""
        with self.err.status(escape(what)):
            yield

    @contextlib.contextmanager
    def loading(self, names: dict[str, str]) -> Iterator[Callable[[str, str], None]]:
        """One spinner line per stage while models load; yields `on_status(stage, state)`.

        names: each stage's engine and model, as shown beside it.
        """
        from rich.progress import Progress, SpinnerColumn, TextColumn

        progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("{task.description}"),
            TextColumn("[dim]{task.fields[state]}"),
            console=self.err,
            transient=True,
        )
        with progress:
            tasks = {
                stage: progress.add_task(f"{stage}: {escape(name)}", total=1, state="waiting")
                for stage, name in names.items()
            }

            def on_status(stage: str, state: str) -> None:
                progress.update(tasks[stage], state=state, completed=1 if state == "ready" else 0)

            yield on_status
