"""A small server that speaks the Edge read-aloud websocket protocol, on loopback.

It answers each request the way the service does (turn.start, the MP3 in binary audio
messages, turn.end), sending a recording slowly, chunk by chunk, or failing on cue, so the
Edge voice can be tested offline and the same way on every machine. Tests point edge-tts at
it by replacing its endpoint (`edge_tts.communicate.WSS_URL`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

AUDIO_HEADERS = b"X-RequestId:0\r\nContent-Type:audio/mpeg\r\nPath:audio\r\n"


def _text(path: str) -> str:
    return (
        f"X-RequestId:0\r\nContent-Type:application/json; charset=utf-8\r\nPath:{path}\r\n\r\n{{}}"
    )


@dataclass
class EdgeServer:
    """What to send: `mp3` in `chunks` pieces, `delay_s` apart; `fail_after` chunks (None:
    never) the connection is dropped instead. `sent_at` records when each chunk went out
    (time.monotonic()), `requests` the SSML of each request."""

    mp3: bytes
    chunks: int = 8
    delay_s: float = 0.2
    fail_after: int | None = None
    url: str = ""
    sent_at: list[float] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    async def _handle(self, request):  # type: ignore[no-untyped-def]
        from aiohttp import web

        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive()  # speech.config
        ssml = await ws.receive()
        self.requests.append(ssml.data)
        await ws.send_str(_text("turn.start"))
        size = -(-len(self.mp3) // self.chunks)
        for i in range(self.chunks):
            if self.fail_after is not None and i >= self.fail_after:
                await ws.close()
                return ws
            await asyncio.sleep(self.delay_s)
            data = self.mp3[i * size : (i + 1) * size]
            await ws.send_bytes(len(AUDIO_HEADERS).to_bytes(2, "big") + AUDIO_HEADERS + data)
            self.sent_at.append(time.monotonic())
        await ws.send_str(_text("turn.end"))
        await ws.close()
        return ws


@contextmanager
def edge_server(server: EdgeServer) -> Iterator[EdgeServer]:
    """Run `server` on a free loopback port in a thread; `server.url` is its endpoint."""
    from aiohttp import web

    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_get("/edge/v1", server._handle)
    runner = web.AppRunner(app)
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        server.url = f"ws://127.0.0.1:{port}/edge/v1?TrustedClientToken=test"
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
