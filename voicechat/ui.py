"""Terminal rendering with rich: errors, notices, spinners and progress, all on stderr.

stdout carries results only, so `voicechat transcribe a.wav > a.txt` writes just the text.
rich honours NO_COLOR and drops colour when stderr is not a terminal.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Column, Table

if TYPE_CHECKING:
    from voicechat.audio.devices import AudioDevice
    from voicechat.bench.figures import Span
    from voicechat.session import Session, SessionSummary


TIMING_LABELS = {
    "stt_ms": "speech-to-text",
    "first_token_ms": "first token",
    "first_audio_ms": "first audio",
    "turn_ms": "turn",
}


def timings_line(timings_ms: dict[str, Any]) -> str:
    """ "speech-to-text 420 ms · first token 130 ms · …" for the stages that happened."""
    return " · ".join(
        f"{label} {timings_ms[key]:.0f} ms"
        for key, label in TIMING_LABELS.items()
        if timings_ms.get(key) is not None
    )


def timeline_bar(start_ms: float, end_ms: float, total_ms: float, width: int = 40) -> str:
    """One stage as a bar on a shared time axis of `width` cells."""
    scale = width / max(total_ms, 1e-6)
    left = round(start_ms * scale)
    length = max(1, round((end_ms - start_ms) * scale))
    bar = " " * left + "█" * length
    return f"|{bar[:width].ljust(width)}| {start_ms:6.0f}–{end_ms:.0f} ms"


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
        """Move the bar to `seconds` into the recording."""
        self.progress.update(
            self.task,
            completed=min(seconds, self.total_s),
            position=f"{_clock(seconds)} / {_clock(self.total_s)}",
        )

    def show_text(self, text: str) -> None:
        """Show the latest recognised text beside the bar."""
        self.progress.update(self.task, latest=escape(text[-60:]))


class Ui:
    """Everything voicechat shows on the terminal's stderr."""

    def __init__(self, console: Console | None = None) -> None:
        self.err = console or Console(stderr=True, highlight=False)
        self.out = Console(highlight=False)
        self._reply_open = False

    def reply_piece(self, piece: str) -> None:
        """Print a piece of a reply the moment it is written (stdout, unformatted)."""
        sys.stdout.write(piece.lstrip() if not self._reply_open else piece)
        sys.stdout.flush()
        self._reply_open = True

    def reply_end(self) -> None:
        """Finish the reply's line."""
        if self._reply_open:
            sys.stdout.write("\n")
            sys.stdout.flush()
        self._reply_open = False

    def timings(self, timings_ms: dict[str, float | None]) -> None:
        """One dim line: first token, first audio, whole reply."""
        self.err.print(f"[dim]{timings_line(timings_ms)}[/]")

    @contextlib.contextmanager
    def loading(self, names: dict[str, str]) -> Iterator[Callable[[str, str], None]]:
        """One spinner line per stage while models load; yields `on_status(stage, state)`.

        names: each stage's engine and model, as shown beside it.
        """
        from rich.progress import SpinnerColumn

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

    def device_table(self, devices: list[AudioDevice]) -> None:
        """Audio devices as a table on stdout."""
        table = Table("index", "name", "in", "out", "rate (Hz)", "default", box=None)
        for d in devices:
            default = ", ".join(
                w for w, flag in (("input", d.default_input), ("output", d.default_output)) if flag
            )
            table.add_row(
                str(d.index), escape(d.name), str(d.inputs), str(d.outputs), str(d.rate), default
            )
        self.out.print(table)

    def bench_report(
        self, report: dict[str, Any], streaming: list[Span], sequential: list[Span]
    ) -> None:
        """The per-stage table, the streaming gain, one turn's timeline of each kind."""
        from voicechat.bench.figures import MEASURES

        headers = ("streaming p50", "p90", "sequential p50", "p90")
        table = Table(
            Column("stage", no_wrap=True),
            *(Column(h, justify="right", no_wrap=True) for h in headers),
            box=None,
        )
        for key, label in MEASURES.items():
            s, q = report["streaming"][key], report["sequential"][key]
            unit = "" if key == "tokens_per_s" else " ms"  # the label says "per second"
            table.add_row(
                label,
                f"{s['p50']:.0f}{unit}",
                f"{s['p90']:.0f}{unit}",
                f"{q['p50']:.0f}{unit}",
                f"{q['p90']:.0f}{unit}",
            )
        self.out.print(table)
        self.out.print(
            f"\n[bold]end of speech → first audio: streaming takes "
            f"{report['first_audio_ratio']:.2f} × the sequential time[/]"
        )
        end = max(sp.end_ms for sp in streaming + sequential)
        for title, spans in (("streaming", streaming), ("sequential", sequential)):
            self.out.print(f"\n[bold]{title}[/] (one turn, 0 to {end / 1000:.2f} s)")
            for sp in spans:
                bar = timeline_bar(sp.start_ms, sp.end_ms, end)
                self.out.print(f"{sp.stage:>15} {bar}", soft_wrap=True)
        m = report["machine"]
        machine = ", ".join(f"{k} {v}" for k, v in m.items())
        engines = "; ".join(f"{k}: {v}" for k, v in report["engines"].items())
        memory = ", ".join(f"{k} {v}" for k, v in report["memory"].items())
        turns = f"{report['turns']} turns"
        self.out.print(f"\n[dim]{escape(machine)}\n{escape(engines)}\n{memory}; {turns}.[/]")
        if report["random_weights"]:
            self.out.print("[yellow]Random weights: the figures are speed and memory only.[/]")

    def print_json(self, data: dict[str, Any]) -> None:
        """One JSON object on stdout."""
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")

    def session_table(self, summaries: list[SessionSummary]) -> None:
        """The sessions as a table on stdout."""
        table = Table("session", "messages", "updated", "first message", box=None)
        for s in summaries:
            if s.error:
                table.add_row(escape(s.name), "-", "-", f"[red]{escape(s.error)}[/]")
            else:
                updated = s.updated_at[:16].replace("T", " ")
                table.add_row(escape(s.name), str(s.messages), updated, escape(s.preview))
        self.out.print(table)

    def show_session(self, session: Session) -> None:
        """A conversation, one message after another, on stdout."""
        self.out.print(f"[bold]{escape(session.name)}[/] [dim]started {session.created_at}[/]")
        for m in session.messages:
            who = {"user": "[bold cyan]you[/]", "assistant": "[bold green]assistant[/]"}.get(
                m["role"], escape(m["role"])
            )
            notes = []
            if m.get("interrupted"):
                notes.append("interrupted")
            if m.get("error"):
                notes.append(f"error: {m['error']}")
            extra = f" [yellow]({escape('; '.join(notes))})[/]" if notes else ""
            self.out.print(f"\n{who} [dim]{m.get('created_at', '')}[/]{extra}")
            self.out.print(escape(m["content"]), soft_wrap=True)

    def error(self, message: str) -> None:
        """One red line: `error: <message>`."""
        self.err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)

    def notice(self, message: str) -> None:
        """One yellow line for something the user should know but that is not a failure."""
        self.err.print(f"[yellow]notice:[/] {escape(message)}", soft_wrap=True)

    @contextlib.contextmanager
    def working(self, what: str) -> Iterator[None]:
        """A spinner with `what` while slow work (loading a model) runs."""
        with self.err.status(escape(what)):
            yield

    @contextlib.contextmanager
    def file_progress(self, name: str, total_s: float) -> Iterator[FileProgress]:
        """A transient bar for transcribing one file of `total_s` seconds.

        Writes to a terminal stdout are shown above the bar; redirected stdout is left alone.
        """
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[position]}"),
            TimeRemainingColumn(),
            TextColumn("[dim]{task.fields[latest]}"),
            console=self.err,
            transient=True,
            redirect_stdout=sys.stdout.isatty(),
            redirect_stderr=False,
        )
        with progress:
            task = progress.add_task(
                escape(name), total=max(total_s, 0.001), position="", latest=""
            )
            bar = FileProgress(progress, task, total_s)
            bar.advance_to(0.0)
            yield bar
