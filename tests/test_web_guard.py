"""The web server's checks and bounds, without a server: names, addresses, keys, the
outbox, the summaries of refusals."""

from __future__ import annotations

import asyncio
import socket

from voicechat.web.guard import (
    LOOPBACK_NAMES,
    Access,
    Keys,
    addresses_to_open,
    is_loopback,
    reachable_names,
)
from voicechat.web.page import history_pieces
from voicechat.web.refusals import Refusals
from voicechat.web.server import Outbox, RateLimit, inline_hashes, parse


def test_loopback_answers_to_loopback_names_only() -> None:
    assert set(reachable_names("127.0.0.1")) == set(LOOPBACK_NAMES)
    assert is_loopback("127.0.0.2") and is_loopback("::1") and not is_loopback("evil.example")
    access = Access.of(reachable_names("127.0.0.1"), 8765)
    assert access.host_ok("127.0.0.1:8765") and access.host_ok("[::1]:8765")
    assert access.host_ok("LOCALHOST:8765")
    assert not access.host_ok("127.0.0.1:8766") and not access.host_ok("evil.example:8765")
    assert not access.host_ok(None)
    assert access.origin_ok("http://localhost:8765") and not access.origin_ok("null")


def test_a_proxy_s_public_name_is_taken_on_default_ports_or_the_one_given() -> None:
    access = Access.of(reachable_names("127.0.0.1"), 8765, ["voice.example", "other.example:8443"])
    assert access.host_ok("voice.example") and access.host_ok("voice.example:8765")
    assert access.origin_ok("https://voice.example") and access.origin_ok("http://voice.example")
    assert access.host_ok("other.example:8443") and access.origin_ok("https://other.example:8443")
    assert not access.origin_ok("https://voice.example:444") and not access.host_ok("example")


def test_the_token_opens_one_page_and_each_page_keeps_its_secret() -> None:
    printed: list[str] = []
    keys = Keys(on_new_token=printed.append)
    first = keys.token
    assert keys.exchange("wrong") is None and keys.exchange(None) is None and not printed
    secret = keys.exchange(first)
    assert secret and keys.secret_ok(secret) and printed == [keys.token] != [first]
    assert keys.exchange(first) is None  # spent
    assert not keys.secret_ok(first) and not keys.secret_ok(secret + "x")
    assert not keys.secret_ok(None) and not keys.secret_ok("\ud800")


def test_refusals_are_one_line_per_kind_per_minute() -> None:
    shown: list[str] = []
    now = [0.0]
    refusals = Refusals(shown.append, every_s=60.0, clock=lambda: now[0])
    for i in range(1000):
        refusals.refused("a request for another host name", f"'evil-{i}'")
    refusals.refused("a socket that did not log in")
    refusals.flush()
    assert shown == [
        "refused a request for another host name: 'evil-0'",
        "refused a socket that did not log in",
    ]
    now[0] = 61.0
    refusals.flush()
    assert shown[-1] == "refused 999 more: a request for another host name (in the last minute)"
    refusals.flush()
    assert len(shown) == 3


def test_messages_that_are_not_json_objects_get_a_reason() -> None:
    assert parse('{"n": ' + "9" * 5000 + "}") == "not a JSON message (a number too long)"
    assert parse("[1]") == "a message must be a JSON object with a type"
    assert parse('{"text": "a\\ud800b"}') == {"text": "a\ufffdb"}


def test_a_long_history_is_cut_into_pieces_in_order() -> None:
    messages = [{"role": "user", "content": "x" * 100} for _ in range(25)]
    pieces = history_pieces(messages, max_chars=1000)
    assert [len(p) for p in pieces] == [10, 10, 5]
    assert history_pieces([]) == [[]]


def test_a_wildcard_address_prints_addresses_a_phone_can_open() -> None:
    urls = addresses_to_open("0.0.0.0", 8765, "t0k")
    assert urls[-1] == "http://localhost:8765/#token=t0k"
    assert all("0.0.0.0" not in url and url.endswith("/#token=t0k") for url in urls)
    assert not any("[" in url for url in urls)  # 0.0.0.0 listens on IPv4 alone
    for url in urls[:-1]:  # each is an address of this machine: it can be bound here
        host = url.split("//")[1].rsplit(":", 1)[0].strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family) as probe:
            probe.bind((host, 0))
    assert socket.gethostname().lower() in reachable_names("0.0.0.0")


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
