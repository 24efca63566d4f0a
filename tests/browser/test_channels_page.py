"""A failing alert channel on the desk's dashboard, in a real chromium: while a Slack-format receiver
refuses the alert, /monitor shows the delivery line amber with the receiver's answer (its host only, no
token); once the receiver is back, the line says the alert was delivered."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from _alert_receivers import Receiver, receiving
from browser._harness import console_errors, hook, screenshot, wait_for
from browser._posts import NEGATIVE, POSITIVE
from selenium.webdriver.remote.webdriver import WebDriver

LIVE = 20.0  # the page polls every 2.5 s; a retry waits for its back-off (at most ~8 s here)


@pytest.fixture(scope="module")
def down() -> Iterator[Receiver]:
    yield from receiving("/services/T0/B0/secret-token")


def test_a_failing_channel_shows_on_the_dashboard(serve, down: Receiver, browser: WebDriver, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    down.fail_first(10_000, 503)
    desk = serve("--monitor", "--alert-below", "0.4", "--window", "10", "--webhook", f"slack+{down.url}")
    status, answer = desk.call("/v1/posts", {"posts": [{"text": t} for t in POSITIVE[:10] + NEGATIVE[:10]]})
    assert status == 200 and answer["state"] == "alert", answer
    browser.get(desk.url + "/monitor")
    line = wait_for(browser, lambda d: hook(d, "deliveries") if hook(d, "deliveries").get_attribute("data-failing") == "true"
                    else None, LIVE, "the deliveries line never turned to failing")
    text = line.text
    assert "1 pending" in text and f"127.0.0.1:{down.port}/…: HTTP 503" in text and "secret-token" not in text
    screenshot(browser, artifacts / "desk-delivery-failing.png")
    down.script = []  # the receiver is back
    wait_for(browser, lambda d: hook(d, "deliveries").get_attribute("data-failing") == "false"
             and "1 delivered" in hook(d, "deliveries").text, LIVE, "the delivery never showed as delivered")
    assert len(down.accepted()) == 1
    assert console_errors(browser) == []
