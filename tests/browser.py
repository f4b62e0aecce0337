"""Open a page in headless Chromium and report what a reader's browser would see.

Chromium is driven through Selenium and Debian's ``chromium-driver``, which is built from the
same source as the ``chromium`` package and upgraded with it, so the driver always speaks the
browser's own protocol; nothing here talks to the browser directly. The browser's console and
network events come from ChromeDriver's logs (``goog:loggingPrefs``). Used by the report's
browser test.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

# Without the background-networking flags Chromium keeps dialling Google's hosts, which this
# offline machine refuses; they would show up as failed requests that no page made.
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
]
PROFILE_PREFIX = "mir_ref_chromium_"


def find_chromium() -> tuple[str, str] | None:
    """The Chromium executable and its ChromeDriver (``$CHROMIUM``, ``$CHROMEDRIVER`` or the
    Debian packages' ``chromium`` and ``chromedriver``), or None when either is missing."""
    browser = _which(os.environ.get("CHROMIUM"), "chromium", "chromium-browser")
    driver = _which(os.environ.get("CHROMEDRIVER"), "chromedriver")
    return (browser, driver) if browser and driver else None


def _which(*names: str | None) -> str | None:
    for name in names:
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def processes_using(profile: str) -> list[int]:
    """Process ids whose command line names ``profile`` (a browser and its helpers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if profile.encode() in command:
            found.append(int(entry.name))
    return found


@dataclass
class PageReport:
    """What loading a page produced."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


class Browser:
    """A headless Chromium with one page, driven by Selenium through ChromeDriver.

    Parameters
    ----------
    width : the window width in CSS pixels.
    timeout_s : how long to wait for a page load or a script.
    """

    def __init__(self, *, width: int = 1400, timeout_s: float = 60.0) -> None:
        found = find_chromium()
        if found is None:
            raise RuntimeError("Chromium or ChromeDriver is missing (make browser)")
        executable, driver = found
        self.width = width
        self.profile = tempfile.mkdtemp(prefix=PROFILE_PREFIX)
        options = Options()
        options.binary_location = executable
        for flag in [*FLAGS, f"--user-data-dir={self.profile}", f"--window-size={width},900"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        try:
            self._driver = webdriver.Chrome(options=options, service=Service(driver))
        except BaseException:
            self._reap()
            raise
        self._driver.set_page_load_timeout(timeout_s)
        self._driver.set_script_timeout(timeout_s)

    def load(self, url: str) -> PageReport:
        """Navigate to ``url``, wait for its load event, and report errors and requests."""
        self._drain_logs()
        self._driver.get(url)
        # Let late console messages and image decodes arrive.
        self.evaluate("new Promise(done => setTimeout(done, 200))")
        report = PageReport()
        for entry in self._driver.get_log("browser"):
            if entry["level"] == "SEVERE":
                report.console_errors.append(entry["message"])
        # The log also holds what Chromium's own pages (the new-tab page) fetch: keep the
        # requests this document made, and the failures among them.
        document, ours = self._driver.current_url, set()
        for entry in self._driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message["method"] == "Network.requestWillBeSent":
                if params.get("documentURL") == document:
                    ours.add(params["requestId"])
                    report.requests.append(_short(params["request"]["url"]))
            elif message["method"] == "Network.loadingFailed" and params["requestId"] in ours:
                report.failed_requests.append(
                    f"{params.get('errorText')} {params.get('blockedReason', '')}".strip()
                )
        return report

    def _drain_logs(self) -> None:
        """Drop what earlier pages logged: ChromeDriver's logs are read-once buffers."""
        for kind in ("browser", "performance"):
            self._driver.get_log(kind)

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression evaluated in the page (awaited if it is a
        promise, as WebDriver's Execute Script does)."""
        return self._driver.execute_script(f"return ({expression});")

    def screenshot(self, path: Path) -> tuple[int, int]:
        """Save a full-page PNG screenshot at ``path``; returns its CSS width and height."""
        height = int(self.evaluate("document.documentElement.scrollHeight"))
        self._driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        shot = self._driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return self.width, height

    def close(self) -> None:
        """Stop ChromeDriver and Chromium, and remove the profile."""
        try:
            self._driver.quit()
        finally:
            self._reap()

    def _reap(self) -> None:
        """Kill whatever still runs on this profile (a browser ``quit`` could not stop)."""
        for pid in processes_using(self.profile):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _short(url: str) -> str:
    """A URL for messages: data URIs cut to their type."""
    return re.sub(r"^(data:[^;,]*).*", r"\1,...", url)
