"""The web server: one page, one WebSocket per open page, closed to everyone but its user.

Every request passes `Guarded` first: a Host this server is not reached by is refused (DNS
rebinding), and every response carries a Content-Security-Policy that allows only the page's
own script and style and forbids framing. The page itself holds nothing; its socket must log
in with its first message, within `LOGIN_S`, with the one-time token or a page secret (see
`guard.Keys`). Each socket is bounded: text messages are capped before they are parsed, every
message from every page draws on one rate limit, and a page that does not read what is sent
to it is dropped once a few MiB wait for it. Connections are bounded below the app
(`connections`), and refusals are summarised (`refusals`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from voicechat.config import Config
from voicechat.models import Models
from voicechat.web.guard import Access, Keys
from voicechat.web.page import UPLOAD_MAX_BYTES, PageConversation
from voicechat.web.refusals import Refusals

log = logging.getLogger(__name__)

WS_MAX_BYTES = UPLOAD_MAX_BYTES + 2**20
"""The largest WebSocket message the server reads; larger uploads are refused in the page."""
TEXT_MAX_CHARS = 16 * 1024
"""The longest JSON message from the page, in characters; a typed turn fits many times over."""
OUTBOX_MAX_BYTES = 8 * 2**20
"""Bytes that may wait for a page to read them; past this the page is too slow and dropped."""
LOGIN_S = 5.0
"""Seconds a socket has to log in with its first message."""
LOGIN_MAX_BYTES = 1024
"""The largest form the `--open` file posts (it holds the token alone)."""
REFUSED_KEY = 4401
"""The close code for a socket whose token or secret is not (or no longer) good: the page
stops reconnecting and says to open a new address."""
MESSAGES_BURST, MESSAGE_EVERY_S = 20, 0.2
"""The one rate limit every message from every page draws on: 20 at once, then 5 a second."""
NOT_IN = "voicechat web: open the address `voicechat web` printed (it ends in #token=…)\n"
"""What a login by form with a wrong or spent token shows."""


@dataclass(frozen=True)
class WebSettings:
    """access: the hosts and origins this server accepts. keys: its token and page secrets.
    refusals: where what is refused is counted (the CLI shows a summary)."""

    config: Config
    models: Models
    session: str
    access: Access
    keys: Keys
    refusals: Refusals


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
        self._lock = threading.Condition()
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
                self._lock.notify_all()
        return data

    def wait_room(self, size: int, timeout_s: float = 30.0) -> bool:
        """Block (a worker thread) until `size` more bytes fit below half of `max_bytes`;
        False when the page has not read them in `timeout_s` seconds, or was dropped."""
        with self._lock:
            return (
                self._lock.wait_for(
                    lambda: self.overflowed or self._queued + size <= self.max_bytes // 2, timeout_s
                )
                and not self.overflowed
            )


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
        refusals: Refusals,
    ) -> None:
        self.app = app
        self.access = access
        self.headers = headers
        self.refusals = refusals

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        if not self.access.host_ok(host):
            self.refusals.refused("a request for another host name", repr(host[:80]))
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
    from starlette.responses import HTMLResponse, PlainTextResponse, Response
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    page = resources.files("voicechat.web").joinpath("index.html").read_text(encoding="utf-8")
    limit = RateLimit(MESSAGES_BURST, MESSAGE_EVERY_S)
    refusals = settings.refusals

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    async def login_form(request: Request) -> Response:
        """The `--open` file's form: the token in the body, so in no address or history;
        answered with the page and its secret."""
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > LOGIN_MAX_BYTES:
                break
        token = parse_qs(body[:LOGIN_MAX_BYTES].decode("latin-1")).get("token", [""])[0]
        secret = settings.keys.exchange(token)
        if secret is None:
            refusals.refused("a login with a wrong or spent token")
            return PlainTextResponse(NOT_IN, status_code=401)
        meta = f'<meta name="voicechat-secret" content="{secret}">'
        return HTMLResponse(page.replace("<head>", "<head>" + meta, 1))

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def talk(websocket: WebSocket) -> None:
        origin = websocket.headers.get("origin")
        if not settings.access.origin_ok(origin):
            refusals.refused("a socket from another site", repr(str(origin)[:80]))
            await websocket.close(code=1008)
            return
        await websocket.accept()
        if await log_in(websocket, settings.keys, refusals):
            await converse(websocket, settings, limit)

    return Guarded(
        Starlette(
            routes=[
                Route("/", index, methods=["GET", "HEAD"]),
                Route("/", login_form, methods=["POST"]),
                Route("/health", health),
                WebSocketRoute("/ws", talk),
            ],
            lifespan=_summaries(refusals),
        ),
        settings.access,
        security_headers(page),
        refusals,
    )


def _summaries(refusals: Refusals) -> Any:
    """A lifespan that tells the refusals held back, once a minute, while the server runs."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async def tell() -> None:
            while True:
                await asyncio.sleep(5.0)
                refusals.flush()

        task = asyncio.create_task(tell())
        try:
            yield
        finally:
            task.cancel()

    return lifespan


async def log_in(websocket: Any, keys: Keys, refusals: Refusals) -> bool:
    """The socket's first message must log in, within LOGIN_S: `{"type": "login", "token":
    …}` with the one-time token (answered with a new page secret) or `{"type": "login",
    "secret": …}`. Otherwise it is closed with REFUSED_KEY."""
    try:
        received = await asyncio.wait_for(websocket.receive(), LOGIN_S)
    except TimeoutError:
        refusals.refused("a socket that did not log in", f"within {LOGIN_S:g} s")
        await websocket.close(code=REFUSED_KEY)
        return False
    if received["type"] == "websocket.disconnect":
        return False
    message = parse(received.get("text") or "")
    if isinstance(message, dict) and message.get("type") == "login":
        secret = message.get("secret")
        if not keys.secret_ok(secret):
            secret = keys.exchange(message.get("token"))
        if secret is not None:
            await websocket.send_text(json.dumps({"type": "welcome", "secret": secret}))
            return True
    refusals.refused("a socket without a good token or secret")
    await websocket.send_text(
        json.dumps({"type": "error", "text": NOT_IN.removeprefix("voicechat web: ").strip()})
    )
    await websocket.close(code=REFUSED_KEY)
    return False


async def converse(websocket: Any, settings: WebSettings, limit: RateLimit) -> None:
    """One page's socket: read its messages, send what its conversation produces, until
    either side stops (the page leaves, or falls too far behind to be sent to). limit: the
    rate limit every message of every page draws on."""
    outbox = Outbox(asyncio.get_running_loop())
    conversation = PageConversation(settings.config, settings.models, settings.session, outbox)

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
            if not limit.allow():
                conversation.drop_audio()
                settings.refusals.refused("messages past the rate limit")
                conversation.error("too many messages; wait a second")
            elif received.get("bytes") is not None:
                await asyncio.to_thread(conversation.on_bytes, received["bytes"])
            elif received.get("text") is not None:
                message = parse(received["text"])
                if isinstance(message, str):
                    conversation.error(message)
                else:
                    await asyncio.to_thread(conversation.on_message, message)

    tasks = {asyncio.create_task(deliver()), asyncio.create_task(read())}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if outbox.overflowed:
            settings.refusals.refused("a page that did not read its messages (dropped)")
            await websocket.close(code=1008)
    except Exception:  # a broken connection ends the page's conversation, nothing else
        log.debug("socket ended", exc_info=True)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.to_thread(conversation.close)


def parse(text: str) -> dict[str, Any] | str:
    """A message from the page as a JSON object, or the one-line reason it is not one.
    Strings in it are valid Unicode: a lone surrogate (which JSON allows) becomes U+FFFD."""
    if len(text) > TEXT_MAX_CHARS:
        return f"message too long (over {TEXT_MAX_CHARS // 1024} K characters)"
    try:
        message = json.loads(text, object_pairs_hook=_clean_pairs)
    except (json.JSONDecodeError, RecursionError):
        return "not a JSON message"
    except ValueError:  # a number past Python's digit limit
        return "not a JSON message (a number too long)"
    if not isinstance(message, dict):
        return "a message must be a JSON object with a type"
    return message


def _clean_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {_clean(k): _clean(v) if isinstance(v, str) else v for k, v in pairs}


def _clean(text: str) -> str:
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
