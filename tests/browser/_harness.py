"""Helpers of the browser tests (import them: ``from browser._harness import wait_for, ...``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait


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
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


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
