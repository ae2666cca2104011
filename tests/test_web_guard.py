"""The web server's checks and bounds, without a server: names, addresses, the outbox."""

from __future__ import annotations

import asyncio
import socket

from voicechat.web.guard import (
    LOOPBACK_NAMES,
    Access,
    addresses_to_open,
    is_loopback,
    reachable_names,
)
from voicechat.web.server import Outbox, RateLimit, inline_hashes


def test_loopback_answers_to_loopback_names_only() -> None:
    assert set(reachable_names("127.0.0.1")) == set(LOOPBACK_NAMES)
    assert is_loopback("127.0.0.2") and is_loopback("::1") and not is_loopback("evil.example")
    access = Access.of(reachable_names("127.0.0.1"), 8765, "secret")
    assert access.host_ok("127.0.0.1:8765") and access.host_ok("[::1]:8765")
    assert access.host_ok("LOCALHOST:8765")
    assert not access.host_ok("127.0.0.1:8766") and not access.host_ok("evil.example:8765")
    assert not access.host_ok(None)
    assert access.origin_ok("http://localhost:8765") and not access.origin_ok("null")
    assert not access.token_ok("secreT") and access.token_ok("secret")


def test_a_wildcard_address_prints_addresses_a_phone_can_open() -> None:
    urls = addresses_to_open("0.0.0.0", 8765, "t0k")
    assert urls[-1] == "http://localhost:8765/?token=t0k"
    assert all("0.0.0.0" not in url and url.endswith("/?token=t0k") for url in urls)
    for url in urls[:-1]:  # each is an address of this machine: it can be bound here
        host = url.split("//")[1].rsplit(":", 1)[0].strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family) as probe:
            probe.bind((host, 0))
    names = reachable_names("0.0.0.0", ["voice.example"])
    assert "voice.example" in names and socket.gethostname().lower() in names


def test_a_page_that_does_not_read_is_cut_off_not_buffered() -> None:
    async def main() -> tuple[list[str | bytes | None], bool]:
        outbox = Outbox(asyncio.get_running_loop(), max_bytes=1000)
        for _ in range(10):
            outbox.send(b"x" * 300)  # 3000 bytes offered, 1000 allowed to wait
        got = [await outbox.next() for _ in range(4)]
        outbox.send({"type": "notice", "text": "after the cut"})
        return got, outbox.overflowed

    got, overflowed = asyncio.run(main())
    assert overflowed
    assert got == [b"x" * 300] * 3 + [None]


def test_rate_limit_and_inline_hashes() -> None:
    limit = RateLimit(burst=3, every_s=60.0)
    assert [limit.allow() for _ in range(5)] == [True, True, True, False, False]
    page = "<style>a{}</style><script>go()</script><script>x</script>"
    assert inline_hashes(page, "script") == [
        "'sha256-5KYv+PUboo5h+0+YAtGRPbwv5d/QxzHslP4YGnUaxRw='",
        "'sha256-LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE='",
    ]
