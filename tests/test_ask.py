"""`voicechat ask` end to end: tiny Phi-3, piper, a PulseAudio speaker, Whisper as the ear."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import REPO, run_cli
from tests.support.pulse import record_speaker
from tests.support.speech import normalise
from tests.support.tiny_phi3 import ANSWERS

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France?"


def _session(home: Path, name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((home / "sessions" / f"{name}.json").read_text())  # type: ignore[no-any-return]


def _hear(path: Path, tiny_en_ct2: Path) -> str:
    """What Whisper tiny.en hears in a recording."""
    result = run_cli("transcribe", str(path), "-e", "faster-whisper", "-m", str(tiny_en_ct2))
    assert result.returncode == 0, result.stderr
    return normalise(result.stdout)


def test_text_only_reply_is_printed_and_saved(assistant_config: Path, isolated_home: Path) -> None:
    result = run_cli(
        "--config", str(assistant_config), "ask", QUESTION, "--no-speak", "--session", "t1"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ANSWERS[QUESTION]
    messages = _session(isolated_home, "t1")["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", QUESTION),
        ("assistant", ANSWERS[QUESTION]),
    ]
    assert messages[1]["interrupted"] is False
    assert messages[1]["engines"]["llm"] == "transformers"
    assert messages[1]["timings_ms"]["first_token_ms"] is not None

    follow = run_cli(
        "--config", str(assistant_config), "ask", "-", "--no-speak", "--session", "t1", "--json",
        stdin="How many legs does a spider have?\n",
    )  # fmt: skip
    assert follow.returncode == 0, follow.stderr
    data = json.loads(follow.stdout)
    assert data["reply"] == ANSWERS["How many legs does a spider have?"]
    assert data["session"] == "t1"
    assert set(data["timings_ms"]) >= {"first_token_ms", "first_audio_ms", "turn_ms"}
    assert len(_session(isolated_home, "t1")["messages"]) == 4

    listed = run_cli("sessions", "list")
    assert "t1" in listed.stdout and "4" in listed.stdout
    shown = run_cli("sessions", "show", "t1")
    assert ANSWERS[QUESTION] in shown.stdout
    md = run_cli("sessions", "export", "t1", "--format", "md")
    assert md.stdout.startswith("# t1") and "**You**" in md.stdout
    exported = json.loads(run_cli("sessions", "export", "t1", "--format", "json").stdout)
    assert exported["messages"][2]["content"] == "How many legs does a spider have?"
    assert run_cli("sessions", "delete", "t1").returncode == 2  # needs --yes without a terminal
    assert run_cli("sessions", "delete", "t1", "--yes").returncode == 0
    assert not (isolated_home / "sessions" / "t1.json").exists()


def test_spoken_reply_is_heard_on_the_speaker(
    assistant_config: Path,
    isolated_home: Path,
    pulse: dict[str, str],
    tiny_en_ct2: Path,
    tmp_path: Path,
) -> None:
    with record_speaker(tmp_path / "speaker.wav", pulse) as recording:
        result = run_cli(
            "--config", str(assistant_config), "ask", QUESTION, "--session", "spoken",
            "--save-audio", str(tmp_path / "reply.wav"),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ANSWERS[QUESTION]
    assert "paris" in _hear(recording, tiny_en_ct2)
    assert "paris" in _hear(tmp_path / "reply.wav", tiny_en_ct2)
    messages = _session(isolated_home, "spoken")["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["engines"]["tts"] == "piper"
    timings = messages[1]["timings_ms"]
    assert timings["first_audio_ms"] is not None
    assert timings["first_audio_ms"] < timings["turn_ms"]


def test_edge_failing_falls_back_to_piper_without_losing_a_sentence(
    tiny_phi3: Path, pulse: dict[str, str], tiny_en_ct2: Path, tmp_path: Path, isolated_home: Path
) -> None:
    """Edge is reached through a proxy on a loopback port nothing listens on: it fails the
    same way, at once, whether or not this machine has a network."""
    from tests.support.llm_server import free_port

    config = tmp_path / "edge.toml"
    config.write_text(
        f'[llm]\nmodel = "{tiny_phi3}"\ntemperature = 0\n[tts]\nengine = "edge"\n'
        f'proxy = "http://127.0.0.1:{free_port()}"\n'
    )
    with record_speaker(tmp_path / "speaker.wav", pulse) as recording:
        result = run_cli("--config", str(config), "ask", QUESTION, "--session", "edge")
    assert result.returncode == 0, result.stderr
    notices = [line for line in result.stderr.splitlines() if "speaking with piper instead" in line]
    assert len(notices) == 1
    heard = _hear(recording, tiny_en_ct2)
    assert "paris" in heard and "eiffel" in heard and "lovely city" in heard, heard
    assert heard.count("paris") == 2, "no sentence lost or repeated across the switch"
    assert _session(isolated_home, "edge")["messages"][1]["engines"]["tts"] == "piper"


def test_no_output_device_still_prints_and_saves(
    assistant_config: Path, isolated_home: Path, tmp_path: Path
) -> None:
    empty_runtime = tmp_path / "no-audio"
    empty_runtime.mkdir(mode=0o700)
    result = run_cli(
        "--config", str(assistant_config), "ask", QUESTION, "--session", "mute",
        env={"XDG_RUNTIME_DIR": str(empty_runtime), "PULSE_SERVER": "unix:/nonexistent",
             "SDL_AUDIODRIVER": "pulseaudio", "AUDIODEV": "none"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ANSWERS[QUESTION]
    assert "the reply is shown but not heard" in result.stderr
    assert "Traceback" not in result.stderr
    assert _session(isolated_home, "mute")["messages"][1]["content"] == ANSWERS[QUESTION]


MOMENTS = {
    "while the models load": None,
    "at the first token": 0.0,
    "in the first sentence": 1.5,
    "sentences later": 6.0,
}
"""When Ctrl-C comes: None before any reply (2 s after start), else seconds after the
reply's first piece was printed (the story takes about 40 s to speak)."""


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_ctrl_c_at_any_moment_stops_and_saves(
    assistant_config: Path, isolated_home: Path, pulse: dict[str, str], moment: str
) -> None:
    """SIGINT stops `ask` at once wherever it is, also when the shell that started it ignores
    SIGINT (a background job without job control, as in CI: Python then installs no handler
    of its own and the reply used to play to its end). What was written is saved."""
    import threading

    after = MOMENTS[moment]
    command = [sys.executable, "-m", "voicechat", "--config", str(assistant_config), "ask",
               "Tell me a long story.", "--session", "story"]  # fmt: skip
    process = subprocess.Popen(
        ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *command],  # started with SIGINT ignored
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **pulse},
    )  # fmt: skip
    stdout = process.stdout
    assert stdout is not None
    first_piece = threading.Event()

    def await_first_piece() -> None:
        stdout.read(1)
        first_piece.set()

    threading.Thread(target=await_first_piece, daemon=True).start()
    if after is None:
        time.sleep(2.0)
    else:
        assert first_piece.wait(timeout=120), process.stderr.read() if process.stderr else ""
        time.sleep(after)
    assert process.poll() is None, f"ask ended before Ctrl-C ({moment})"
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    stopped_after = time.monotonic() - sent
    stderr = process.stderr.read() if process.stderr else ""
    assert process.returncode == 130, (moment, stderr)
    assert "Traceback" not in stderr
    assert stopped_after < 10
    if after is not None:
        reply = _session(isolated_home, "story")["messages"][1]
        assert reply["interrupted"] is True
        assert reply["content"].startswith("Once")  # what was written by then


def test_a_second_process_cannot_interleave_a_turn(
    assistant_config: Path, isolated_home: Path
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from voicechat.session import SessionStore\n"
         "with SessionStore(Path(sys.argv[1])).lock('busy'):\n"
         "    print('held', flush=True); time.sleep(60)",
         str(isolated_home / "sessions")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        holder.stdout.readline()
        result = run_cli(
            "--config", str(assistant_config), "ask", QUESTION, "--no-speak", "--session", "busy"
        )
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1
    assert "in use by another voicechat process" in result.stderr
    assert not (isolated_home / "sessions" / "busy.json").exists()


def test_corrupt_session_is_reported_and_left_alone(
    assistant_config: Path, isolated_home: Path
) -> None:
    folder = isolated_home / "sessions"
    folder.mkdir(parents=True)
    path = folder / "broken.json"
    path.write_text('{"schema_version": 1, "messages": [')
    result = run_cli(
        "--config", str(assistant_config), "ask", QUESTION, "--no-speak", "--session", "broken"
    )
    assert result.returncode == 1
    assert result.stderr.strip().endswith("left untouched")
    assert str(path) in result.stderr
    assert path.read_text() == '{"schema_version": 1, "messages": ['


@pytest.mark.parametrize("name", ["../escape", "a/b"])
def test_bad_session_name_is_a_usage_error(
    assistant_config: Path, name: str, tmp_path: Path
) -> None:
    result = run_cli("--config", str(assistant_config), "ask", QUESTION, "--session", name)
    assert result.returncode == 2
    assert "invalid session name" in result.stderr


def test_the_api_key_is_never_written(tiny_phi3: Path, tmp_path: Path, isolated_home: Path) -> None:
    from tests.support.llm_server import transformers_serve

    secret = "sk-test-9f8e7d6c5b4a39281706"
    with transformers_serve(tiny_phi3, tmp_path / "serve.log") as url:
        config = tmp_path / "remote.toml"
        config.write_text(
            f'[llm]\nengine = "openai"\nmodel = "{tiny_phi3}"\nbase_url = "{url}"\n'
            'temperature = 0\napi_key_env = "VC_TEST_KEY"\n[tts]\nengine = "none"\n'
        )
        result = run_cli(
            "--debug", "--config", str(config), "ask", QUESTION, "--session", "remote", "--json",
            env={"VC_TEST_KEY": secret},
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["reply"] == ANSWERS[QUESTION]
    assert secret not in result.stdout + result.stderr
    for path in isolated_home.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
