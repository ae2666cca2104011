"""`voicechat bench`'s report on the terminal: the stage table and one turn's timeline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Column, Table

if TYPE_CHECKING:
    from voicechat.bench.figures import Span
    from voicechat.cli.console import Console


def timeline_bar(start_ms: float, end_ms: float, total_ms: float, width: int = 40) -> str:
    """One stage as a bar on a shared time axis of `width` cells."""
    scale = width / max(total_ms, 1e-6)
    left = round(start_ms * scale)
    length = max(1, round((end_ms - start_ms) * scale))
    bar = " " * left + "█" * length
    return f"|{bar[:width].ljust(width)}| {start_ms:6.0f}–{end_ms:.0f} ms"


def render_bench_report(
    console: Console, report: dict[str, Any], streaming: list[Span], sequential: list[Span]
) -> None:
    """On `console`'s stdout: the per-stage table, the streaming gain, and one turn's
    timeline of each kind."""
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
    console.out.print(table)
    console.out.print(
        f"\n[bold]end of speech → first audio: streaming takes "
        f"{report['first_audio_ratio']:.2f} × the sequential time[/]"
    )
    end = max(sp.end_ms for sp in streaming + sequential)
    for title, spans in (("streaming", streaming), ("sequential", sequential)):
        console.out.print(f"\n[bold]{title}[/] (one turn, 0 to {end / 1000:.2f} s)")
        for sp in spans:
            bar = timeline_bar(sp.start_ms, sp.end_ms, end)
            console.out.print(f"{sp.stage:>15} {bar}", soft_wrap=True)
    continued = report["continued"]
    if continued["restarts"]:
        console.out.print(
            f"\n[bold]the question went on after a pause:[/] {continued['restarts']} replies "
            f"begun there were dropped in {continued['turns']} streaming turns (with the "
            f"warm-up), after sounding {continued['sounded_ms_p50']:.0f} ms (p50), "
            f"{continued['sounded_ms_max']:.0f} ms at most"
        )
    m = report["machine"]
    machine = ", ".join(f"{k} {v}" for k, v in m.items())
    engines = "; ".join(f"{k}: {v}" for k, v in report["engines"].items())
    memory = ", ".join(f"{k} {v}" for k, v in report["memory"].items())
    turns = f"{report['turns']} turns"
    console.out.print(f"\n[dim]{escape(machine)}\n{escape(engines)}\n{memory}; {turns}.[/]")
    if report["random_weights"]:
        console.out.print("[yellow]Random weights: the figures are speed and memory only.[/]")
