"""Real-browser fixtures: Debian's chromium driven by Selenium through the system chromedriver,
against real `sentikit serve` processes. One browser and one server per module (they are slow to start).

Under CI=true nothing here skips: chromium and chromium-driver come from scripts/setup-test-env.sh.
Screenshots go to $SENTIKIT_TEST_ARTIFACTS (or a temporary directory, printed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

# Selenium Manager must never download a browser or a driver: the system ones are named below.
os.environ["SE_OFFLINE"] = "1"

import pytest  # noqa: E402
from browser._harness import Served, StartServe  # noqa: E402
from conftest import IN_CI, free_port, wait_ready  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

HAVE_CHROMIUM = Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()
HERE = Path(__file__).parent

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Locally without chromium: skip. Under CI=true: run, and the browser fixture fails saying why.
    if HAVE_CHROMIUM or IN_CI:
        return
    skip = pytest.mark.skip(reason="chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(skip)




@pytest.fixture(scope="module")
def serve(trained_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartServe]:
    """``serve(*args, api_key=None)``: ``sentikit serve MODEL ARGS`` on a free 127.0.0.1 port, once /readyz answers."""
    started: list[Served] = []

    def start(*args: str, api_key: str | None = None) -> Served:
        workdir = tmp_path_factory.mktemp("serve")
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTIKIT_", "AZURE_"))}
        env["NO_COLOR"] = "1"
        if api_key:
            env["SENTIKIT_API_KEY"] = api_key
        log_path = workdir / "server.log"
        log = log_path.open("w", encoding="utf-8")
        command = [sys.executable, "-m", "sentikit", "serve", str(trained_model_dir), *args, "--port", str(port)]
        # stdout too: uvicorn writes its access log there (unbuffered, so a test reads it at once)
        env["PYTHONUNBUFFERED"] = "1"
        process = subprocess.Popen(command, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, text=True)
        served = Served(process, f"http://127.0.0.1:{port}", api_key, log_path, log)
        started.append(served)
        try:
            wait_ready(served.url + "/readyz", process=process)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{served.log()}") from None
        return served

    yield start
    for served in started:
        served.stop()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $SENTIKIT_TEST_ARTIFACTS, else a temporary directory (printed)."""
    configured = os.environ.get("SENTIKIT_TEST_ARTIFACTS")
    path = Path(configured) / "browser" if configured else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser screenshots: {path}")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """One headless chromium per module, its console log kept (CSP violations show up there)."""
    if not HAVE_CHROMIUM:
        raise AssertionError(f"{CHROMIUM} or {CHROMEDRIVER} is missing: run scripts/setup-test-env.sh (CI=true never skips)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,900", "--lang=en-GB", "--no-first-run", "--disable-extensions",
                     "--disable-background-networking", "--disable-component-update"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
