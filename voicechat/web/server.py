"""The web server: one page, one WebSocket per open page, closed to everyone but its user.

Every request passes `Guarded` first: a Host this server is not reached by is refused (DNS
rebinding), and every response carries a Content-Security-Policy that allows only the page's
own script and style and forbids framing. The page and its socket need the token (see
`guard`): `/?token=` swaps it for a cookie and redirects to `/`. Each socket is bounded: text
messages are capped before they are parsed, `hello` and `session` are rate-limited, and a page
that does not read what is sent to it is dropped once a few MiB wait for it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from voicechat.config import Config
from voicechat.models import Models
from voicechat.web.guard import Access
from voicechat.web.page import UPLOAD_MAX_BYTES, PageConversation

log = logging.getLogger(__name__)

WS_MAX_BYTES = UPLOAD_MAX_BYTES + 2**20
"""The largest WebSocket message the server reads; larger uploads are refused in the page."""
TEXT_MAX_CHARS = 16 * 1024
"""The longest JSON message from the page, in characters; a typed turn fits many times over."""
OUTBOX_MAX_BYTES = 8 * 2**20
"""Bytes that may wait for a page to read them; past this the page is too slow and dropped."""
NOT_IN = (
    "voicechat web: open the address `voicechat web` printed when it started (it ends in "
    "?token=…); this address alone does not let you in.\n"
)
"""What a page opened without the token shows."""


@dataclass(frozen=True)
class WebSettings:
    """access: the hosts, origins and token this server accepts.
    on_refused: told one line for each request refused (the CLI shows it)."""

    config: Config
    models: Models
    session: str
    access: Access
    on_refused: Callable[[str], None] = lambda _: None


class Outbox:
    """What goes to the page, from any thread, in order, bounded by bytes.

    JSON messages are serialised as they are sent, so their size is known. Past `max_bytes`
    unsent, the page is not reading: `overflowed` is set and `next` returns None, after which
    the connection is closed.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, max_bytes: int = OUTBOX_MAX_BYTES) -> None:
        self.loop = loop
        self.max_bytes = max_bytes
        self.overflowed = False
        self._queue: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self._lock = threading.Lock()
        self._queued = 0

    def send(self, message: dict[str, Any] | bytes) -> None:
        """Queue `message` (a JSON object, or binary audio) for the page."""
        data: str | bytes | None = message if isinstance(message, bytes) else json.dumps(message)
        with self._lock:
            if self.overflowed:
                return
            assert data is not None
            if self._queued + len(data) > self.max_bytes:
                self.overflowed, data = True, None
            else:
                self._queued += len(data)
        self.loop.call_soon_threadsafe(self._queue.put_nowait, data)

    async def next(self) -> str | bytes | None:
        """The next message to send; None once the page has fallen too far behind."""
        data = await self._queue.get()
        if data is not None:
            with self._lock:
                self._queued -= len(data)
        return data


class RateLimit:
    """A token bucket: `burst` at once, then one every `every_s` seconds."""

    def __init__(self, burst: int, every_s: float) -> None:
        self.burst = burst
        self.every_s = every_s
        self._tokens = float(burst)
        self._at = time.monotonic()

    def allow(self) -> bool:
        """Whether one more may go now (and count it)."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) / self.every_s)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


def inline_hashes(page: str, tag: str) -> list[str]:
    """CSP source expressions ('sha256-…') for each inline `<tag>` element of `page`."""
    found = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.DOTALL)
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in found
    ]


def security_headers(page: str) -> list[tuple[bytes, bytes]]:
    """Headers every response carries: the page's script and style run, nothing else does,
    it talks only to this server, and no other site may frame it."""
    csp = "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(inline_hashes(page, "script")),
            "style-src " + " ".join(inline_hashes(page, "style")),
            "connect-src 'self'",
            "img-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return [
        (b"content-security-policy", csp.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"cache-control", b"no-store"),
    ]


class Guarded:
    """ASGI middleware: refuse a request for a Host this server is not (403, one line), and
    add `headers` to every HTTP response."""

    def __init__(
        self,
        app: Any,
        access: Access,
        headers: list[tuple[bytes, bytes]],
        on_refused: Callable[[str], None],
    ) -> None:
        self.app = app
        self.access = access
        self.headers = headers
        self.on_refused = on_refused

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        if not self.access.host_ok(host):
            self.on_refused(f"refused a request for host {host[:80]!r}: not this server's name")
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": 403,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"), *self.headers],
                }
            )
            await send({"type": "http.response.body", "body": b"not this server's host name\n"})
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


def create_app(settings: WebSettings) -> Any:
    """The Starlette app, guarded."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    page = resources.files("voicechat.web").joinpath("index.html").read_text(encoding="utf-8")
    access = settings.access

    async def index(request: Request) -> Response:
        given = request.query_params.get("token")
        if given is not None:
            if not access.token_ok(given):
                settings.on_refused("refused a page load with a wrong token")
                return PlainTextResponse(NOT_IN, status_code=401)
            # The token becomes a cookie, and the address loses it (history, screenshots).
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(
                access.cookie, access.token, httponly=True, samesite="strict", path="/"
            )
            return response
        if not access.token_ok(request.cookies.get(access.cookie)):
            return PlainTextResponse(NOT_IN, status_code=401)
        return HTMLResponse(page)

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def talk(websocket: WebSocket) -> None:
        origin = websocket.headers.get("origin")
        if not access.origin_ok(origin):
            settings.on_refused(f"refused a socket from origin {str(origin)[:80]!r}")
            await websocket.close(code=1008)
            return
        if not access.token_ok(websocket.cookies.get(access.cookie)):
            settings.on_refused("refused a socket without the token")
            await websocket.close(code=1008)
            return
        await websocket.accept()
        await converse(websocket, settings)

    return Guarded(
        Starlette(
            routes=[Route("/", index), Route("/health", health), WebSocketRoute("/ws", talk)]
        ),
        access,
        security_headers(page),
        settings.on_refused,
    )


async def converse(websocket: Any, settings: WebSettings) -> None:
    """One page's socket: read its messages, send what its conversation produces, until
    either side stops (the page leaves, or falls too far behind to be sent to)."""
    outbox = Outbox(asyncio.get_running_loop())
    conversation = PageConversation(settings.config, settings.models, settings.session, outbox)
    listings = RateLimit(burst=4, every_s=1.0)

    async def deliver() -> None:
        while (data := await outbox.next()) is not None:
            if isinstance(data, bytes):
                await websocket.send_bytes(data)
            else:
                await websocket.send_text(data)

    async def read() -> None:
        while True:
            received = await websocket.receive()
            if received["type"] == "websocket.disconnect":
                return
            if received.get("bytes") is not None:
                await asyncio.to_thread(conversation.on_bytes, received["bytes"])
            elif received.get("text") is not None:
                message = parse(received["text"])
                if isinstance(message, str):
                    conversation.error(message)
                elif message.get("type") in ("hello", "session") and not listings.allow():
                    conversation.error("too many session requests; wait a second")
                else:
                    await asyncio.to_thread(conversation.on_message, message)

    tasks = {asyncio.create_task(deliver()), asyncio.create_task(read())}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if outbox.overflowed:
            settings.on_refused("dropped a page that did not read its messages")
            await websocket.close(code=1008)
    except Exception:  # a broken connection ends the page's conversation, nothing else
        log.debug("socket ended", exc_info=True)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.to_thread(conversation.close)


def parse(text: str) -> dict[str, Any] | str:
    """A message from the page as a JSON object, or the one-line reason it is not one."""
    if len(text) > TEXT_MAX_CHARS:
        return f"message too long (over {TEXT_MAX_CHARS // 1024} K characters)"
    try:
        message = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return "not a JSON message"
    if not isinstance(message, dict):
        return "a message must be a JSON object with a type"
    return message
