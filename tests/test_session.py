"""Session files: atomic, private, locked, versioned, and never overwritten when corrupt."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from voicechat.errors import SessionBusy, SessionError, UsageError
from voicechat.session import (
    SCHEMA_VERSION,
    Session,
    SessionStore,
    validate_name,
)


def test_round_trip_is_private_and_versioned(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions")
    session = Session("talk-1")
    session.add("user", "Hello")
    session.add("assistant", "Hi there.", interrupted=False, timings_ms={"total_ms": 12})
    path = store.save(session)
    assert path.stat().st_mode & 0o777 == 0o600
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert {"id", "created_at", "updated_at", "messages"} <= data.keys()
    loaded = store.load("talk-1")
    assert loaded.messages == session.messages
    assert [m.role for m in loaded.history()] == ["user", "assistant"]


def test_version_0_files_are_migrated(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    (tmp_path / "old.json").write_text(json.dumps([{"role": "user", "content": "hi"}]))
    session = store.load("old")
    assert session.messages[0]["content"] == "hi"
    assert "created_at" in session.messages[0]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{ not json", "corrupt session file"),
        ('{"schema_version": 99, "messages": []}', "newer voicechat"),
        (
            '{"schema_version": 1, "id": "x", "created_at": "", "updated_at": "", "messages": [3]}',
            "messages must be objects",
        ),
        (b"\xff\xfe\x00binary", "corrupt session file"),
    ],
)
def test_unreadable_files_name_their_path_and_stay_untouched(
    tmp_path: Path, content: str | bytes, reason: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = path.read_bytes()
    with pytest.raises(SessionError) as raised:
        SessionStore(tmp_path).load("bad")
    assert str(path) in str(raised.value)
    assert reason in str(raised.value)
    assert path.read_bytes() == before
    listed = SessionStore(tmp_path).list()
    assert listed[0].error and reason in listed[0].error


@pytest.mark.parametrize(
    "name", ["../evil", "a/b", "..", ".hidden", "", "x" * 200, "a\\b", "sp ace"]
)
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(UsageError, match="invalid session name"):
        validate_name(name)


def test_the_lock_keeps_a_second_holder_out(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from voicechat.session import SessionStore\n"
         "with SessionStore(Path(sys.argv[1])).lock('shared'):\n"
         "    print('held', flush=True); time.sleep(30)",
         str(tmp_path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with (
            pytest.raises(SessionBusy, match="in use by another voicechat process"),
            store.lock("shared"),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()
    with store.lock("shared"):  # released when its holder dies
        pass


WRITER = """
import sys
from pathlib import Path
from voicechat.session import Session, SessionStore
store = SessionStore(Path(sys.argv[1]))
session = store.load("busy") if store.exists("busy") else Session("busy")
print("ready", flush=True)
while True:
    session.add("user", "x" * 5000)
    store.save(session)
"""


def test_a_process_killed_mid_write_never_leaves_a_broken_file(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    rng = random.Random(0)
    count = 0
    for _ in range(25):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        assert writer.stdout is not None
        writer.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.15))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        if store.exists("busy"):
            session = store.load("busy")  # must always parse
            assert len(session.messages) >= count
            count = len(session.messages)
    assert count > 0
    # A killed writer may leave its temporary file beside the session, never a bad session.
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert all(name.startswith(".busy.json.") for name in leftovers), leftovers
    others = [".other.json.x.tmp", ".busy.json.b.json.k2x9q0ab.tmp"]  # the second: "busy.json.b"'s
    for name in others:
        (tmp_path / name).write_text("another session's save in flight")
    with store.lock("busy"):  # the next writer clears what dead ones left, and only those
        leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert sorted(leftovers) == sorted(others)
    assert store.load("busy").messages


def test_escape_sequences_typed_into_a_session_never_reach_the_terminal(
    isolated_home: Path,
) -> None:
    """A title change, a screen clear and a C1 control typed in the page are stored as they
    came, and left out wherever the session is shown."""
    from tests.support.cli import run_cli

    typed = "hi\x1b]0;owned\x07 there\x1b[2J\x9b31m\tend\nline two\x7f"
    session = Session("typed")
    session.add("user", typed)
    session.add("assistant", "ok\x1b[5m")
    SessionStore(isolated_home / "sessions").save(session)
    for args in (("list",), ("show", "typed"), ("export", "typed", "--format", "md")):
        shown = run_cli("sessions", *args)
        assert shown.returncode == 0, shown.stderr
        assert not any(c in shown.stdout for c in "\x1b\x07\x9b\x7f"), (args, shown.stdout)
        assert "there" in shown.stdout
    assert "]0;owned there[2J31m" in run_cli("sessions", "show", "typed").stdout  # the rest kept
    exported = run_cli("sessions", "export", "typed", "--format", "json").stdout
    assert json.loads(exported)["messages"][0]["content"] == typed  # kept as typed
