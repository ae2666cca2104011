"""A real terminal for interactive tests: voicechat running inside a private tmux server."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.support.cli import REPO


class TmuxTerminal:
    """`voicechat ARGS` in a 120x40 tmux window; after it exits, the window records its exit
    code and the terminal's settings (`stty -a`) so a test can check they were restored."""

    def __init__(self, args: list[str], env: dict[str, str], workdir: Path) -> None:
        self.socket = f"vc-{uuid.uuid4().hex[:8]}"
        self.workdir = workdir
        self.exit_file = workdir / "exit-code"
        self.stty_file = workdir / "stty"
        command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "voicechat", *args])
        script = (
            f"cd {shlex.quote(str(REPO))}; {command}; echo $? > {shlex.quote(str(self.exit_file))};"
            f" stty -a > {shlex.quote(str(self.stty_file))}; sleep 600"
        )
        env_args = [arg for k, v in env.items() for arg in ("-e", f"{k}={v}")]
        self._tmux(
            "new-session", "-d", "-s", "T", "-x", "120", "-y", "40", *env_args, "bash", "-c", script
        )

    def _tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True,
            env={k: v for k, v in os.environ.items() if k != "TMUX"},
        )  # fmt: skip
        return result.stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        """Send keys ("Space", "Enter", "Escape", "C-c", "C-d") or, with literal, text."""
        self._tmux("send-keys", "-t", "T", *(["-l"] if literal else []), *keys)

    def type(self, text: str) -> None:
        """Type `text` as a person would, then Enter."""
        self.keys(text, literal=True)
        self.keys("Enter")

    def screen(self) -> str:
        """What the window shows now."""
        return self._tmux("capture-pane", "-p", "-J", "-t", "T")

    def wait_for(self, text: str, timeout: float = 60.0, after: int = 0) -> str:
        """Wait until `text` is on screen (at least `after` + 1 times); return the screen."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if screen.count(text) > after:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen}")
            time.sleep(0.1)

    def wait_exit(self, timeout: float = 30.0) -> int:
        """Wait for voicechat to exit; return its exit code."""
        deadline = time.monotonic() + timeout
        while not self.stty_file.exists() or not self.stty_file.read_text():
            if time.monotonic() > deadline:
                raise AssertionError(f"voicechat did not exit; the screen was:\n{self.screen()}")
            time.sleep(0.1)
        return int(self.exit_file.read_text().strip())

    def cursor_visible(self) -> bool:
        """Whether the terminal's cursor is shown."""
        return self._tmux("display-message", "-p", "-t", "T", "#{cursor_flag}").strip() == "1"

    def close(self) -> None:
        """Stop the tmux server."""
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)
