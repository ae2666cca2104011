"""`voicechat web`: the conversation in a browser page."""

from __future__ import annotations

import html
import os
import tempfile
import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from voicechat.cli.app import app, console, load_models, reports_errors, settings
from voicechat.errors import EngineUnavailable, UsageError

NEEDS_EXTRA = 'voicechat web needs its extra: pip install "voicechat[web]"'


@app.command()
@reports_errors
def web(
    host: Annotated[
        str,
        typer.Option(
            help="Address to serve on: 127.0.0.1 (this machine only), 0.0.0.0 (every address "
            "of this machine, e.g. for a phone on the same network) or one address."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.", min=1, max=65535)] = 8765,
    session: Annotated[
        str | None,
        typer.Option("--session", "-s", help="The session the page opens on (created if new)."),
    ] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            help="Another name the page is opened by: a DNS name, or an HTTPS proxy's public "
            "name (voice.example, or voice.example:8443 off the default port); repeatable. "
            "Requests for any other name are refused.",
            metavar="NAME",
        ),
    ] = None,
    open_browser: Annotated[
        bool,
        typer.Option(
            "--open",
            help="Open the page in the default browser (through a private local file, so the "
            "token is on no command line and in no history).",
        ),
    ] = False,
) -> None:
    """Talk in a browser page: hold or click to talk, upload a recording, or type; the reply
    is shown as it is written and heard from its first sentence. Same engines, config and
    sessions as `talk` and `ask`.

    Only you get in: open the address printed at start, whose #token opens one page (the
    page keeps a secret of its own for this tab); a new address is printed each time one is
    used. Requests for another host name (DNS rebinding) or from another site's page are
    refused, on 127.0.0.1 too.
    """
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise EngineUnavailable(NEEDS_EXTRA) from None
    from voicechat.conversation import session_store
    from voicechat.session import validate_name
    from voicechat.web.connections import guarded_server
    from voicechat.web.guard import Access, Keys, addresses_to_open, reachable_names
    from voicechat.web.refusals import Refusals
    from voicechat.web.server import WS_MAX_BYTES, WebSettings, create_app

    config = settings().config
    store = session_store(config)
    name = validate_name(session) if session else store.new_name()
    _check_address(host, port)  # before minutes of loading models
    access = Access.of(reachable_names(host), port, allow_host or ())
    models = load_models(config)

    def show_addresses(token: str, first: bool) -> None:
        urls = addresses_to_open(host, port, token)
        lead = "voicechat web on {} (Ctrl-C to stop)" if first else "to open another page: {}"
        console().notice(lead.format(urls[0]))
        for url in urls[1:]:
            console().notice(f"  or {url}")

    keys = Keys(on_new_token=lambda token: show_addresses(token, first=False))
    refusals = Refusals(console().notice)
    app_ = create_app(WebSettings(config, models, name, access, keys, refusals))
    server = guarded_server(app_, host, port, refusals, WS_MAX_BYTES)
    with tempfile.TemporaryDirectory(prefix="voicechat-web-") as private:
        if open_browser:
            opener = _login_file(Path(private), _post_address(host, port), keys.token)
            show_addresses(keys.token, first=True)
            webbrowser.open(opener.as_uri())
        else:
            show_addresses(keys.token, first=True)
        server.run()


def _post_address(host: str, port: int) -> str:
    """Where the `--open` file posts the token: this machine's own name for the server."""
    from voicechat.web.guard import WILDCARD_ADDRESSES, host_with_port

    return f"http://{host_with_port('localhost' if host in WILDCARD_ADDRESSES else host, port)}/"


def _login_file(folder: Path, address: str, token: str) -> Path:
    """A page only this user can read (0600, in a 0700 folder) that posts `token` to
    `address` as a form when the browser opens it: the token is in no address, so in no
    history and on no command line."""
    page = LOGIN_PAGE.format(address=html.escape(address), token=html.escape(token))
    path = folder / "open.html"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as f:
        f.write(page)
    return path


LOGIN_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>voicechat</title></head>
<body><form method="post" action="{address}">
<input type="hidden" name="token" value="{token}">
<button type="submit">Open voicechat</button></form>
<script>document.forms[0].submit();</script></body></html>
"""
"""What `--open` shows the browser: a form that posts the token at once (or on a click)."""


def _check_address(host: str, port: int) -> None:
    """One clear line when the address cannot be served on (in use, not this machine's)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise UsageError(f"--host {host}: not an address of this machine ({e.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as e:
            raise UsageError(
                f"cannot serve on {host}:{port} ({e.strerror}); choose another --port or --host"
            ) from None
