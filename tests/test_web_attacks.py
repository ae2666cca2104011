"""`voicechat web` under attack: a real server, attacked as another website, a hostile upload,
a flood of connections and a broken page would attack it. Each attack is refused or bounded
(under 64 MiB of server memory at its peak and 2 s of server CPU, the memory given back
within 64 MiB), the page is still served afterwards, and nothing acknowledged is lost.

Run with `-s` for the figures of each attack (benchmarks/RESULTS.md has them)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest
import soundfile as sf

from tests.support.hostile import (
    endless_webm,
    id3_inflating_aac,
    many_tracks_mkv,
    peak_growth_mib,
    streamed_flac,
    tiny_rate_wav,
    zero_bits_wav,
)
from tests.support.speech import speak
from tests.support.web import (
    WebServer,
    handshake_status,
    http_get,
    log_in,
    page_socket,
    raw_socket,
    receive_until,
    web_process,
)

pytestmark = pytest.mark.slow

T = TypeVar("T")
EVIL = "evil.example"
PROXY = "voice.example"
STORY = "Tell me a long story."
MAX_GROWTH_MIB = 64
MAX_CPU_S = 2.0


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("web-home")


@pytest.fixture(scope="module")
def server(
    home: Path, tmp_path_factory: pytest.TempPathFactory, tiny_en_ct2: Path, tiny_phi3: Path
) -> Iterator[WebServer]:
    """One server for every attack here: faster-whisper tiny.en, the tiny Phi-3, piper."""
    config = tmp_path_factory.mktemp("web-config") / "web.toml"
    config.write_text(
        f'[asr]\nengine = "faster-whisper"\nmodel = "{tiny_en_ct2}"\n'
        f'[llm]\nmodel = "{tiny_phi3}"\ntemperature = 0\n[tts]\nengine = "piper"\n'
    )
    env = {"VOICECHAT_HOME": str(home), "XDG_CONFIG_HOME": str(home / "xdg")}
    with web_process(config, env, "--session", "first", "--allow-host", PROXY) as running:
        yield running
    assert running.process.returncode is not None


def _cost(server: WebServer, name: str, action: Callable[[], T]) -> T:
    """Run one attack; check and print what it cost the server: its memory at the peak and
    after, and its CPU seconds (decoding children are bounded on their own)."""
    process = psutil.Process(server.process.pid)
    rss_before = process.memory_info().rss / 2**20
    cpu_before = sum(process.cpu_times()[:2])
    start = time.monotonic()
    result, growth = peak_growth_mib(server.process.pid, action)
    seconds = time.monotonic() - start
    cpu = sum(process.cpu_times()[:2]) - cpu_before
    kept = process.memory_info().rss / 2**20 - rss_before
    print(f"\n{name}: +{growth:.1f} MiB at the peak, {kept:+.1f} MiB after, "
          f"{cpu:.2f} s CPU, {seconds:.2f} s")  # fmt: skip
    assert growth < MAX_GROWTH_MIB, f"{name} cost {growth:.0f} MiB"
    assert kept < MAX_GROWTH_MIB, f"{name} kept {kept:.0f} MiB"
    assert cpu < MAX_CPU_S, f"{name} cost {cpu:.2f} s of CPU"
    return result


def _messages(home: Path, name: str) -> list[dict[str, Any]]:
    return json.loads((home / "sessions" / f"{name}.json").read_text())["messages"]  # type: ignore[no-any-return]


def _use_session(ws: Any, name: str) -> list[dict[str, Any]]:
    ws.send(json.dumps({"type": "session", "name": name}))
    return receive_until(ws, "history")


def _upload(ws: Any, data: bytes, name: str) -> dict[str, Any]:
    """Send an upload; the first error, `said` or `done` that answers it."""
    ws.send(json.dumps({"type": "audio", "name": name}))
    ws.send(data)
    while True:
        message = json.loads(ws.recv(timeout=60))
        if message["type"] in ("error", "said", "done"):
            return message  # type: ignore[no-any-return]


def _alive(server: WebServer) -> None:
    """The server still answers a page: a hello gets the sessions."""
    assert server.process.poll() is None
    with page_socket(server) as ws:
        ws.send(json.dumps({"type": "hello"}))
        assert receive_until(ws, "history", timeout=10)


def _settle() -> None:
    """Let the rate limit every page shares fill again after a flood."""
    time.sleep(2.0)  # 10 messages: more than any test here sends after a flood


# Another website or program ------------------------------------------------------------------


def test_a_rebinding_page_gets_nothing_even_on_loopback(server: WebServer) -> None:
    forged = f"{EVIL}:{server.host.rsplit(':', 1)[1]}"
    assert http_get(server, "/", host=forged)[0] == 403
    assert http_get(server, "/", host=forged, body=f"token={server.token}".encode())[0] == 403
    # The socket: Host and Origin both claim the rebinding name (they agree, as they would).
    assert handshake_status(server, forged, f"http://{forged}") == 403
    assert "refused a request for another host name: 'evil.example:" in server.log()


def test_the_origin_is_checked_against_the_server_s_own_names(server: WebServer) -> None:
    own = server.base.rstrip("/")
    for origin in (f"http://{EVIL}", "null", "http://127.0.0.1:1", f"https://{PROXY}.evil"):
        assert handshake_status(server, server.host, origin) == 403, origin
    assert handshake_status(server, server.host, own) == 101
    assert handshake_status(server, f"localhost:{server.host.rsplit(':', 1)[1]}", own) == 101


def test_behind_an_https_proxy_the_public_name_is_accepted(server: WebServer) -> None:
    """`--allow-host voice.example`: a proxy on https://voice.example forwards the browser's
    Host and Origin as they are, on the default port."""
    assert http_get(server, "/", host=PROXY)[0] == 200
    assert handshake_status(server, PROXY, f"https://{PROXY}") == 101
    assert handshake_status(server, server.host, f"https://{PROXY}") == 101
    assert handshake_status(server, PROXY, f"https://{PROXY}:444") == 403


def test_the_key_is_one_time_and_never_a_cookie(server: WebServer) -> None:
    """The printed token opens one page and is then spent (a new one is printed); a socket
    that does not log in within 5 s, or with a wrong key, is closed; nothing sets a cookie."""
    for path in ("/", "/health", "/nothing"):
        assert "set-cookie" not in http_get(server, path)[1]
    token = server.token
    status, headers, page = http_get(server, "/", body=f"token={token}".encode())
    assert status == 200 and b'name="voicechat-secret"' in page and "set-cookie" not in headers
    assert server.token != token  # spent: the next address was printed
    for key in ({"token": token}, {"token": "x" * 32}, {"secret": "x" * 43}, {}):
        with raw_socket(server) as ws:
            answer = log_in(ws, **key)
            assert answer["type"] == "error" and "#token=" in answer["text"], key
    with raw_socket(server) as ws:  # says nothing: closed at the login deadline
        start = time.monotonic()
        with pytest.raises(Exception, match="4401"):
            ws.recv(timeout=15)
        assert time.monotonic() - start > 4.0  # not before the login deadline
    with raw_socket(server) as ws:  # the page secret opens any number of sockets
        answer = log_in(ws, token=server.token)
        assert answer["type"] == "welcome"
    with raw_socket(server) as ws:
        assert log_in(ws, secret=answer["secret"])["type"] == "welcome"


def test_every_response_forbids_framing_and_foreign_scripts(server: WebServer) -> None:
    for path in ("/", "/health", "/nothing"):
        _, headers, _ = http_get(server, path)
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "connect-src 'self'" in csp
        assert "script-src 'sha256-" in csp and "unsafe-inline" not in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"


def test_a_flood_of_refused_requests_is_summarised(server: WebServer) -> None:
    before = server.log().count("\n")

    def flood() -> None:
        for i in range(500):
            http_get(server, "/", host=f"{EVIL}-{i}:1")

    _cost(server, "500 requests for other host names", flood)
    lines = server.log().count("\n") - before
    assert lines <= 2, server.log()[-2000:]


# Connections ---------------------------------------------------------------------------------


def test_idle_and_slow_sockets_are_capped_and_closed(server: WebServer) -> None:
    """300 sockets that send nothing or half a request head: past the cap they are closed at
    once, the rest when the head deadline passes; none needs the token."""
    address, port = server.host.rsplit(":", 1)

    def attack() -> list[socket.socket]:
        sockets = []
        for i in range(300):
            s = socket.create_connection((address, int(port)), timeout=20)
            if i % 2:
                s.sendall(f"GET / HTTP/1.1\r\nHost: {server.host}\r\nX-Slow: ".encode())
            sockets.append(s)
        return sockets

    sockets = _cost(server, "300 idle and slow-header sockets", attack)
    deadline = time.monotonic() + 20
    closed = 0
    for s in sockets:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            closed += s.recv(1024) == b""
        except (TimeoutError, ConnectionResetError):
            closed += 1  # reset by the cap
        s.close()
    assert closed == len(sockets)
    assert "Traceback" not in server.log()
    _alive(server)


def test_a_message_in_endless_fragments_is_cut_off(server: WebServer) -> None:
    """A text frame, then 200,000 empty continuation frames (1.2 MB): the socket is closed
    after 64 of them."""
    import os

    frame = bytes([0x00, 0x80]) + os.urandom(4)  # fin=0, continuation, masked, empty

    def attack() -> None:
        with page_socket(server) as ws:
            ws.socket.sendall(bytes([0x01, 0x80]) + os.urandom(4))  # text, not final
            try:
                for _ in range(200):
                    ws.socket.sendall(frame * 1000)
            except OSError:
                pass  # closed by the server

    _cost(server, "200,000 continuation frames", attack)
    assert "refused a message in too many pieces" in server.log()
    _alive(server)


def test_no_compression_is_offered(server: WebServer) -> None:
    """permessage-deflate would let 250 KB on the wire become 240 MiB."""
    with raw_socket(server, compression="deflate") as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        assert log_in(ws, token=server.token)["type"] == "welcome"


# Hostile uploads ------------------------------------------------------------------------------


def _au(path: Path) -> Path:
    sf.write(str(path), [0.0] * 16000, 16000, format="AU")
    return path


HOSTILE: dict[str, tuple[Callable[[Path], Path], str]] = {
    "1 Hz WAV": (lambda d: tiny_rate_wav(d / "tiny-rate.wav", 8192), "1 Hz is outside 8–192 kHz"),
    "endless WebM": (lambda d: endless_webm(d / "endless.webm", 600), "longer than 60 s"),
    "ID3 tag inflating to 200 MiB": (
        lambda d: id3_inflating_aac(d / "bomb.aac", frames=200),
        "not a readable audio file",
    ),
    "Matroska with 1,000 tracks": (lambda d: many_tracks_mkv(d / "tracks.mkv", 1000), "done"),
    "WAV of 0 bits per sample": (lambda d: zero_bits_wav(d / "0.wav"), "not a readable audio"),
    "streamed FLAC": (lambda d: streamed_flac(d / "s.flac"), "does not declare its length"),
    "AU, not a listed format": (lambda d: _au(d / "tone.au"), "not a readable audio file"),
}
"""Each hostile upload: how to build it in a folder, and what the answer to it says."""


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_upload_is_refused_or_bounded(
    server: WebServer, tmp_path: Path, kind: str
) -> None:
    build, expected = HOSTILE[kind]
    path = build(tmp_path)
    data = path.read_bytes()
    with page_socket(server) as ws:
        _use_session(ws, "uploads")
        name = f"{kind} ({len(data) // 1024} KB)"
        answer = _cost(server, name, lambda: _upload(ws, data, path.name))
    if expected == "done":  # a valid recording of silence: its first track is heard
        assert answer["type"] == "done" and answer["reply"] is None, answer
    else:
        assert answer["type"] == "error" and expected in answer["text"], answer
        assert answer["text"].startswith(path.name)
    _alive(server)


# A broken or hostile page ----------------------------------------------------------------------


def test_huge_and_malformed_messages_get_an_error_and_the_socket_stays(server: WebServer) -> None:
    _settle()
    with page_socket(server) as ws:
        ws.send(json.dumps({"type": "text", "text": "word " * 200_000}))  # 1 MB
        assert "too long" in receive_until(ws, "error", timeout=10)[-1]["text"]
        for bad in ("[]", "1", "null", '"text"', "{", "[" * 10_000, '{"n": ' + "9" * 5000 + "}"):
            ws.send(bad)
            assert receive_until(ws, "error", timeout=10)[-1]["text"], bad
        ws.send(json.dumps({"type": "hello"}))
        assert receive_until(ws, "history", timeout=10)
    with page_socket(server) as ws:  # text that is not UTF-8 closes the socket, quietly
        ws.socket.sendall(bytes([0x81, 0x82]) + bytes(4) + b"\xff\xfe")
        with pytest.raises(Exception, match="1007"):
            ws.recv(timeout=10)
    assert "Traceback" not in server.log()
    _alive(server)


def test_a_lone_surrogate_in_typed_text_is_answered(server: WebServer, home: Path) -> None:
    _settle()
    with page_socket(server) as ws:
        _use_session(ws, "surrogate")
        ws.send('{"type": "text", "text": "What colour is the sky?\\ud800"}')
        done = receive_until(ws, "done", timeout=120)[-1]
        assert done["reply"], done
    assert _messages(home, "surrogate")[0]["content"] == "What colour is the sky?\ufffd"


def test_floods_from_many_sockets_share_one_rate_limit(server: WebServer) -> None:
    """300 hellos on one socket, then 4 hellos and 4 typed texts on each of 50 more: one
    limit for every kind and socket, each refusal one error line."""
    _settle()

    def flood() -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        with page_socket(server) as ws:
            for _ in range(300):
                ws.send(json.dumps({"type": "hello"}))
            answered = 0  # each hello gets its history, or an error
            while answered < 300:
                got.append(json.loads(ws.recv(timeout=30)))
                answered += got[-1]["type"] in ("history", "error")
        for _ in range(50):
            with page_socket(server) as ws:
                for i in range(8):
                    ws.send(
                        json.dumps({"type": "hello"} if i % 2 else {"type": "text", "text": ""})
                    )
        return got

    got = _cost(server, "300 hellos, then 50 sockets of 8 messages", flood)
    listings = [m for m in got if m["type"] == "sessions"]
    limited = [m for m in got if m["type"] == "error" and "too many" in m["text"]]
    assert 1 <= len(listings) <= 25 and len(limited) >= 250
    _settle()
    _alive(server)


def test_a_session_too_large_for_one_message_is_sent_in_pieces(
    server: WebServer, home: Path
) -> None:
    """A 12 MiB session (more than a page may have waiting at once) opens, every message."""
    from voicechat.session import Session, SessionStore

    session = Session(name="large")
    for i in range(200):
        session.add("user" if i % 2 == 0 else "assistant", f"{i:04d} " + "x" * 60_000)
    SessionStore(home / "sessions").save(session)
    _settle()
    with page_socket(server) as ws:
        shown = list(_use_session(ws, "large")[-1]["messages"])
        while len(shown) < 200:
            more = json.loads(ws.recv(timeout=30))
            if more["type"] == "history_more":
                shown += more["messages"]
    assert [m["content"][:4] for m in shown] == [f"{i:04d}" for i in range(200)]


def test_leaving_before_the_reply_begins_stops_the_turn_and_frees_the_session(
    server: WebServer, home: Path, tmp_path: Path
) -> None:
    question = speak("What is the capital of France?", tmp_path / "france.wav").read_bytes()
    with page_socket(server) as ws:
        _use_session(ws, "left")
        ws.send(json.dumps({"type": "audio", "name": "france.wav"}))
        ws.send(question)
        receive_until(ws, "status")  # transcribing: the reply has not begun
    # The page is gone: the turn stops, saved as far as it got, and the lock is free at once.
    with page_socket(server) as ws:
        _use_session(ws, "left")
        ws.send(json.dumps({"type": "text", "text": "What colour is the sky?"}))
        done = receive_until(ws, "done")
        assert not [m for m in done if m["type"] == "error"], done
    messages = _messages(home, "left")
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert "capital of france" in messages[0]["content"].lower()
    assert messages[1]["interrupted"] is True and messages[1]["content"] == ""
    assert messages[3]["interrupted"] is False and messages[3]["content"]


def test_stop_during_the_reply_and_two_pages_on_one_session(server: WebServer, home: Path) -> None:
    with page_socket(server) as first, page_socket(server) as second:
        _use_session(first, "shared")
        _use_session(second, "shared")
        first.send(json.dumps({"type": "text", "text": STORY}))
        receive_until(first, "speaking")
        second.send(json.dumps({"type": "text", "text": "What colour is the sky?"}))
        assert "is in use" in receive_until(second, "error")[-1]["text"]
        first.send(json.dumps({"type": "stop"}))
        done = receive_until(first, "done")[-1]
        assert done["interrupted"] is True
    messages = _messages(home, "shared")
    assert [m["content"] for m in messages if m["role"] == "user"] == [STORY]
    assert messages[-1]["role"] == "assistant" and messages[-1]["interrupted"] is True
