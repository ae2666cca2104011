"""How long `voicechat --help` takes against the floor for any Typer CLI, in one run.

    python benchmarks/startup.py [--runs N]

The floor is a bare Typer app with five commands and nothing else: whatever `voicechat --help`
takes beyond it is voicechat's own start-up (its imports, its config, its registry). Both are
started as fresh processes, alternately, N times each; the medians and their ratio are printed
(the goal: under 1.3 times).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

BARE_APP = '''
import typer

app = typer.Typer(add_completion=False, rich_markup_mode="markdown")

for name in ("ask", "talk", "transcribe", "sessions", "bench"):
    def command(text: str = typer.Option("", help="Some text.")) -> None:
        """A command."""
    app.command(name)(command)

app()
'''


def seconds(command: list[str]) -> float:
    """Wall time of one run of `command` (which must succeed)."""
    start = time.perf_counter()
    subprocess.run(command, capture_output=True, check=True, cwd=REPO)
    return time.perf_counter() - start


def measure(runs: int) -> dict[str, float]:
    """Medians (s) of `voicechat --help` and of the bare app's, and their ratio."""
    with tempfile.TemporaryDirectory() as folder:
        bare = Path(folder) / "bare_typer_app.py"
        bare.write_text(BARE_APP)
        commands = {
            "voicechat": [sys.executable, "-m", "voicechat", "--help"],
            "bare typer": [sys.executable, str(bare), "--help"],
        }
        for command in commands.values():
            seconds(command)  # warm the file cache
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, command in commands.items():
                times[name].append(seconds(command))
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {**medians, "ratio": medians["voicechat"] / medians["bare typer"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    figures = measure(args.runs)
    print(
        f"voicechat --help {figures['voicechat'] * 1000:.0f} ms, bare Typer app "
        f"{figures['bare typer'] * 1000:.0f} ms (medians of {args.runs}): "
        f"{figures['ratio']:.2f} ×"
    )


if __name__ == "__main__":
    main()
