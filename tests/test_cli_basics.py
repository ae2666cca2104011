"""The command line's conventions: fast help, exit codes, one-line errors, clean stdout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import REPO, run_cli
from voicechat import __version__

HEAVY = ("torch", "transformers", "whisper", "faster_whisper", "ctranslate2", "numpy")


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["--help"],
        ["transcribe", "--help"],
        ["config", "--help"],
        ["config", "show", "--help"],
        ["ask", "--help"],
        ["sessions", "--help"],
        ["sessions", "list", "--help"],
    ],
)
def test_help_and_version_import_no_heavy_library(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "voicechat", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    top_level = {name.split(".")[0] for name in imported}
    assert not top_level & set(HEAVY), top_level & set(HEAVY)
    assert result.stdout.strip()


def test_version() -> None:
    result = run_cli("--version")
    assert result.stdout.strip() == f"voicechat {__version__}"


def test_help_lists_the_commands() -> None:
    out = run_cli("--help").stdout
    for command in ("ask", "transcribe", "sessions", "config"):
        assert command in out


FLAGS = (
    *("--help", "--json", "--hands-free", "--debug", "--version", "--open", "--no-speak"),
    *("--translate", "--random-weights"),
)


@pytest.mark.parametrize(
    "command", [[], ["talk"], ["ask"], ["transcribe"], ["bench"], ["web"], ["sessions", "export"]]
)
def test_help_shows_flags_without_a_value_and_names_the_values_options_take(
    command: list[str],
) -> None:
    out = run_cli(*command, "--help", env={"COLUMNS": "120"}).stdout
    for line in out.splitlines():
        words = [w for w in line.strip("│ ").split() if not (len(w) == 2 and w[0] == "-")]
        if len(words) < 2 or not words[0].startswith("--"):
            continue
        option, after = words[0], words[1]
        if option in FLAGS:
            assert not after.isupper(), f"{option} shows a value: {line}"
        else:
            assert after.isupper() or after.startswith("<txt|"), f"{option}'s value: {line}"
    assert "--session" not in out or "SESSION" in out


def test_missing_argument_is_a_usage_error() -> None:
    result = run_cli("transcribe")
    assert result.returncode == 2
    assert "Missing argument 'FILES'" in result.stderr
    assert result.stdout == ""


def test_bad_option_value_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("transcribe", str(tmp_path / "a.wav"), "--format", "docx")
    assert result.returncode == 2


def test_error_is_one_line_and_traceback_only_with_debug(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[asr]\nmodel = "small.en"\nbeam = 3\n')
    plain = run_cli("--config", str(config), "config", "show")
    assert plain.returncode == 2
    assert plain.stderr.strip().count("\n") == 0
    assert plain.stderr.startswith("error: ")
    assert "Traceback" not in plain.stderr

    debug = run_cli("--debug", "--config", str(config), "config", "show")
    assert debug.returncode == 2
    assert "Traceback" in debug.stderr
    assert debug.stderr.rstrip().splitlines()[-1].startswith("error: ")


def test_no_color_gives_plain_error_text(tmp_path: Path) -> None:
    result = run_cli(
        "transcribe", str(tmp_path / "none.wav"), env={"NO_COLOR": "1", "TERM": "xterm"}
    )
    assert result.returncode == 1
    assert "\x1b[" not in result.stderr


def test_web_on_a_port_in_use_is_one_line_before_any_model_loads() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("web", "--port", str(port))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: cannot serve on 127.0.0.1:{port} (Address already in use); choose another "
        "--port or --host"
    ]
