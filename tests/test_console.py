"""Commands render through the console their run is given, so what they show can be read
in-process: results on its stdout, messages on its stderr, nothing on the real streams."""

from __future__ import annotations

import io

import pytest

from voicechat import paths
from voicechat.cli import app
from voicechat.cli.app import AppState
from voicechat.cli.console import Console
from voicechat.session import Session, SessionStore


def run(*args: str) -> tuple[int, str, str]:
    """Run `voicechat ARGS` in this process on a console of its own: (exit code, out, err)."""
    out, err = io.StringIO(), io.StringIO()
    state = AppState(console=Console(out_stream=out, err_stream=err, colour=False, width=100))
    code = app(list(args), prog_name="voicechat", obj=state, standalone_mode=False)
    return (code or 0), out.getvalue(), err.getvalue()


def test_a_session_renders_on_the_given_console(capsys: pytest.CaptureFixture[str]) -> None:
    store = SessionStore(paths.sessions_dir(""))
    session = Session("trip")
    session.add("user", "How far is Dublin?")
    session.add("assistant", "About two hours", interrupted=True)
    store.save(session)

    code, out, err = run("sessions", "show", "trip")

    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("trip started ")
    assert "How far is Dublin?" in lines
    assert any(line.startswith("assistant") and "(interrupted)" in line for line in lines)
    assert "\x1b[" not in out, "colour was turned off"
    assert capsys.readouterr() == ("", ""), "nothing reached the real terminal"


def test_an_error_is_one_line_on_the_given_consoles_stderr() -> None:
    code, out, err = run("sessions", "show", "nowhere")

    assert code != 0 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and "nowhere" in err


def test_json_goes_to_the_given_stdout_alone() -> None:
    code, out, err = run("devices", "--json")

    assert code in (0, 1)
    if code == 0:
        assert out.lstrip().startswith("{") and err == ""
    else:  # no audio system here: one line, no traceback
        assert out == "" and err.startswith("error: ") and "Traceback" not in err
