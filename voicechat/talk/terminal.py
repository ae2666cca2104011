"""The interactive terminal: keys one at a time, always restored on the way out.

`KeyboardInput` puts the terminal in a raw-ish mode (no line buffering, no echo, no signal
keys: Ctrl-C arrives as a key so it can mean "discard this take"), reads keys in a thread, and
turns the kitty keyboard protocol on where the terminal supports it. Leaving the context, by
any path, restores the terminal's settings and pops the keyboard mode.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import sys
import termios
import threading
import time
from types import TracebackType
from typing import Any

from voicechat.talk.keys import KITTY_POP, KITTY_PUSH, KITTY_QUERY, KeyDecoder, KeyEvent

ESC_TIMEOUT_S = 0.05
"""A lone Esc is the Esc key when nothing follows it within this many seconds."""
QUERY_TIMEOUT_S = 0.5
"""Seconds to wait for the terminal to answer the keyboard-protocol query."""


class KeyboardInput:
    """Key events from the terminal on `fd`, in a queue.

    kitty: whether key releases are reported (hold-to-talk works).
    """

    def __init__(self, fd: int | None = None) -> None:
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.events: queue.Queue[KeyEvent] = queue.Queue()
        self.kitty = False
        self._saved: list[Any] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._decoder = KeyDecoder()

    def __enter__(self) -> KeyboardInput:
        self._saved = termios.tcgetattr(self.fd)
        mode = termios.tcgetattr(self.fd)
        mode[3] &= ~(termios.ICANON | termios.ECHO | termios.ISIG | termios.IEXTEN)  # lflags
        mode[0] &= ~(termios.IXON | termios.ICRNL)  # iflags: Ctrl-S/Q are keys, Enter is \r
        mode[6][termios.VMIN] = 1
        mode[6][termios.VTIME] = 0
        termios.tcsetattr(self.fd, termios.TCSANOW, mode)
        self.kitty = self._detect_kitty()
        if self.kitty:
            self._write(KITTY_PUSH)
        self._thread = threading.Thread(target=self._read_loop, name="voicechat-keys", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading and restore the terminal exactly as it was (safe to call twice)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None
        if self._saved is not None:
            if self.kitty:
                self._write(KITTY_POP)
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError):
            os.write(sys.stdout.fileno(), text.encode())

    def _detect_kitty(self) -> bool:
        """Ask the terminal; only a flags reply before the attributes reply means support."""
        self._write(KITTY_QUERY)
        deadline = time.monotonic() + QUERY_TIMEOUT_S
        decoder = KeyDecoder()
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            for event in decoder.feed(os.read(self.fd, 1024)):
                if event.key == "kitty-flags":
                    return True
                if event.key == "device-attributes":
                    return False
                self.events.put(event)  # a key typed during start-up is kept
        return False

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.fd], [], [], ESC_TIMEOUT_S)
            if not ready:
                for event in self._decoder.flush():
                    self.events.put(event)
                continue
            try:
                data = os.read(self.fd, 1024)
            except OSError:
                return
            if not data:  # the terminal went away
                self.events.put(KeyEvent("ctrl+d"))
                return
            for event in self._decoder.feed(data):
                if event.key not in ("kitty-flags", "device-attributes"):
                    self.events.put(event)
