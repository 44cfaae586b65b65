"""A small client for headless Chromium over the DevTools protocol on a pipe
(`--remote-debugging-pipe`: the browser reads commands from fd 3 and writes replies and
events to fd 4, one JSON message per NUL-terminated chunk). Nothing is downloaded; the
browser is Debian's `chromium` package.

    with Chromium(executable) as browser:
        page = browser.open(Path("report.html"))        # waits for the load event
        page.evaluate("document.images.length")
        page.screenshot(Path("shot.png"))
        page.errors                                     # console errors and uncaught exceptions
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--mute-audio",
    "--autoplay-policy=no-user-gesture-required", "--window-size=1280,1600", "--remote-debugging-pipe",
)


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    def __init__(self, executable: str, timeout: float = 60.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        self._log = open(Path(self.profile) / "stderr.log", "wb")  # a file: a full pipe would block the browser
        to_browser_read, self._write = os.pipe()
        self._read, from_browser_write = os.pipe()
        # The browser's ends move to fds >= 10, then bash maps them to 3 and 4 and execs it
        # (no preexec_fn: forking a threaded process must not run Python in the child).
        child_read, child_write = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser_read, from_browser_write))
        os.close(to_browser_read)
        os.close(from_browser_write)
        script = f'exec "$0" "$@" 3<&{child_read} 4>&{child_write} {child_read}<&- {child_write}>&-'
        self.process = subprocess.Popen(
            ["bash", "-c", script, executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log,
            pass_fds=(child_read, child_write),
        )
        os.close(child_read)
        os.close(child_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    # ---- protocol -----------------------------------------------------------------------
    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send a command and wait for its reply; events arriving meanwhile are kept."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)
        raise TimeoutError(f"no reply to {method} within {self.timeout} s")

    def _receive(self) -> dict:
        while b"\0" not in self._buffer:
            if not select.select([self._read], [], [], self.timeout)[0]:
                raise TimeoutError(f"chromium sent nothing for {self.timeout} s")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                stderr = (Path(self.profile) / "stderr.log").read_bytes().decode(errors="replace")[-2000:]
                raise RuntimeError(f"chromium closed the pipe; its stderr ends with:\n{stderr}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def wait_for_event(self, method: str, session: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("method") == method and event.get("sessionId") == session:
                    return event
            self.events.append(self._receive())
        raise TimeoutError(f"no {method} within {self.timeout} s")

    # ---- pages ------------------------------------------------------------------------------
    def open(self, path: Path) -> "Page":
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session=session)
        self.send("Page.navigate", {"url": Path(path).resolve().as_uri()}, session=session)
        self.wait_for_event("Page.loadEventFired", session)
        return Page(self, session)

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._read, self._write):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Page:
    def __init__(self, browser: Chromium, session: str):
        self.browser = browser
        self.session = session

    def evaluate(self, expression: str):
        """The JSON value of a JavaScript expression (promises awaited)."""
        result = self.browser.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}, self.session
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        data = self.browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, self.session)
        Path(path).write_bytes(base64.b64decode(data["data"]))
        return Path(path)

    @property
    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries (failed loads) of this page."""
        found = []
        for event in self.browser.events:
            if event.get("sessionId") != self.session:
                continue
            params = event.get("params", {})
            if event.get("method") == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append("console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif event.get("method") == "Runtime.exceptionThrown":
                found.append("exception: " + json.dumps(params.get("exceptionDetails", {}))[:500])
            elif event.get("method") == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append("log: " + params["entry"].get("text", ""))
        return found


MEDIA_STATE = """({
  images: Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth})),
  videos: Array.from(document.querySelectorAll('video')).map(v => ({ready: v.readyState, error: v.error && v.error.code,
                                                                    width: v.videoWidth}))
})"""


def open_and_check(executable: str, html: Path, screenshot: Path, wait: float = 30.0) -> tuple[dict, list[str]]:
    """Load `html`, wait until every image has decoded and every video has a frame to show
    (readyState >= 2) or `wait` seconds pass, take a full-page screenshot; returns the media
    state (MEDIA_STATE) and the page's errors."""
    with Chromium(executable) as browser:
        page = browser.open(html)
        deadline = time.monotonic() + wait
        while True:
            state = page.evaluate(MEDIA_STATE)
            loaded = all(i["complete"] and i["width"] > 0 for i in state["images"]) and all(
                v["ready"] >= 2 for v in state["videos"]
            )
            if loaded or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        page.screenshot(screenshot)
        return state, page.errors
