"""`voicechat web` in a subprocess, and Debian's headless Chromium driven by selenium.

Chromium's fake media devices make `getUserMedia` a microphone that speaks a WAV file in a
loop, so the page records real speech; browsers downloaded by a tool cannot be had here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.llm_server import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def browser_available() -> bool:
    """Debian's Chromium and ChromeDriver are installed (tests/run.sh installs them)."""
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists() and bool(shutil.which("sox"))


@dataclass
class WebServer:
    """A running `voicechat web`. url: the last address it printed (with a one-time token
    not yet used); base: the same without it ("http://127.0.0.1:PORT/"); log: its output so
    far; secret: a page secret, swapped for a token at the first `page_socket`."""

    process: subprocess.Popen[bytes]
    log_path: Path
    secret: str | None = None

    @property
    def url(self) -> str:
        return str(re.findall(r"(http://\S+#token=\S+)", self.log())[-1])

    @property
    def base(self) -> str:
        return self.url.split("#")[0]

    @property
    def token(self) -> str:
        return self.url.split("#token=")[1]

    @property
    def host(self) -> str:
        """The Host header of the printed address ("127.0.0.1:PORT")."""
        return self.base.split("//")[1].rstrip("/")

    def log(self) -> str:
        return self.log_path.read_text()


@contextmanager
def web_process(config: Path, env: dict[str, str], *args: str) -> Iterator[WebServer]:
    """Run `voicechat web` until its page answers; yield it; stop it."""
    port = free_port()
    log = Path(env["VOICECHAT_HOME"]) / f"web-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "voicechat", "--config", str(config), "web",
             "--port", str(port), *args],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env},
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = re.search(r"(http://\S+)", log.read_text())
            if found:
                url = found.group(1)
                try:
                    urllib.request.urlopen(url.split("#")[0] + "health", timeout=2).read()
                    break
                except OSError:
                    pass
            if process.poll() is not None:
                raise AssertionError(f"voicechat web exited: {log.read_text()}")
            time.sleep(0.2)
        else:
            raise AssertionError(f"voicechat web did not start: {log.read_text()}")
        yield WebServer(process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def web_server(config: Path, env: dict[str, str], *args: str) -> Iterator[str]:
    """Run `voicechat web` and yield the address it printed (with its token)."""
    with web_process(config, env, *args) as server:
        yield server.url


@contextmanager
def chromium(microphone: Path | None, workdir: Path) -> Iterator[Any]:
    """A headless Chromium whose microphone speaks `microphone` (a WAV), or, with None, one
    that is refused the microphone."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required", "--window-size=1000,900",
        f"--user-data-dir={workdir / 'chromium-profile'}",
    ):  # fmt: skip
        options.add_argument(flag)
    if microphone is not None:
        options.add_argument("--use-fake-ui-for-media-stream")
        options.add_argument("--use-fake-device-for-media-stream")
        options.add_argument(f"--use-file-for-fake-audio-capture={microphone}")
    else:
        options.add_argument("--deny-permission-prompts")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(driver: Any, script: str, timeout: float = 60.0) -> Any:
    """Poll a JavaScript expression in the page until it is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return {script}")
        if value:
            return value
        time.sleep(0.1)
    state = driver.execute_script("return document.querySelector('main').innerText")
    raise AssertionError(f"{script} never held; the page shows:\n{state}")


def http_get(
    server: WebServer, path: str = "/", host: str | None = None, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """GET `path` (POST `body` as a form, when given) with any Host header; the status, the
    headers (lowercased) and the body."""
    import http.client

    address, port = server.host.rsplit(":", 1)
    connection = http.client.HTTPConnection(address, int(port), timeout=10)
    try:
        connection.putrequest("GET" if body is None else "POST", path, skip_host=True)
        connection.putheader("Host", host or server.host)
        if body is not None:
            connection.putheader("Content-Type", "application/x-www-form-urlencoded")
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def handshake_status(server: WebServer, host: str, origin: str | None) -> int:
    """The HTTP status a WebSocket opening handshake to /ws gets, sent by hand so that any
    Host can be claimed (101: the socket was accepted; it must still log in)."""
    import base64
    import socket

    address, port = server.host.rsplit(":", 1)
    lines = [
        "GET /ws HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
        "Sec-WebSocket-Version: 13",
    ]  # fmt: skip
    lines += [f"Origin: {origin}"] if origin else []
    with socket.create_connection((address, int(port)), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        status_line = s.recv(4096).split(b"\r\n")[0]
    return int(status_line.split()[1])


@contextmanager
def raw_socket(server: WebServer, **options: Any) -> Iterator[Any]:
    """A WebSocket to the server from its own page's origin, not logged in."""
    from websockets.sync.client import connect
    from websockets.typing import Origin

    with connect(
        server.base.replace("http://", "ws://") + "ws",
        origin=Origin(server.base.rstrip("/")),
        max_size=None,
        proxy=None,
        **options,
    ) as ws:
        yield ws


def log_in(ws: Any, **key: str) -> dict[str, Any]:
    """Send the login message (token=… or secret=…); the server's answer to it."""
    import json

    ws.send(json.dumps({"type": "login", **key}))
    return json.loads(ws.recv(timeout=10))  # type: ignore[no-any-return]


@contextmanager
def page_socket(server: WebServer) -> Iterator[Any]:
    """A WebSocket to the server as its own page opens it: its origin, logged in with the
    page secret (swapped for the printed token the first time)."""
    with raw_socket(server) as ws:
        key = {"secret": server.secret} if server.secret else {"token": server.token}
        answer = log_in(ws, **key)
        assert answer["type"] == "welcome", answer
        server.secret = answer["secret"]
        yield ws


def receive_until(ws: Any, kind: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """JSON messages from the server up to and including the first of type `kind`; an error
    on the way fails, unless errors are what is awaited."""
    import json

    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(message, bytes):
            continue
        got.append(json.loads(message))
        if got[-1]["type"] == kind:
            return got
        if got[-1]["type"] == "error":
            raise AssertionError(f"error while awaiting {kind!r}: {got[-1]['text']}")
    raise AssertionError(f"no {kind!r} message came; got {got}")
