"""Helpers of the browser tests (import them: ``from browser._harness import wait_for, ...``)."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait


@dataclass
class Served:
    """A `sentikit serve` process on a free port, with a JSON client for its API."""

    process: subprocess.Popen[str]
    url: str
    api_key: str | None = None
    log_path: Path | None = None
    _log: Any = field(default=None, repr=False)

    def call(self, path: str, body: Any = None, *, key: str | None = "default") -> tuple[int, Any]:
        """(status, JSON answer) of GET ``path`` (or POST ``body``), with the server's key unless told."""
        key = self.api_key if key == "default" else key
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    def log(self) -> str:
        """Everything the server wrote so far (its access log included)."""
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log:
            self._log.close()


StartServe = Callable[..., Served]


def hook(driver: WebDriver, name: str) -> WebElement:
    """The element with ``data-testid=name`` (the pages' stable hooks for automation)."""
    return driver.find_element(By.CSS_SELECTOR, f"[data-testid={name}]")


def texts(driver: WebDriver, css: str) -> list[str]:
    """The text of every element ``css`` selects, read in one go (a list the page re-renders cannot go stale)."""
    return list(driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map((e) => e.textContent)", css))


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], Any], timeout: float = 12.0, message: str = "") -> Any:
    """``condition(driver)`` once it is truthy (polled every 0.1 s), else a TimeoutException naming ``message``."""
    # the pages re-render their lists: an element found may be gone when read, so try again
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=ignored).until(condition, message)


def console_errors(driver: WebDriver) -> list[str]:
    """The browser console's errors since the last call (a CSP violation or a script error is one)."""
    log: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[attr-defined]  # Chrome's, not in the base class
    return [entry["message"] for entry in log if entry["level"] == "SEVERE"]


def screenshot(driver: WebDriver, path: Path, *, full_page: bool = True) -> Path:
    """Save a PNG of the page; ``full_page``: the window grown to the page's height first."""
    if full_page:
        width = driver.get_window_size()["width"]
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(int(height) + 140, 4000))
        time.sleep(0.3)  # a resize re-lays out the page and redraws the chart
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path
