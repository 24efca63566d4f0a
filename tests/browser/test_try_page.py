"""GET /, the page where anyone tries a text, in a real chromium against a real `sentikit serve`
that requires an API key: the prompt, the score the API gives, the words behind it, a table for
several lines, the headers (CSP), a phone's width, and --no-ui."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from browser._harness import Served, StartServe, console_errors, hook, screenshot, wait_for
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from sentikit.config import load_settings
from sentikit.model import load_model
from sentikit.server.pages import ASSETS, PAGE_CSP
from sentikit.server.run import AppSpec

KEY = "desk-test-key-7f3a"
TEXT = "Great location but the room was filthy and the staff were rude"
LINES = ["The host was lovely and the flat spotless", "Terrible service, never again", "Not bad at all"]


@pytest.fixture(scope="module")
def server(serve: StartServe) -> Served:
    return serve(api_key=KEY)


def open_page(driver: WebDriver, url: str, *, key: str | None) -> None:
    """Load ``url`` in a fresh tab state: sessionStorage holds ``key`` (or nothing)."""
    driver.get(url)
    if key is None:
        driver.execute_script("sessionStorage.clear()")
    else:
        driver.execute_script("sessionStorage.setItem('sentikit.apiKey', arguments[0])", key)
    driver.get(url)
    console_errors(driver)  # start each test with an empty console


def type_text(driver: WebDriver, text: str) -> None:
    box = hook(driver, "text-input")
    box.clear()
    box.send_keys(text)


def test_pages_and_assets_carry_strict_headers(server: Served) -> None:
    # The pages need no key (they hold no data; the API behind them does).
    for path, kind in [("/", "text/html"), ("/monitor", "text/html")] + [
        (path, "text/css" if path.endswith(".css") else "image/svg+xml" if path.endswith(".svg") else "text/javascript")
        for path in ASSETS
    ]:
        with urllib.request.urlopen(server.url + path, timeout=10) as response:
            headers = response.headers
            assert response.status == 200, path
            assert headers["Content-Type"].split(";")[0] == kind, path
            assert headers["Content-Security-Policy"] == PAGE_CSP
            assert headers["X-Content-Type-Options"] == "nosniff"
            expected_cache = "no-cache" if kind == "text/html" else "public, max-age=31536000, immutable"
            assert headers["Cache-Control"] == expected_cache, path
            etag = headers["ETag"]
        revalidate = urllib.request.Request(server.url + path, headers={"If-None-Match": etag})
        with pytest.raises(urllib.error.HTTPError) as not_modified:
            urllib.request.urlopen(revalidate, timeout=10)
        assert not_modified.value.code == 304
    for path in ("/", "/monitor"):  # nothing inline that the CSP would have to allow
        with urllib.request.urlopen(server.url + path, timeout=10) as response:
            html = response.read().decode()
        assert not re.search(r"<script(?![^>]*\ssrc=)", html) and "<style" not in html, path
        assert not re.search(r"\s(style|on[a-z]+)=", html), path
        assert "http://" not in html and "https://" not in html, path  # nothing from elsewhere
    assert "'unsafe-inline'" not in PAGE_CSP and "'unsafe-eval'" not in PAGE_CSP
    assert "script-src 'self'" in PAGE_CSP and "default-src 'none'" in PAGE_CSP
    # the API itself still wants the key
    assert server.call("/v1/score", {"texts": ["hi"]}, key=None)[0] == 401


def test_key_is_asked_once_then_the_score_is_the_apis(server: Served, browser: WebDriver, artifacts: Path) -> None:
    open_page(browser, server.url + "/", key=None)
    type_text(browser, TEXT)
    dialog = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "[data-testid=api-key-dialog]"),
                      message="no API-key prompt after the server answered 401")
    assert "API key required" in dialog.text
    # A wrong key is refused and asked again; Enter submits the form.
    hook(browser, "api-key-input").send_keys("wrong-key", Keys.ENTER)
    wait_for(browser, lambda d: "refused" in d.find_element(By.CSS_SELECTOR, "[data-testid=api-key-dialog]").text,
             message="a refused key was not reported")
    hook(browser, "api-key-input").send_keys(KEY)
    hook(browser, "api-key-submit").click()

    status, expected = server.call("/v1/score", {"texts": [TEXT]})
    assert status == 200
    want = f"{expected['scores'][0]:.3f}"
    wait_for(browser, lambda d: hook(d, "score").text == want, message=f"the page never showed {want}")
    assert hook(browser, "label").text.lower() == expected["labels"][0]
    assert browser.execute_script("return sessionStorage.getItem('sentikit.apiKey')") == KEY
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid=api-key-dialog]")

    # The words behind it: /v1/explain's strongest n-grams are marked in the text, up or down.
    explanation = hook(browser, "explanation")
    wait_for(browser, lambda d: explanation.find_elements(By.CSS_SELECTOR, "mark"), message="nothing highlighted")
    marked = {m.text.lower(): m.get_attribute("class") for m in explanation.find_elements(By.CSS_SELECTOR, "mark")}
    _, explained = server.call("/v1/explain", {"text": TEXT, "top": 8})
    def strongest_word(side: str) -> str:
        return next(w for w in (c["ngram"].replace("lexicon:", "") for c in explained[side]) if " " not in w)

    strongest_down, strongest_up = strongest_word("negatives"), strongest_word("positives")
    assert "down" in marked[strongest_down] and "up" in marked[strongest_up]
    assert explanation.find_element(By.CSS_SELECTOR, ".highlighted").text == TEXT  # the text itself, intact
    screenshot(browser, artifacts / "try-a-text.png")

    # Enter scores at once, and the key is kept for the tab: a reload asks nothing.
    browser.refresh()
    type_text(browser, "Cold food, rude staff")
    hook(browser, "text-input").send_keys(Keys.ENTER)
    _, cold = server.call("/v1/score", {"texts": ["Cold food, rude staff"]})
    wait_for(browser, lambda d: hook(d, "score").text == f"{cold['scores'][0]:.3f}", timeout=5)
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid=api-key-dialog]")
    # sent as a header, never in a URL: the access log holds every request line
    assert KEY not in server.log() and "POST /v1/score" in server.log()
    errors = console_errors(browser)  # the 401s the prompt answered, nothing else (no CSP violation)
    assert all(" 401 " in e for e in errors), errors


def test_several_lines_give_a_table_of_scores(server: Served, browser: WebDriver) -> None:
    open_page(browser, server.url + "/", key=KEY)
    box = hook(browser, "text-input")
    for i, line in enumerate(LINES):
        box.send_keys(line)
        if i < len(LINES) - 1:
            box.send_keys(Keys.SHIFT, Keys.ENTER)  # Shift+Enter: a new line, not a score
    box.send_keys(Keys.ENTER)
    table = hook(browser, "batch-table")
    wait_for(browser, lambda d: len(table.find_elements(By.CSS_SELECTOR, "tbody tr")) == len(LINES), message="no table")
    _, expected = server.call("/v1/score", {"texts": LINES})
    rows = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert [(r[1], r[2], r[3].lower()) for r in rows] == [
        (line, f"{s:.3f}", label) for line, s, label in zip(LINES, expected["scores"], expected["labels"])
    ]
    assert console_errors(browser) == []


def test_readable_at_a_phones_width(server: Served, browser: WebDriver, artifacts: Path) -> None:
    browser.set_window_size(375, 800)
    try:
        open_page(browser, server.url + "/", key=KEY)
        type_text(browser, TEXT)
        wait_for(browser, lambda d: hook(d, "score").text not in ("", "–"))
        # nothing wider than the screen: no sideways scrolling
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 375
        box = hook(browser, "text-input").rect
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375
        screenshot(browser, artifacts / "try-a-text-375px.png")
        assert console_errors(browser) == []
    finally:
        browser.set_window_size(1280, 900)


def test_monitor_page_says_when_monitoring_is_off(server: Served, browser: WebDriver) -> None:
    open_page(browser, server.url + "/monitor", key=None)
    # Cancelled, the prompt does not come back at the next poll: the dashboard pauses until asked.
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=api-key-dialog]"), message="no prompt")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=api-key-dialog] [data-action=cancel]").click()
    paused = wait_for(browser, lambda d: d.find_element(By.ID, "key-needed").is_displayed() and d.find_element(By.ID, "key-needed"))
    time.sleep(3)  # more than one poll
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid=api-key-dialog]")
    paused.find_element(By.TAG_NAME, "button").click()  # asks again once the server answers 401 again
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=api-key-input]"))[0].send_keys(KEY, Keys.ENTER)
    notice = wait_for(browser, lambda d: d.find_element(By.ID, "off").is_displayed() and d.find_element(By.ID, "off"),
                      message="no 'monitoring is off' notice")
    assert "Monitoring is off" in notice.text and "--monitor" in notice.text
    assert not hook(browser, "state").is_displayed()


def test_no_ui_turns_both_pages_off(serve: StartServe, trained_model_dir: Path) -> None:
    # the setting, as the container reads it (python -m sentikit.serve: environment only)
    settings = load_settings(environ={"SENTIKIT_SERVER_UI": "false"}, cwd=trained_model_dir)
    assert AppSpec.resolve(load_model(trained_model_dir), settings, None).ui is False
    assert load_settings(environ={}, cwd=trained_model_dir).server_ui is True
    server = serve("--no-ui")
    for path in ("/", "/monitor", next(iter(ASSETS))):
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(server.url + path, timeout=10)
        assert missing.value.code == 404, path
    assert server.call("/v1/score", {"texts": ["lovely"]})[0] == 200


def test_a_refused_text_shows_the_servers_message(server: Served, browser: WebDriver) -> None:
    open_page(browser, server.url + "/", key=KEY)
    too_long = "lovely " * 2000  # 14,000 characters: over the server's 10,000
    status, refused = server.call("/v1/score", {"texts": [too_long.strip()]})
    assert status == 413
    browser.execute_script("const box = arguments[0]; box.value = arguments[1];"
                           "box.dispatchEvent(new Event('input', {bubbles: true}))", hook(browser, "text-input"), too_long)
    wait_for(browser, lambda d: d.find_element(By.ID, "status").text == refused["error"]["message"],
             message="the server's message is not shown")
    assert not hook(browser, "score").is_displayed()  # no stale score beside the error
