"""`voicechat sessions`: list, show, export and delete conversations."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from voicechat.cli.app import app, console, reports_errors, settings
from voicechat.cli.help_format import HelpGroup
from voicechat.errors import UsageError
from voicechat.session import printable

sessions_app = typer.Typer(cls=HelpGroup, help="List, show, export and delete saved conversations.")
app.add_typer(sessions_app, name="sessions")


if TYPE_CHECKING:
    from voicechat.session import Session, SessionStore, SessionSummary


def _store() -> SessionStore:
    from voicechat.conversation import session_store

    return session_store(settings().config)


@sessions_app.command("list")
@reports_errors
def sessions_list() -> None:
    """Every session, most recent first."""
    store = _store()
    summaries = store.list()
    if not summaries:
        console().notice(f"no sessions yet in {store.directory}")
        return
    _session_table(summaries)


@sessions_app.command("show")
@reports_errors
def sessions_show(name: Annotated[str, typer.Argument(help="The session's name.")]) -> None:
    """Print a conversation."""
    _show_session(_store().load(name))


@sessions_app.command("export")
@reports_errors
def sessions_export(
    name: Annotated[str, typer.Argument(help="The session's name.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", metavar="FORMAT", help="md or json.")
    ] = "md",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write to this file, not stdout."),
    ] = None,
) -> None:
    """Export a conversation as Markdown or JSON."""
    from voicechat.fileio import atomic_text_writer
    from voicechat.session import render_markdown

    if fmt not in ("md", "json"):
        raise UsageError(f"--format takes md or json, not {fmt!r}")
    session = _store().load(name)
    text = (
        render_markdown(session)
        if fmt == "md"
        else json.dumps(session.to_json(), ensure_ascii=False, indent=2) + "\n"
    )
    if output is None:
        sys.stdout.write(text)
        return
    with atomic_text_writer(output) as fh:
        fh.write(text)


@sessions_app.command("delete")
@reports_errors
def sessions_delete(
    name: Annotated[str, typer.Argument(help="The session's name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a conversation for good."""
    store = _store()
    path = store.path(name)
    if not path.exists():
        store.load(name)  # raises the "no session named" error
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"deleting {name!r} needs --yes when not run from a terminal")
        typer.confirm(f"Delete session {name!r} ({path})?", abort=True)
    store.delete(name)
    console().notice(f"deleted session {name}")


def _session_table(summaries: list[SessionSummary]) -> None:
    """The sessions as a table on stdout."""
    from rich.markup import escape
    from rich.table import Table

    table = Table("session", "messages", "updated", "first message", box=None)
    for s in summaries:
        if s.error:
            table.add_row(escape(s.name), "-", "-", f"[red]{escape(s.error)}[/]")
        else:
            updated = s.updated_at[:16].replace("T", " ")
            preview = escape(printable(s.preview))
            table.add_row(escape(s.name), str(s.messages), escape(printable(updated)), preview)
    console().out.print(table)


def _show_session(session: Session) -> None:
    """A conversation, one message after another, on stdout."""
    from rich.markup import escape

    def shown(value: object) -> str:
        return escape(printable(str(value)))

    out = console().out
    out.print(f"[bold]{shown(session.name)}[/] [dim]started {shown(session.created_at)}[/]")
    for m in session.messages:
        who = {"user": "[bold cyan]you[/]", "assistant": "[bold green]assistant[/]"}.get(
            m["role"], shown(m["role"])
        )
        notes = []
        if m.get("interrupted"):
            notes.append("interrupted")
        if m.get("error"):
            notes.append(f"error: {m['error']}")
        extra = f" [yellow]({shown('; '.join(notes))})[/]" if notes else ""
        out.print(f"\n{who} [dim]{shown(m.get('created_at', ''))}[/]{extra}")
        out.print(shown(m["content"]), soft_wrap=True)
