"""The dashboard's time axis in a real chromium against `sentikit serve --monitor`: no posts shows an
empty state (no chart); one post, or posts all in one bucket, or posts only a little in the future
(a client's clock ahead), still give an axis that spans the chosen range (24 h / 7 d / 30 d: the
range up to now; all: the posts' buckets padded by one bucket each side), never a made-up span."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from browser._harness import Served, StartServe, console_errors, hook, screenshot, wait_for
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

LIVE = 12.0  # the page polls every 2.5 s
SLACK = 120.0  # seconds between the page's "now" and the test's

# Test-only: keep each uPlot the page makes, to read its scale and the x axis's ticks (production
# code exposes nothing). The vendored bundle assigns the global `uPlot`; this setter wraps it.
CAPTURE = """
let wrapped;
Object.defineProperty(window, "uPlot", {configurable: true, get() { return wrapped; }, set(uPlot) {
  wrapped = function (options, data, target) {
    const chart = new uPlot(options, data, target);
    window.__testCharts = (window.__testCharts || []).concat([chart]);
    return chart;
  };
  Object.assign(wrapped, uPlot);
  wrapped.prototype = uPlot.prototype;
}});
"""
# The x scale, the x axis's ticks (epoch seconds) and their labels as drawn, the x values, and the note.
AXIS = """
const chart = (window.__testCharts || []).at(-1);
const box = document.querySelector('[data-testid=chart]');
if (!chart || box.hidden) return null;
const axis = chart.axes[0];
return {min: chart.scales.x.min, max: chart.scales.x.max, ticks: axis._splits || [], labels: axis._values || [],
        xs: Array.from(chart.data[0]), volume: Array.from(chart.data[4]), points: Number(box.dataset.points)};
"""


@pytest.fixture(scope="module")
def desk(serve: StartServe) -> Served:
    return serve("--monitor", "--alert-below", "0.4", "--window", "5")


@pytest.fixture(scope="module")
def page(desk: Served, browser: WebDriver) -> WebDriver:
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CAPTURE})  # type: ignore[attr-defined]
    browser.get(desk.url + "/monitor")
    console_errors(browser)
    return browser


def choose(driver: WebDriver, range_id: str, note: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f"label[for=range-{range_id}]").click()
    wait_for(driver, lambda d: note in d.find_element(By.ID, "chart-note").text, LIVE, f"{range_id}: no '{note}'")


def axis(driver: WebDriver, posts: int) -> dict[str, Any]:
    """The chart's axis once it shows ``posts`` posts."""
    found: dict[str, Any] = wait_for(
        driver, lambda d: (a := d.execute_script(AXIS)) and sum(a["volume"]) == posts and a["labels"] and a, LIVE,
        f"no chart of {posts} posts")
    return found


def assert_spans(found: dict[str, Any], start: float, end: float) -> None:
    """The x scale is [start, end] (within SLACK), and every tick and x value lies inside it."""
    assert found["min"] == pytest.approx(start, abs=SLACK) and found["max"] == pytest.approx(end, abs=SLACK), found
    inside = [found["min"] <= t <= found["max"] for t in found["ticks"] + found["xs"]]
    assert inside and all(inside), found
    assert len(found["ticks"]) >= 3 and all(found["labels"]), found


def test_no_posts_is_an_empty_state_not_a_chart(page: WebDriver, artifacts: Path) -> None:
    wait_for(page, lambda d: d.find_element(By.ID, "chart-empty").is_displayed(), LIVE, "no empty state")
    assert "No posts in this range yet" in page.find_element(By.ID, "chart-empty").text
    assert not hook(page, "chart").is_displayed()
    screenshot(page, artifacts / "desk-no-posts.png", full_page=False)
    assert console_errors(page) == []


def test_one_post_the_axis_spans_the_chosen_range(desk: Served, page: WebDriver, artifacts: Path) -> None:
    now = time.time()
    status, answer = desk.call("/v1/posts", {"posts": [{"id": "one", "text": "Flight delayed again, awful", "timestamp": now - 3600}]})
    assert status == 200, answer
    found = axis(page, 1)
    assert not page.find_element(By.ID, "chart-empty").is_displayed()
    assert_spans(found, now - 86_400, now)
    # the labels are of today and yesterday: hours, and the day where it turns (no year other than this one)
    dated = [label for label in found["labels"] if len(label.split("/")) == 3]
    years = {time.strftime("%y", time.localtime(t)) for t in (now - 86_400, now)}
    assert all(label[-2:] in years for label in dated), found["labels"]
    # off the chart, the legend reads the bucket of the post (not the empty bucket of now)
    legend = dict(page.execute_script(
        "return [...document.querySelectorAll('[data-testid=chart] .u-legend .u-series')]"
        ".map((row) => [row.querySelector('.u-label').textContent, row.querySelector('.u-value').textContent])"))
    assert legend["Posts"] == "1" and legend["Mean score"] == legend["Rolling mean"] != "–", legend
    screenshot(page, artifacts / "desk-one-post.png", full_page=False)

    choose(page, "7d", "Per hour")
    assert_spans(axis(page, 1), now - 7 * 86_400, now)
    choose(page, "30d", "Per hour")
    assert_spans(axis(page, 1), now - 30 * 86_400, now)
    # all: the post's day up to today (one bucket, unless it is just past midnight UTC), a day wider each side
    choose(page, "all", "Per day")
    day, today = (now - 3600) // 86_400 * 86_400, time.time() // 86_400 * 86_400
    found = axis(page, 1)
    assert found["xs"] == [day + i * 86_400 for i in range(int((today - day) // 86_400) + 1)], found
    assert found["min"] == day - 86_400 and found["max"] == today + 86_400, found
    assert_spans(found, day - 86_400, today + 86_400)
    screenshot(page, artifacts / "desk-one-post-all.png", full_page=False)
    choose(page, "24h", "Per 15 minutes")
    assert console_errors(page) == []


def test_a_post_from_a_clock_ahead_stays_on_the_axis(desk: Served, page: WebDriver, artifacts: Path) -> None:
    now = time.time()
    ahead = now + 40 * 60  # its client's clock is 40 minutes fast
    status, answer = desk.call("/v1/posts", {"posts": [{"id": "ahead", "text": "Lovely crew, thank you", "timestamp": ahead}]})
    assert status == 200, answer
    found = axis(page, 2)
    bucket = ahead // 900 * 900
    assert bucket in found["xs"], found
    assert_spans(found, now - 86_400, bucket + 900)
    screenshot(page, artifacts / "desk-clock-ahead.png", full_page=False)
    assert console_errors(page) == []
