"""Conversation history in JSON files: one file per session, never lost or half-written.

A session file is `{"schema_version", "id", "created_at", "updated_at", "messages": [...]}`.
Writes go through a temporary file, fsync and rename, and the file is private to its owner
(0600). A lock file keeps two processes from interleaving turns in one session. A file that
cannot be read is reported with its path and never overwritten. Older layouts are upgraded
on load through `MIGRATIONS`, in order.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voicechat.errors import SessionBusy, SessionError, UsageError
from voicechat.fileio import atomic_text_writer, leftover_temp_files
from voicechat.types import Message

SCHEMA_VERSION = 1
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
FILE_MODE = 0o600
DIR_MODE = 0o700


def now() -> str:
    """The current UTC time as ISO 8601 with seconds ("2026-11-25T17:03:12+00:00")."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _from_v0(data: Any) -> dict[str, Any]:
    """Version 0 was a bare list of {"role", "content"} messages."""
    if not isinstance(data, list):
        raise ValueError("expected a list of messages")
    stamp = now()
    return {
        "schema_version": 1,
        "id": uuid.uuid4().hex,
        "created_at": stamp,
        "updated_at": stamp,
        "messages": [{**m, "created_at": m.get("created_at", stamp)} for m in data],
    }


MIGRATIONS: dict[int, Callable[[Any], dict[str, Any]]] = {0: _from_v0}
"""MIGRATIONS[n] upgrades a version-n document to version n + 1."""


def validate_name(name: str) -> str:
    """A session name: letters, digits, '.', '_' and '-', no path separators and no '..'."""
    if not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise UsageError(
            f"invalid session name {name!r}: use letters, digits, '.', '_' and '-' "
            "(no '/' or '..'), at most 128 characters"
        )
    return name


@dataclass
class Session:
    """One conversation. messages: dicts with role, content, created_at and per-role extras."""

    name: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def add(self, role: str, content: str, **extra: Any) -> dict[str, Any]:
        """Append a message stamped with the current time and return it."""
        message = {"role": role, "content": content, "created_at": now(), **extra}
        self.messages.append(message)
        return message

    def history(self) -> list[Message]:
        """The turns to show the model: user and assistant messages with text."""
        return [
            Message(m["role"], m["content"])
            for m in self.messages
            if m.get("role") in ("user", "assistant") and m.get("content")
        ]

    def to_json(self) -> dict[str, Any]:
        """The file's document."""
        return {
            "schema_version": SCHEMA_VERSION,
            "id": self.id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "messages": self.messages,
        }


@dataclass(frozen=True)
class SessionSummary:
    """A line of `voicechat sessions list`. error: why the file is unreadable, if it is."""

    name: str
    messages: int
    updated_at: str
    preview: str
    error: str | None = None


class SessionStore:
    """The session files in one folder."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str) -> Path:
        """The file for session `name` (validated)."""
        return self.directory / f"{validate_name(name)}.json"

    def exists(self, name: str) -> bool:
        """Whether session `name` has a file."""
        return self.path(name).exists()

    def load(self, name: str) -> Session:
        """Read session `name`, upgrading an older schema; unreadable files raise SessionError."""
        path = self.path(name)
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SessionError(f"no session named {name!r} (looked for {path})") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise SessionError(f"{path}: corrupt session file ({e}); left untouched") from None
        except OSError as e:
            raise SessionError(f"{path}: cannot read ({e.strerror})") from None
        try:
            return self._from_document(name, data)
        except (ValueError, KeyError, TypeError) as e:
            raise SessionError(f"{path}: corrupt session file ({e}); left untouched") from None

    @staticmethod
    def _from_document(name: str, data: Any) -> Session:
        version = data.get("schema_version", 0) if isinstance(data, dict) else 0
        if not isinstance(version, int) or version < 0:
            raise ValueError(f"bad schema_version {version!r}")
        if version > SCHEMA_VERSION:
            raise ValueError(f"written by a newer voicechat (schema {version})")
        while version < SCHEMA_VERSION:
            data = MIGRATIONS[version](data)
            version += 1
        messages = data["messages"]
        if not isinstance(messages, list) or not all(
            isinstance(m, dict)
            and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str)
            for m in messages
        ):
            raise ValueError("messages must be objects with a role and a content")
        return Session(
            name=name,
            id=str(data["id"]),
            created_at=str(data["created_at"]),
            updated_at=str(data["updated_at"]),
            messages=messages,
        )

    def save(self, session: Session) -> Path:
        """Write `session` atomically, private to its owner."""
        path = self.path(session.name)
        self.directory.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        session.updated_at = now()
        try:
            with atomic_text_writer(path, mode=FILE_MODE) as fh:
                json.dump(session.to_json(), fh, ensure_ascii=False, indent=2)
                fh.write("\n")
        except OSError as e:
            raise SessionError(f"{path}: cannot write the session ({e.strerror})") from None
        return path

    @contextlib.contextmanager
    def lock(self, name: str, wait_s: float = 0.0) -> Iterator[None]:
        """Hold session `name` for one turn; another holder raises SessionBusy (after waiting
        up to `wait_s` seconds for it to let go).

        Taking the lock also clears the temporary files of writers that died mid-save: every
        writer of a session holds its lock, so no live one can own them.
        """
        from filelock import FileLock, Timeout

        self.directory.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        lock = FileLock(self.directory / f".{validate_name(name)}.lock", timeout=wait_s)
        try:
            lock.acquire()
        except Timeout:
            raise SessionBusy(
                f"session {name!r} is in use by another voicechat process; "
                "wait for its turn to end or use another --session"
            ) from None
        try:
            for leftover in leftover_temp_files(self.path(name)):
                leftover.unlink(missing_ok=True)
            yield
        finally:
            lock.release()

    def new_name(self) -> str:
        """A fresh name from the local start time, e.g. 2026-11-25-170312."""
        base = datetime.now().strftime("%Y-%m-%d-%H%M%S")
        name, n = base, 1
        while self.exists(name):
            n += 1
            name = f"{base}-{n}"
        return name

    def list(self) -> list[SessionSummary]:
        """Every session, most recently updated first; unreadable files are listed with why."""
        summaries = []
        for path in self.directory.glob("*.json"):
            name = path.stem
            try:
                s = self.load(name)
            except (SessionError, UsageError) as e:
                summaries.append(SessionSummary(name, 0, "", "", error=str(e)))
                continue
            first = next((m["content"] for m in s.messages if m["role"] == "user"), "")
            summaries.append(SessionSummary(name, len(s.messages), s.updated_at, first[:60]))
        return sorted(summaries, key=lambda s: s.updated_at, reverse=True)

    def delete(self, name: str) -> None:
        """Remove session `name` and its lock file."""
        path = self.path(name)
        if not path.exists():
            raise SessionError(f"no session named {name!r} (looked for {path})")
        with self.lock(name):
            path.unlink()
        (self.directory / f".{name}.lock").unlink(missing_ok=True)


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""C0 and C1 control characters but tab and newline, and DEL: what a terminal obeys."""


def printable(text: str) -> str:
    """`text` without control characters (tab and newline kept), so that words typed in the
    page or written by a model cannot set a terminal's title, clear it or move its cursor
    when a session is shown."""
    return _CONTROL.sub("", text)


def render_markdown(session: Session) -> str:
    """The conversation as Markdown, for `sessions export --format md` (control characters
    left out)."""
    lines = [f"# {session.name}", "", f"Started {session.created_at}.", ""]
    for m in session.messages:
        who = {"user": "You", "assistant": "Assistant"}.get(m["role"], m["role"].title())
        note = " (interrupted)" if m.get("interrupted") else ""
        when = m.get("created_at", "")
        lines += [f"**{printable(who)}**{note} · {printable(str(when))}", "", m["content"], ""]
    return printable("\n".join(lines))
