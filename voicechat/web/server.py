"""The web server: one page, one WebSocket per open page, safe by default.

Bound to 127.0.0.1 unless told otherwise. On any other address every request and WebSocket
must carry the token printed at start (`?token=`), compared in constant time, and a
WebSocket must come from the page's own origin (the Origin header), so another site open in
the same browser cannot drive the assistant.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from dataclasses import dataclass
from importlib import resources
from typing import Any

from voicechat.config import Config
from voicechat.models import Models
from voicechat.web.page import UPLOAD_MAX_BYTES, Outbox, PageConversation

log = logging.getLogger(__name__)

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
"""Addresses that need no token: only this machine can reach them."""
WS_MAX_BYTES = UPLOAD_MAX_BYTES + 2**20
"""The largest WebSocket message the server reads; larger uploads are refused in the page."""


@dataclass(frozen=True)
class WebSettings:
    """token: required on every request when set (None on a local address)."""

    config: Config
    models: Models
    session: str
    token: str | None


def token_ok(given: str | None, token: str | None) -> bool:
    """Whether a request may go on: no token is needed, or `given` is it (constant time)."""
    if token is None:
        return True
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def same_origin(origin: str | None, host: str | None) -> bool:
    """A browser's WebSocket comes from this server's own page (no Origin: not a browser)."""
    if origin is None:
        return True
    return host is not None and origin in (f"http://{host}", f"https://{host}")


def create_app(settings: WebSettings) -> Any:
    """The Starlette app."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, PlainTextResponse, Response
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    page = resources.files("voicechat.web").joinpath("index.html").read_text(encoding="utf-8")
    refused = "a token is needed: open the address voicechat web printed at start\n"

    async def index(request: Request) -> Response:
        if not token_ok(request.query_params.get("token"), settings.token):
            return PlainTextResponse(refused, status_code=401)
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    async def health(request: Request) -> Response:
        if not token_ok(request.query_params.get("token"), settings.token):
            return PlainTextResponse(refused, status_code=401)
        return PlainTextResponse("ok\n")

    async def talk(websocket: WebSocket) -> None:
        if not token_ok(websocket.query_params.get("token"), settings.token) or not same_origin(
            websocket.headers.get("origin"), websocket.headers.get("host")
        ):
            await websocket.close(code=1008)
            return
        await websocket.accept()
        loop = asyncio.get_running_loop()
        outbox = Outbox(loop, asyncio.Queue())
        conversation = PageConversation(settings.config, settings.models, settings.session, outbox)

        async def deliver() -> None:
            while True:
                message = await outbox.queue.get()
                if isinstance(message, bytes):
                    await websocket.send_bytes(message)
                else:
                    await websocket.send_text(json.dumps(message))

        sender = asyncio.create_task(deliver())
        try:
            while True:
                received = await websocket.receive()
                if received["type"] == "websocket.disconnect":
                    break
                if received.get("bytes") is not None:
                    await asyncio.to_thread(conversation.on_bytes, received["bytes"])
                elif received.get("text") is not None:
                    try:
                        message = json.loads(received["text"])
                    except json.JSONDecodeError:
                        message = {"type": None}
                    await asyncio.to_thread(conversation.on_message, message)
        except WebSocketDisconnect:
            pass
        finally:
            await asyncio.to_thread(conversation.close)
            sender.cancel()

    return Starlette(
        routes=[
            Route("/", index),
            Route("/health", health),
            WebSocketRoute("/ws", talk),
        ]
    )
