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
from pathlib import Path
from typing import Any

from tests.support.llm_server import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def browser_available() -> bool:
    """Debian's Chromium and ChromeDriver are installed (tests/run.sh installs them)."""
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists() and bool(shutil.which("sox"))


@contextmanager
def web_server(config: Path, env: dict[str, str], *args: str) -> Iterator[str]:
    """Run `voicechat web` and yield the page's address (with its token, if one is printed)."""
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
                    health = url.replace("/?", "/health?") if "?" in url else url + "health"
                    urllib.request.urlopen(health, timeout=2).read()
                    break
                except OSError:
                    pass
            if process.poll() is not None:
                raise AssertionError(f"voicechat web exited: {log.read_text()}")
            time.sleep(0.2)
        else:
            raise AssertionError(f"voicechat web did not start: {log.read_text()}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


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
