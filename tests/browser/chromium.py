"""Headless Chromium driven over the Chrome DevTools protocol through a pipe (--remote-debugging-pipe:
JSON messages ended by a NUL byte on file descriptors 3 and 4), so neither a driver binary nor a
websocket package is needed.

`open_page(url)` starts Debian's /usr/bin/chromium with a private profile, opens one page, attaches to it
and yields a `Page` that evaluates JavaScript, clicks, types and takes screenshots; the browser is stopped
(by its own process id) when the block ends.
"""

from __future__ import annotations

import base64
import fcntl
import itertools
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def chromium_path() -> str | None:
    """The first Chromium found, or None (the browser tests then skip)."""
    for path in CHROMIUM_PATHS:
        if Path(path).is_file():
            return path
    return shutil.which("chromium")


class Pipe:
    """The browser end of --remote-debugging-pipe: we write to its fd 3 and read its fd 4."""

    def __init__(self, to_browser: int, from_browser: int) -> None:
        self.to_browser, self.from_browser = to_browser, from_browser
        self.buffer = b""
        self.ids = itertools.count(1)

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        number = next(self.ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + 60
        while True:
            reply = self._next(deadline)
            if reply.get("id") == number:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def _next(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            ready, _, _ = select.select([self.from_browser], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise RuntimeError("chromium did not answer within 60 s")
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)


class Page:
    """One page of the browser, spoken to through its attached session."""

    def __init__(self, pipe: Pipe, session: str) -> None:
        self.pipe, self.session = pipe, session

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        return self.pipe.call(method, self.session, **params)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, x: float, y: float) -> None:
        """A real mouse click at page coordinates (scrolled into view first)."""
        self.evaluate(f"window.scrollTo(Math.max(0, {x} - 600), Math.max(0, {y} - 300))")
        scroll_x, scroll_y = self.evaluate("[window.scrollX, window.scrollY]")
        at = {"x": x - scroll_x, "y": y - scroll_y, "button": "left", "clickCount": 1}
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=at["x"], y=at["y"])
        self.call("Input.dispatchMouseEvent", type="mousePressed", **at)
        self.call("Input.dispatchMouseEvent", type="mouseReleased", **at)

    def click_element(self, selector: str) -> None:
        x, y = self.evaluate(
            f"(() => {{ const b = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
            " return [b.left + b.width / 2 + window.scrollX, b.top + b.height / 2 + window.scrollY]; })()"
        )
        self.click(x, y)

    def type_into(self, selector: str, text: str) -> None:
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self.call("Input.insertText", text=text)

    def screenshot(self, path: Path, full_page: bool = False) -> bytes:
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": full_page}
        if full_page:
            width, height = self.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
            )
            params["clip"] = {"x": 0, "y": 0, "width": width, "height": min(height, 8000), "scale": 1}
        png = base64.b64decode(self.call("Page.captureScreenshot", **params)["data"])
        path.write_bytes(png)
        return png


@contextmanager
def open_page(url: str, width: int = 1400, height: int = 1000) -> Iterator[Page]:
    browser = chromium_path()
    if browser is None:
        raise RuntimeError("no chromium installed")
    browser_commands, our_commands = os.pipe()
    our_events, browser_events = os.pipe()

    def descriptors() -> None:  # in the child: its fd 3 reads our commands, its fd 4 carries its answers
        # Both above 4 first, so that placing one cannot overwrite the other.
        commands, events = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (browser_commands, browser_events))
        os.dup2(commands, 3)
        os.dup2(events, 4)

    with tempfile.TemporaryDirectory(prefix="arena-chromium-") as profile:
        process = subprocess.Popen(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                "about:blank",
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=descriptors,
            close_fds=False,
        )
        os.close(browser_commands)
        os.close(browser_events)
        try:
            pipe = Pipe(our_commands, our_events)
            target = pipe.call("Target.createTarget", url="about:blank")["targetId"]
            session = pipe.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            page = Page(pipe, session)
            page.call("Page.enable")
            page.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                      deviceScaleFactor=1, mobile=False)  # fmt: skip
            page.call("Page.navigate", url=url)
            _wait_loaded(page, time.monotonic() + 60)
            yield page
        finally:
            os.close(our_commands)
            os.close(our_events)
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_loaded(page: Page, deadline: float) -> None:
    while page.evaluate("document.readyState") != "complete" or not page.evaluate("!!window.arenaPage"):
        if time.monotonic() > deadline:
            raise RuntimeError("the page did not finish loading within 60 s (script error?)")
        time.sleep(0.1)
