"""The `voicechat` command line. With its console, the only code that prints or exits.

Each command lives in its own module and registers itself on the one Typer app. Heavy
libraries (torch, whisper, transformers) are imported inside commands, so `--help` and
`--version` answer at once.
"""

from __future__ import annotations

from voicechat.cli.interrupt import interrupt_on_sigint

interrupt_on_sigint()  # before the imports below, which take a while

from voicechat.cli import ask, bench, config_cmd, sessions, talk, transcribe, web  # noqa: E402
from voicechat.cli.app import app  # noqa: E402

__all__ = [
    "app",
    "ask",
    "bench",
    "config_cmd",
    "main",
    "sessions",
    "talk",
    "transcribe",
    "web",
]


def main() -> None:
    """Entry point of the `voicechat` console script."""
    app(prog_name="voicechat")
