"""`sentikit monitor` driven as a user would: real model, real files, real processes and servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port, wait_ready

from sentikit.model import load_model


def expected_positions(scores: list[float], window: int, alert_below: float) -> list[tuple[str, int]]:
    """A deliberately naive oracle: recompute the mean of the last ``window`` scores at every text."""
    events, alerting = [], False
    for index in range(window, len(scores) + 1):
        mean = sum(scores[index - window:index]) / window
        if not alerting and mean < alert_below:
            events.append(("alert", index))
            alerting = True
        elif alerting and mean >= alert_below:
            events.append(("recovery", index))
            alerting = False
    return events


@pytest.fixture
def stream(tmp_path: Path, clear_texts: tuple[list[str], list[str]]) -> tuple[Path, list[str]]:
    positives, negatives = clear_texts
    texts = positives[:20] + negatives[:20] + positives[20:40]
    path = tmp_path / "mentions.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return path, texts


def test_json_streams_one_event_per_line_at_the_expected_positions(cli, model_dir: Path, stream) -> None:
    path, texts = stream
    expected = expected_positions(load_model(model_dir).score(texts), window=10, alert_below=0.45)
    assert [kind for kind, _ in expected] == ["alert", "recovery"]

    result = cli("monitor", str(model_dir), "--input", str(path), "--window", "10", "--alert-below", "0.45", "--json")
    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(e["event"], e.get("position")) for e in events] == [*expected, ("summary", None)]
    alert, summary = events[0], events[-1]
    assert {s["text"] for s in alert["samples"]} <= set(texts[20:40])
    assert alert["model"]["reference"] == load_model(model_dir).reference
    assert (summary["texts"], summary["alerts"], summary["recoveries"], summary["bad_lines"]) == (60, 1, 1, 0)
    assert summary["interrupted"] is False and summary["state"] == "ok"
    assert result.stderr == ""


def test_human_output_and_fail_on_alert(cli, model_dir: Path, stream) -> None:
    path, texts = stream
    args = ["monitor", str(model_dir), "--input", str(path), "--window", "10", "--alert-below", "0.45"]
    result = cli(*args)
    assert result.exit_code == 0 and result.stdout == ""
    assert " ALERT  rolling mean " in result.stderr and " RECOVERED  rolling mean " in result.stderr
    assert "done: 60 texts, 0 bad lines, 1 alert, 1 recovery; final mean " in result.stderr
    assert cli(*args, "--fail-on-alert").exit_code == 1
    calm = path.with_name("calm.txt")
    calm.write_text("\n".join(texts[:20]) + "\n", encoding="utf-8")
    assert cli("monitor", str(model_dir), "--input", str(calm), "--window", "10", "--alert-below", "0.45", "--fail-on-alert").exit_code == 0


def test_jsonl_from_stdin_with_bad_lines_and_custom_fields(cli, model_dir: Path, clear_texts) -> None:
    positives, negatives = clear_texts
    rows = [json.dumps({"body": t, "at": 1714557600 + 60 * i, "ref": f"post-{i}"}) for i, t in enumerate(positives[:8] + negatives[:8])]
    rows.insert(3, "{not json")
    rows.insert(7, json.dumps({"text": "wrong field"}))
    result = cli("monitor", str(model_dir), "--window-seconds", "300", "--min-count", "3", "--alert-below", "0.45",
                 "--text-field", "body", "--time-field", "at", "--id-field", "ref", "--json", stdin="\n".join(rows) + "\n")
    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    bad = [(e["line"], e["reason"]) for e in events if e["event"] == "bad_line"]
    assert bad == [(4, "invalid JSON (Expecting property name enclosed in double quotes)"), (8, "no 'body' field")]
    alert = next(e for e in events if e["event"] == "alert")
    assert alert["window"]["count"] == 5  # five minutes of one-a-minute texts
    assert all(s["id"].startswith("post-") and s["time"].startswith("2024-05-01T") for s in alert["samples"])
    assert events[-1]["bad_lines"] == 2 and events[-1]["texts"] == 16


@pytest.mark.parametrize(
    "args, message",
    [
        (["--window", "10"], "--alert-below is required"),
        (["--window", "10", "--window-seconds", "5", "--alert-below", "0.4"], "exactly one of --window"),
        (["--alert-below", "0.4"], "exactly one of --window"),
        (["--window", "10", "--alert-below", "0.4", "--recover-above", "0.3"], "--recover-above must be between"),
        (["--window", "10", "--alert-below", "0.4", "--url", "http://127.0.0.1:9", "sentiment"], "not both"),
        (["--window", "10", "--alert-below", "0.4", "--follow"], "--follow needs a file"),
        (["--window", "10", "--alert-below", "0.4", "--webhook", "file:///etc/passwd"], "--webhook must be an http"),
        (["--window", "10", "--alert-below", "0.4", "--input", "nope.txt"], "nope.txt: no such file"),
    ],
)
def test_user_errors_exit_2(cli, model_dir: Path, args: list[str], message: str) -> None:
    if "--url" not in args:
        args = [str(model_dir), *args]
    result = cli("monitor", *args)
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.slow
def test_url_scores_against_a_running_server(cli, model_dir: Path, stream) -> None:
    path, texts = stream
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "sentikit", "serve", str(model_dir), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"})
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", process=server)
        local = cli("monitor", str(model_dir), "--input", str(path), "--window", "10", "--alert-below", "0.45", "--json")
        remote = cli("monitor", "--url", f"http://127.0.0.1:{port}", "--input", str(path), "--window", "10",
                     "--alert-below", "0.45", "--json")
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=15)
    assert remote.exit_code == 0, remote.stderr
    strip = lambda events: [(e["event"], e.get("position"), e.get("mean")) for e in events]  # noqa: E731
    local_events = [json.loads(line) for line in local.stdout.splitlines()]
    remote_events = [json.loads(line) for line in remote.stdout.splitlines()]
    assert strip(remote_events) == strip(local_events)
    assert remote_events[0]["model"]["reference"] == load_model(model_dir).reference
    assert remote_events[0]["model"]["url"] == f"http://127.0.0.1:{port}"


def _start_follow(model_dir: Path, path: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sentikit", "monitor", str(model_dir), "--input", str(path), "--follow",
         "--window", "10", "--alert-below", "0.45", "--json", "--status-interval", "0.2", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"},
        # a shell's background job (`cmd &`, as CI runners may start the suite) ignores SIGINT, and the
        # child would inherit that: give it the default disposition a terminal user's monitor has
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _read_until(process: subprocess.Popen[str], event: str, timeout: float = 60) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"monitor exited early: {process.communicate()[1]}")
        seen.append(json.loads(line))
        if seen[-1]["event"] == event:
            return seen
    raise AssertionError(f"no {event} event within {timeout}s: {seen}")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_prints_the_summary_and_exits_130(tmp_path: Path, model_dir: Path, clear_texts, signum: int) -> None:
    positives, _ = clear_texts
    path = tmp_path / "live.txt"
    path.write_text("\n".join(positives[:12]) + "\n", encoding="utf-8")
    process = _start_follow(model_dir, path)
    try:
        seen = _read_until(process, "status")
        while seen[-1].get("texts", 0) < 12:
            seen += _read_until(process, "status")
        process.send_signal(signum)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    summary = json.loads(out.splitlines()[-1])
    assert summary["event"] == "summary" and summary["interrupted"] is True and summary["texts"] == 12


@pytest.mark.slow
def test_interrupt_after_an_alert_with_fail_on_alert_exits_1(tmp_path: Path, model_dir: Path, clear_texts) -> None:
    positives, negatives = clear_texts
    path = tmp_path / "live.txt"
    path.write_text("\n".join(positives[:10]) + "\n", encoding="utf-8")
    process = _start_follow(model_dir, path, "--fail-on-alert")
    try:
        _read_until(process, "status")
        with open(path, "a", encoding="utf-8") as handle:  # the drop arrives while it is watching
            handle.write("\n".join(negatives[:10]) + "\n")
        alert = _read_until(process, "alert")[-1]
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert 15 <= alert["position"] <= 20
    assert process.returncode == 1, err
    assert json.loads(out.splitlines()[-1])["alerts"] == 1
