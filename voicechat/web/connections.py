"""Bounds on connections to `voicechat web`, below the app, where uvicorn sets none.

uvicorn keeps a socket that never finishes its request head open for ever, accepts as many
as the file limit allows (then its accept loop fails on every try), and assembles a
WebSocket message from any number of fragments. Here every connection must send a complete
request head within `head_s` (and again after each response it keeps the socket for),
sockets are capped in all and per peer address, and a message may come in at most
`max_fragments` frames. Refusals are counted in `Refusals`, never logged one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from voicechat.web.refusals import Refusals


@dataclass(frozen=True)
class ConnectionLimits:
    """max_sockets: open connections at once, HTTP and WebSocket. per_address: of those,
    from one peer address. head_s: seconds a connection has to send a whole request head.
    max_fragments: frames one WebSocket message may come in. open_files: the soft limit on
    open files raised to at start (the hard limit permitting). backlog: connections the
    kernel queues before they are accepted."""

    max_sockets: int = 128
    per_address: int = 32
    head_s: float = 10.0
    max_fragments: int = 64
    open_files: int = 4096
    backlog: int = 64


class Connections:
    """The transports open now, and whether one more may be."""

    def __init__(self, limits: ConnectionLimits, refusals: Refusals) -> None:
        self.limits = limits
        self.refusals = refusals
        self._open: set[asyncio.BaseTransport] = set()

    def admit(self, transport: asyncio.BaseTransport) -> bool:
        """Count `transport` in, or say it must be closed (over a cap)."""
        self._open = {t for t in self._open if not t.is_closing()}
        peer = _peer(transport)
        from_peer = sum(1 for t in self._open if _peer(t) == peer)
        if len(self._open) >= self.limits.max_sockets:
            self.refusals.refused("a connection: too many open", f"{self.limits.max_sockets}")
            return False
        if from_peer >= self.limits.per_address:
            self.refusals.refused(
                "a connection: too many from one address", f"{peer} has {from_peer}"
            )
            return False
        self._open.add(transport)
        return True

    @property
    def count(self) -> int:
        """Connections open now."""
        return sum(1 for t in self._open if not t.is_closing())


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else "?"


def raise_open_files(wanted: int) -> int:
    """Raise this process's soft limit on open files to `wanted` (at most the hard limit);
    the limit now in force."""
    try:
        import resource
    except ImportError:  # not on this platform
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def guarded_protocols(connections: Connections) -> tuple[type[Any], type[Any]]:
    """uvicorn's HTTP (h11) and WebSocket (websockets) protocols with `connections`' bounds:
    pass them as `uvicorn.Config(http=..., ws=...)`."""
    limits, refusals = connections.limits, connections.refusals

    class GuardedHTTP(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if not connections.admit(transport):
                transport.abort()
                return
            self._arm()

        def _arm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(limits.head_s, self._expired)

        def _expired(self) -> None:
            if self.transport.get_protocol() is not self:  # upgraded to a WebSocket
                return
            cycle = getattr(self, "cycle", None)
            if cycle is not None and not cycle.response_complete:
                self._arm()  # a response is being sent
                return
            if cycle is None:  # no request ever came whole
                refusals.refused(
                    "a connection that sent no whole request", f"within {limits.head_s:g} s"
                )
            self.transport.close()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()  # the next request on a kept connection has as long

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            super().connection_lost(exc)

    class GuardedWebSocket(WebSocketsSansIOProtocol):
        _fragments = 0

        def handle_text(self, event: Any) -> None:
            self._fragments = 1
            super().handle_text(event)

        def handle_bytes(self, event: Any) -> None:
            self._fragments = 1
            super().handle_bytes(event)

        def handle_cont(self, event: Any) -> None:
            self._fragments += 1
            if self._fragments > limits.max_fragments:
                if self._fragments == limits.max_fragments + 1:
                    refusals.refused(
                        "a message in too many pieces", f"over {limits.max_fragments} frames"
                    )
                    self.frames = []
                    self.conn.send_close(1009, "message in too many frames")
                    self.handle_parser_exception()
                return
            super().handle_cont(event)

    return GuardedHTTP, GuardedWebSocket


def guarded_server(
    app: Any,
    host: str,
    port: int,
    refusals: Refusals,
    ws_max_bytes: int,
    limits: ConnectionLimits = ConnectionLimits(),
) -> Any:
    """A `uvicorn.Server` for `app` with these bounds: the guarded protocols, no
    compression, a small backlog, the open-file limit raised, and uvicorn's and asyncio's own
    warnings told to `refusals` (summarised, never a traceback)."""
    import logging

    import uvicorn

    from voicechat.web.refusals import RefusalHandler

    raise_open_files(limits.open_files)
    http, ws = guarded_protocols(Connections(limits, refusals))
    handler = RefusalHandler(refusals)
    for name in ("uvicorn", "uvicorn.error", "asyncio"):
        server_log = logging.getLogger(name)
        server_log.handlers, server_log.propagate = [handler], False
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=http,
        ws=ws,
        ws_max_size=ws_max_bytes,
        ws_per_message_deflate=False,
        backlog=limits.backlog,
        log_config=None,
        log_level="warning",
    )
    return uvicorn.Server(config)
