"""GET /monitor, the desk's dashboard, in a real chromium against `sentikit serve --monitor`:
posts fed through POST /v1/posts turn it from warming up to OK to ALERT without a reload, with the
alert in the timeline, the chart drawn, the most negative posts and the drivers listed; hostile
posts are shown as text and never run; it fits a phone's width."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser._harness import Served, StartServe, console_errors, hook, screenshot, texts, wait_for
from browser._posts import POSITIVE, calm_then_turn
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

LIVE = 12.0  # seconds a change may take to appear: the page polls every 2.5 s
HOSTILE = [
    "<script>alert('script ran')</script> awful service, terrible delay",
    "<img src=x onerror=\"alert('img ran')\"> worst airline ever, horrible",
    "<a href=\"javascript:alert('link ran')\">click</a> <b>rude</b> staff, disgrace",
]

# Pixels of the canvas: how many are drawn at all, and how many are the alert red (#dc2626).
CANVAS_PIXELS = """
const canvas = document.querySelector('[data-testid=chart] canvas');
if (!canvas || !canvas.width) return null;
const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
let drawn = 0, red = 0;
for (let i = 0; i < data.length; i += 4) {
  if (data[i + 3] > 0) drawn++;
  if (data[i + 3] > 200 && data[i] > 200 && data[i + 1] < 70 && data[i + 2] < 70) red++;
}
return {width: canvas.width, height: canvas.height, drawn, red};
"""


@pytest.fixture(scope="module")
def desk(serve: StartServe) -> Served:
    # two workers: the page polls whichever answers, and every worker answers the same state from the store
    return serve("--monitor", "--alert-below", "0.4", "--window", "50", "--workers", "2")


def state_word(driver: WebDriver) -> str:
    return str(driver.find_element(By.ID, "state-word").text)


def feed(desk: Served, posts: list[dict[str, Any]]) -> dict[str, Any]:
    status, answer = desk.call("/v1/posts", {"posts": posts})
    assert status == 200, answer
    return dict(answer)


def test_dashboard_follows_a_turn_live(desk: Served, browser: WebDriver, artifacts: Path) -> None:
    browser.get(desk.url + "/monitor")
    console_errors(browser)
    wait_for(browser, lambda d: state_word(d) == "Warming up", message="an empty store is not 'warming up'")
    browser.execute_script("window.sameDocument = true")  # gone if the page reloads

    posts = calm_then_turn()
    assert feed(desk, posts[:90])["state"] == "ok"
    wait_for(browser, lambda d: state_word(d) == "OK", LIVE, "the state never turned OK")
    wait_for(browser, lambda d: int(hook(d, "chart").get_attribute("data-points") or 0) > 10, LIVE, "no chart")
    calm = wait_for(browser, lambda d: d.execute_script(CANVAS_PIXELS))
    assert calm["drawn"] > 0.05 * calm["width"] * calm["height"], calm  # lines, bars, axes: a drawn canvas

    assert feed(desk, posts[90:])["state"] == "alert"
    wait_for(browser, lambda d: state_word(d) == "ALERT", LIVE, "the state never turned ALERT")
    assert browser.execute_script("return window.sameDocument") is True  # live, not reloaded
    _, state = desk.call("/v1/monitor/state")
    assert "since" in hook(browser, "state").text
    assert browser.find_element(By.ID, "fig-mean").text == f"{state['window']['mean']:.3f}"
    assert browser.find_element(By.ID, "fig-threshold").text == "0.40"

    # the alert, once, in the timeline and in the API
    timeline = hook(browser, "alerts")
    wait_for(browser, lambda d: timeline.find_elements(By.CSS_SELECTOR, "li[data-kind=alert]"), LIVE, "no alert listed")
    assert len(timeline.find_elements(By.CSS_SELECTOR, "li[data-kind]")) == 1
    _, alerts = desk.call("/v1/monitor/alerts")
    assert [a["kind"] for a in alerts["alerts"]] == ["alert"]
    # ... and on the chart: a red line at the alert's moment (the threshold line was red already)
    wait_for(browser, lambda d: d.execute_script(CANVAS_PIXELS)["red"] > calm["red"] + calm["height"] // 3, LIVE,
             "no alert marker drawn on the chart")

    # the most negative posts of the current window, as the API lists them, words marked, links safe
    _, lowest = desk.call(f"/v1/monitor/posts?order=score&limit=8&since={state['window']['start']}")
    wait_for(browser, lambda d: texts(d, "[data-testid=negative-posts] .post-text") == [p["text"] for p in lowest["posts"]],
             LIVE, "the negative posts differ from the API's")
    wait_for(browser, lambda d: texts(d, "[data-testid=negative-posts] .post-text mark.down"), LIVE, "no words marked")
    links = browser.execute_script(
        "return [...document.querySelectorAll('[data-testid=negative-posts] a')].map((a) => [a.href, a.rel])")
    assert links == [[p["url"], "noopener noreferrer"] for p in lowest["posts"]]

    # what is driving it
    _, drivers = desk.call("/v1/monitor/drivers")
    assert drivers["drivers"], drivers
    terms = texts(browser, "[data-testid=drivers] tbody th")
    assert terms and terms[0] == drivers["drivers"][0]["term"].replace("NOT_", "")
    assert all(d["weight"] < 0 for d in drivers["drivers"]), drivers  # each pulls the scores down
    bars = [float(w) for w in browser.execute_script(
        "return [...document.querySelectorAll('[data-testid=drivers] .lift-bar')].map((b) => parseFloat(b.style.width))")]
    assert bars[0] == 100 and bars == sorted(bars, reverse=True), bars  # the bar shows the API's ranking
    screenshot(browser, artifacts / "desk.png")

    # the turn back: a recovery, in the timeline above the alert
    assert feed(desk, [{"text": f"{POSITIVE[i % len(POSITIVE)]} #{i}"} for i in range(55)])["state"] == "ok"
    wait_for(browser, lambda d: state_word(d) == "OK", LIVE, "the state never turned OK again")
    wait_for(browser, lambda d: texts(d, "[data-testid=alerts] li[data-kind] .event-kind") == ["Recovered", "Alert"],
             LIVE, "the recovery is not at the top of the timeline")

    # another time range, from the keyboard (a radio group: the arrow keys move the choice): hourly buckets
    browser.set_window_size(1280, 900)
    browser.execute_script("document.getElementById('range-24h').focus()")
    ActionChains(browser).send_keys(Keys.ARROW_RIGHT).perform()
    assert browser.execute_script("return document.getElementById('range-7d').checked") is True
    wait_for(browser, lambda d: "Per hour" in d.find_element(By.ID, "chart-note").text, LIVE, "7 d did not re-bucket")
    browser.find_element(By.CSS_SELECTOR, "label[for=range-24h]").click()  # and by pointer
    wait_for(browser, lambda d: "Per 15 minutes" in d.find_element(By.ID, "chart-note").text, LIVE)
    assert console_errors(browser) == []


def test_hostile_posts_are_shown_as_text_never_run(desk: Served, browser: WebDriver) -> None:
    browser.get(desk.url + "/monitor")
    console_errors(browser)
    feed(desk, [{"text": text, "source": "hostile"} for text in HOSTILE])
    source = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#source option[value=hostile]")
                      and d.find_element(By.ID, "source"), LIVE, "the new source is not offered")
    Select(source).select_by_value("hostile")  # only these posts: the source filter at work
    wait_for(browser, lambda d: sorted(texts(d, "[data-testid=negative-posts] .post-text")) == sorted(HOSTILE),
             LIVE, "the hostile posts are not listed as they were written")
    # no element came out of them: the only <script>s are the page's, the only <img> the logo
    assert texts(browser, "[data-testid=negative-posts] :is(script, img, b, a[href^=javascript])") == []
    assert browser.execute_script("return document.scripts.length") == 3
    assert browser.execute_script("return document.images.length") == 1
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - no alert() ran (an <img onerror> would have by now)
    assert console_errors(browser) == []
    Select(source).select_by_value("")


def test_readable_at_a_phones_width(desk: Served, browser: WebDriver, artifacts: Path) -> None:
    browser.set_window_size(375, 800)
    try:
        browser.get(desk.url + "/monitor")
        wait_for(browser, lambda d: state_word(d) not in ("…", ""), LIVE)
        wait_for(browser, lambda d: d.execute_script(CANVAS_PIXELS), LIVE)
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 375
        chart = browser.execute_script(CANVAS_PIXELS)
        assert chart["width"] <= 375 * browser.execute_script("return devicePixelRatio")
        screenshot(browser, artifacts / "desk-375px.png")
    finally:
        browser.set_window_size(1280, 900)
