"""A private PulseAudio daemon with a virtual speaker and a virtual microphone.

`vspeaker` is the default sink: whatever voicechat plays can be recorded from its monitor.
`vmic` is the default source: whatever is played into `vmic_sink` is what the microphone hears.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def available() -> bool:
    """Whether the PulseAudio daemon and its tools are installed."""
    return all(shutil.which(tool) for tool in ("pulseaudio", "pactl", "parecord", "paplay"))


@contextmanager
def pulse_daemon() -> Iterator[dict[str, str]]:
    """Start the daemon; yield the environment that reaches it; stop it by its pid."""
    runtime = Path(tempfile.mkdtemp(prefix="voicechat-pulse-"))
    runtime.chmod(0o700)
    env = {
        **os.environ,
        "XDG_RUNTIME_DIR": str(runtime),
        "PULSE_RUNTIME_PATH": str(runtime / "pulse"),
    }
    subprocess.run(
        [
            "pulseaudio", "--daemonize=yes", "--exit-idle-time=-1", "-n",
            "--load=module-native-protocol-unix",
            "--load=module-null-sink sink_name=vspeaker",
            "--load=module-null-sink sink_name=vmic_sink",
            "--load=module-remap-source master=vmic_sink.monitor source_name=vmic",
        ],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    for _ in range(50):
        if (
            subprocess.run(["pactl", "info"], env=env, capture_output=True, check=False).returncode
            == 0
        ):
            break
        time.sleep(0.1)
    subprocess.run(["pactl", "set-default-sink", "vspeaker"], env=env, check=True)
    subprocess.run(["pactl", "set-default-source", "vmic"], env=env, check=True)
    pid_file = runtime / "pulse" / "pid"
    try:
        yield {k: env[k] for k in ("XDG_RUNTIME_DIR", "PULSE_RUNTIME_PATH")}
    finally:
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, signal.SIGTERM)
        shutil.rmtree(runtime, ignore_errors=True)


@contextmanager
def record_speaker(path: Path, env: dict[str, str]) -> Iterator[Path]:
    """Record everything played to the virtual speaker into `path` (WAV) while in the block."""
    recorder = subprocess.Popen(
        ["parecord", "--device=vspeaker.monitor", "--file-format=wav", str(path)],
        env={**os.environ, **env},
    )
    time.sleep(0.3)
    try:
        yield path
    finally:
        time.sleep(0.3)
        recorder.send_signal(signal.SIGINT)
        recorder.wait(timeout=10)


@contextmanager
def speaker_leaking_into_microphone(env: dict[str, str], latency_ms: int = 30) -> Iterator[None]:
    """While in the block, what the virtual speaker plays reaches the virtual microphone
    `latency_ms` later, at full level (a room carrying a loudspeaker to a laptop's microphone)."""
    full = {**os.environ, **env}
    loaded = subprocess.run(
        [
            "pactl", "load-module", "module-loopback", "source=vspeaker.monitor",
            "sink=vmic_sink", f"latency_msec={latency_ms}", "adjust_time=0",
        ],
        env=full, check=True, capture_output=True, text=True,
    )  # fmt: skip
    try:
        yield
    finally:
        subprocess.run(["pactl", "unload-module", loaded.stdout.strip()], env=full, check=False)


def play_into_microphone(path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start playing `path` into the virtual microphone; returns the running player."""
    return subprocess.Popen(["paplay", "--device=vmic_sink", str(path)], env={**os.environ, **env})
