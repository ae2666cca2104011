"""`voicechat talk` when the world breaks under it: the microphone or speaker vanishes, the
session folder turns read-only, the language model's server dies mid-reply. Each is one clear
line on screen, talk stays up, and nothing it acknowledged is lost."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.llm_server import transformers_serve
from tests.support.pulse import play_into_microphone
from tests.support.speech import speak
from tests.support.talk import session_messages, start_talk
from tests.support.tmux import TmuxTerminal

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

SKY = "What colour is the sky?"
SKY_ANSWER = "The sky is blue on a clear day."
STORY = "Tell me a long story about a robot who becomes friends with a fisherman."


def _pactl(pulse: dict[str, str], *args: str) -> str:
    return subprocess.run(
        ["pactl", *args], env={**os.environ, **pulse}, capture_output=True, text=True, check=True
    ).stdout


@contextmanager
def _unloaded(pulse: dict[str, str], module: str, argument: str) -> Iterator[Callable[[], None]]:
    """Unload the PulseAudio module whose arguments contain `argument` (a device vanishes)
    when the block starts using it; load it back afterwards, as the default again."""
    line = next(
        line for line in _pactl(pulse, "list", "short", "modules").splitlines()
        if module in line and argument in line
    )  # fmt: skip
    index, _, args = line.split("\t")[:3]

    def unload() -> None:
        _pactl(pulse, "unload-module", index)

    try:
        yield unload
    finally:
        _pactl(pulse, "load-module", module, *args.split())
        _pactl(pulse, "set-default-source", "vmic")
        _pactl(pulse, "set-default-sink", "vspeaker")


def test_the_microphone_vanishing_mid_take_is_one_line(
    open_talk: Callable[..., TmuxTerminal],
    pulse: dict[str, str],
    isolated_home: Path,
    tmp_path: Path,
) -> None:
    t = open_talk(5000, "--session", "mic")
    question = speak("Please remember to buy milk and bread.", tmp_path / "milk.wav")
    with _unloaded(pulse, "module-remap-source", "source_name=vmic") as unload:
        t.keys("Space")
        t.wait_for("listening")
        time.sleep(2.5)  # the microphone delivers (ALSA's PulseAudio plugin starts slowly)
        play_into_microphone(question, pulse)
        time.sleep(1.0)
        # PulseAudio moves a stream whose source vanished to another source, and this daemon's
        # other sources (the null sinks' monitors) can go on delivering silence into the
        # take, which the silence rule then ends and sends. Where there is nothing to move
        # to, the stream dies with its device: as here.
        for line in _pactl(pulse, "list", "short", "source-outputs").splitlines():
            if "protocol-native" in line:  # a client's recording stream: talk's microphone
                subprocess.run(
                    ["pacmd", "kill-source-output", line.split("\t")[0]],
                    env={**os.environ, **pulse}, capture_output=True, check=True,
                )  # fmt: skip
        unload()
        screen = t.wait_for("error:", timeout=30)
    assert "stopped delivering audio" in screen, screen
    assert "you:" not in screen  # the broken take is not answered
    t.type(SKY)  # talk is still up, and typing works
    t.wait_for(f"assistant: {SKY_ANSWER}")
    t.keys("C-d")
    assert t.wait_exit() == 0
    said, reply = session_messages(isolated_home, "mic")
    assert said["content"] == SKY and reply["content"].startswith(SKY_ANSWER)


def test_the_speaker_vanishing_mid_reply_keeps_the_reply(
    open_talk: Callable[..., TmuxTerminal],
    pulse: dict[str, str],
    isolated_home: Path,
) -> None:
    t = open_talk(800, "--session", "spk")
    with _unloaded(pulse, "module-null-sink", "sink_name=vspeaker") as unload:
        t.type("Tell me a long story.")
        t.wait_for("speaking")
        unload()
        t.wait_for("· turn ", timeout=120)  # the turn ended and showed its timings
    t.type(SKY)
    t.wait_for(f"assistant: {SKY_ANSWER}")
    t.keys("C-d")
    assert t.wait_exit() == 0
    messages = session_messages(isolated_home, "spk")
    assert [m["role"] for m in messages] == ["user", "assistant"] * 2
    assert messages[1]["content"], "the reply written while the speaker vanished is kept"


def _read_only(folder: Path) -> bool:
    """Make `folder` read-only, for root too (immutable); False where that is not possible."""
    if os.geteuid() != 0:
        folder.chmod(0o500)
        return True
    made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
    return made.returncode == 0


def _writable(folder: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True, check=False)
    folder.chmod(0o700)


def test_a_read_only_session_folder_is_one_line_and_loses_nothing(
    open_talk: Callable[..., TmuxTerminal],
    isolated_home: Path,
) -> None:
    t = open_talk(800, "--session", "ro")
    t.type(SKY)
    t.wait_for(f"assistant: {SKY_ANSWER}")
    folder = isolated_home / "sessions"
    if not _read_only(folder):
        pytest.skip("this file system cannot make a folder read-only for root")
    try:
        t.type("How many legs does a spider have?")
        screen = t.wait_for("cannot write the session")
        assert screen.count("error:") == 1
        assert len(session_messages(isolated_home, "ro")) == 2  # the file is intact
    finally:
        _writable(folder)
    t.type("What is the capital of France?")  # writable again: every turn is saved
    t.wait_for("assistant: The capital of France is Paris.")
    t.keys("C-d")
    assert t.wait_exit() == 0
    said = [m["content"] for m in session_messages(isolated_home, "ro") if m["role"] == "user"]
    assert said == [SKY, "How many legs does a spider have?", "What is the capital of France?"]


def test_the_model_server_dying_mid_reply_is_one_line_and_keeps_what_was_written(
    terminal: list[TmuxTerminal],
    pulse: dict[str, str],
    tiny_en_pt: Path,
    smollm2: Path,
    isolated_home: Path,
    tmp_path: Path,
) -> None:
    # SmolLM2 writes a story slowly enough on this CPU to be cut off in the middle of it.
    with transformers_serve(smollm2, tmp_path / "serve.log") as base_url:
        config = tmp_path / "openai.toml"
        config.write_text(
            f'[asr]\nmodel = "{tiny_en_pt}"\n'
            f'[llm]\nengine = "openai"\nmodel = "{smollm2}"\nbase_url = "{base_url}"\n'
            'temperature = 0\nmax_new_tokens = 500\n[tts]\nengine = "piper"\n'
        )
        t = start_talk(terminal, ["--config", str(config), "talk", "-s", "srv"], pulse, tmp_path)
        t.type(STORY)
        t.wait_for("speaking", timeout=120)
        for server in _listening_on(base_url):  # the `transformers serve` process
            os.kill(server, 9)
        screen = t.wait_for("connection was lost during the reply", timeout=60)
    assert "Traceback" not in screen
    t.type(SKY)  # the server is gone: one line again, and talk stays up
    t.wait_for("is the server running?", timeout=60)
    t.keys("C-d")
    assert t.wait_exit() == 0
    messages = session_messages(isolated_home, "srv")
    assert messages[0]["content"] == STORY
    assert messages[1]["error"] and messages[1]["content"] and messages[1]["interrupted"]
    assert messages[2]["content"] == SKY and messages[3]["error"]


def _listening_on(base_url: str) -> list[int]:
    """The pids of processes listening on the port of `base_url`."""
    import psutil

    port = int(base_url.rsplit(":", 1)[1].split("/", maxsplit=1)[0])
    return [
        c.pid
        for c in psutil.net_connections("tcp")
        if c.laddr and c.laddr.port == port and c.status == "LISTEN" and c.pid
    ]
