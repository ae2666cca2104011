"""SIGINT stops voicechat as Ctrl-C does, however it was started."""

from __future__ import annotations

import signal
import threading


def interrupt_on_sigint() -> None:
    """Raise KeyboardInterrupt on SIGINT even when voicechat was started with SIGINT ignored.

    A shell that starts a command in the background without job control (a script's
    `cmd &`, many CI runners) ignores SIGINT for it, and Python then installs no handler: a
    `kill -INT` would be lost and a reply would play to its end. No terminal sends Ctrl-C to
    such a process, so the only SIGINT it gets is one sent on purpose. Called before anything
    else is imported, so that no moment of start-up loses it either.
    """
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    ):
        signal.signal(signal.SIGINT, signal.default_int_handler)
