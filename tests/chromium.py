"""Open a page in headless Chromium and report what a reader's browser would see.

A small DevTools-protocol client (over ``websocket-client``): it loads a page, collects console
errors, uncaught exceptions and failed requests, evaluates JavaScript in the page and takes a
full-page screenshot. Used by the report's browser test.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
]


def find_chromium() -> str | None:
    """The Chromium executable (``$CHROMIUM``, ``chromium``, ``chromium-browser``), or None."""
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@dataclass
class PageReport:
    """What loading a page produced."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)


class Browser:
    """A headless Chromium process with one page, driven over the DevTools protocol.

    Parameters
    ----------
    width : the window width in CSS pixels.
    timeout_s : how long to wait for Chromium to start and for each reply.
    """

    def __init__(self, *, width: int = 1400, timeout_s: float = 60.0) -> None:
        executable = find_chromium()
        if executable is None:
            raise RuntimeError("Chromium is not installed (apt-get install -y chromium)")
        self.width = width
        self.timeout_s = timeout_s
        self._profile = tempfile.mkdtemp(prefix="mir_ref_chromium_")
        self._process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self._profile}", f"--window-size={width},900"]
            + ["about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []
        self._socket = websocket.create_connection(self._page_socket(), timeout=timeout_s)

    def _page_socket(self) -> str:
        """The page's DevTools websocket, once Chromium has written its port."""
        port_file = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"Chromium exited with code {self._process.returncode}")
            if port_file.is_file() and port_file.read_text().strip():
                port = port_file.read_text().split()[0]
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as reply:
                        targets = json.load(reply)
                except OSError:
                    targets = []
                pages = [target for target in targets if target.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            time.sleep(0.1)
        raise RuntimeError("Chromium did not open its DevTools port in time")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        message_id = next(self._ids)
        self._socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv())
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self._events.append(message)

    def _wait_for(self, event: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not any(message["method"] == event for message in self._events):
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {event}")
            message = json.loads(self._socket.recv())
            if "method" in message:
                self._events.append(message)

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression evaluated in the page (awaited if it is a
        promise)."""
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def load(self, url: str) -> PageReport:
        """Navigate to ``url``, wait for its load event, and report errors and requests."""
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self._events.clear()
        self.call("Page.navigate", url=url)
        self._wait_for("Page.loadEventFired")
        # Let late console messages and image decodes arrive.
        self.evaluate("new Promise(done => setTimeout(done, 200))")
        report = PageReport()
        for message in self._events:
            method, params = message["method"], message.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                texts = [str(arg.get("value", arg.get("description"))) for arg in params["args"]]
                report.console_errors.append(" ".join(texts))
            elif method == "Runtime.exceptionThrown":
                report.console_errors.append(json.dumps(params["exceptionDetails"])[:500])
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                report.console_errors.append(params["entry"]["text"])
            elif method == "Network.requestWillBeSent":
                report.requests.append(_short(params["request"]["url"]))
            elif method == "Network.loadingFailed":
                report.failed_requests.append(
                    f"{params.get('errorText')} {params.get('blockedReason', '')}".strip()
                )
        return report

    def screenshot(self, path: Path) -> tuple[int, int]:
        """Save a full-page PNG screenshot at ``path``; returns its CSS width and height."""
        height = int(self.evaluate("document.documentElement.scrollHeight"))
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=self.width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return self.width, height

    def close(self) -> None:
        """Stop Chromium and remove its profile."""
        try:
            self._socket.close()
        finally:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _short(url: str) -> str:
    """A URL for messages: data URIs cut to their type."""
    return re.sub(r"^(data:[^;,]*).*", r"\1,...", url)
