"""`voicechat web`: the conversation in a browser page."""

from __future__ import annotations

from typing import Annotated

import typer

from voicechat.cli.app import app, console, load_models, reports_errors, settings
from voicechat.errors import EngineUnavailable, UsageError


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
            help="Another name the page is opened by (a DNS name, a proxy's); repeatable. "
            "Requests for any other name are refused.",
            metavar="NAME",
        ),
    ] = None,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the page in the default browser.")
    ] = False,
) -> None:
    """Talk in a browser page: hold or click to talk, upload a recording, or type; the reply
    is shown as it is written and heard from its first sentence. Same engines, config and
    sessions as `talk` and `ask`.

    Only you get in: open the address printed at start, which carries a secret token; the
    page keeps it in a cookie. Requests for another host name (DNS rebinding) or from another
    site's page are refused, on 127.0.0.1 too.
    """
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError:
        raise EngineUnavailable(
            'voicechat web needs its extra: pip install "voicechat[web]"'
        ) from None
    from voicechat.conversation import session_store
    from voicechat.session import validate_name
    from voicechat.web.guard import Access, addresses_to_open, reachable_names
    from voicechat.web.server import WS_MAX_BYTES, WebSettings, create_app

    config = settings().config
    store = session_store(config)
    name = validate_name(session) if session else store.new_name()
    _check_address(host, port)  # before minutes of loading models
    import secrets

    token = secrets.token_urlsafe(24)
    access = Access.of(reachable_names(host, allow_host or ()), port, token)
    models = load_models(config)
    urls = addresses_to_open(host, port, token)
    console().notice(f"voicechat web on {urls[0]} (Ctrl-C to stop)")
    for url in urls[1:]:
        console().notice(f"  also {url}")
    if open_browser:
        import webbrowser

        webbrowser.open(urls[-1] if len(urls) > 1 else urls[0])
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(WebSettings(config, models, name, access, console().notice)),
            host=host,
            port=port,
            log_level="warning",
            ws_max_size=WS_MAX_BYTES,
        )
    )
    server.run()


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
