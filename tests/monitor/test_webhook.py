"""Webhooks: delivered to a real HTTP server on 127.0.0.1; failures retried, given up on, never fatal."""

from __future__ import annotations

from typing import Any

import pytest

from sentikit.errors import InvalidInputError
from sentikit.monitor import MonitorConfig, WebhookFailed, WebhookNotifier, redact_url, run_monitor


def drop_and_recovery(uci_texts: tuple[list[str], list[str]]) -> list[list[bytes]]:
    positives, negatives = uci_texts
    lines = positives[:10] + negatives[:10] + positives[10:20]
    return [[line.encode() for line in lines]]


CONFIG = MonitorConfig(alert_below=0.45, window=10, samples=3)


def test_alert_and_recovery_are_posted_as_json(receiver, label_scorer, uci_texts) -> None:
    notifier = WebhookNotifier(receiver.url, timeout=5, retries=1, backoff=0.01)
    events: list[Any] = []
    summary = run_monitor(iter(drop_and_recovery(uci_texts)), label_scorer, CONFIG, notifier=notifier,
                          on_event=events.append, status_interval=None, model={"name": "sentiment", "version": 4})
    assert [b["event"] for b in receiver.bodies] == ["alert", "recovery"]
    alert, recovery = receiver.bodies
    assert alert["position"] == 16 and alert["line"] == 16
    assert alert["mean"] == pytest.approx(0.42) and alert["alert_below"] == 0.45
    assert alert["window"]["count"] == 10 and alert["window"]["negative"] == 6 and alert["window"]["min"] == 0.1
    assert [s["text"] for s in alert["samples"]] == uci_texts[1][:3]  # the lowest scores, earliest first
    assert alert["model"] == {"name": "sentiment", "version": 4}
    assert recovery["position"] == 25 and recovery["alert_position"] == 16 and recovery["texts_in_alert"] == 9
    assert receiver.headers[0]["Content-Type"] == "application/json"
    assert receiver.headers[0]["User-Agent"].startswith("sentikit/")
    assert (summary.webhooks_sent, summary.webhooks_failed) == (2, 0)
    assert not any(isinstance(e, WebhookFailed) for e in events)


def test_server_errors_are_retried_then_given_up_without_stopping(receiver, label_scorer, uci_texts) -> None:
    receiver.statuses = [500, 503, 500]  # the alert fails three times; the recovery then succeeds
    notifier = WebhookNotifier(receiver.url, timeout=5, retries=2, backoff=0.01)
    events: list[Any] = []
    summary = run_monitor(iter(drop_and_recovery(uci_texts)), label_scorer, CONFIG, notifier=notifier,
                          on_event=events.append, status_interval=None)
    assert [b["event"] for b in receiver.bodies] == ["alert", "alert", "alert", "recovery"]
    failures = [e for e in events if isinstance(e, WebhookFailed)]
    assert failures == [WebhookFailed(url="http://127.0.0.1:%d/…" % int(receiver.url.split(":")[2].split("/")[0]),
                                      about="alert", position=16, attempts=3, error="HTTP 500")]
    assert "secret-token" not in repr(failures)
    assert (summary.texts, summary.alerts, summary.recoveries) == (30, 1, 1)
    assert (summary.webhooks_sent, summary.webhooks_failed) == (1, 1)


def test_client_errors_are_not_retried(receiver, label_scorer, uci_texts) -> None:
    receiver.statuses = [404, 404]
    notifier = WebhookNotifier(receiver.url, retries=3, backoff=0.01)
    events: list[Any] = []
    run_monitor(iter(drop_and_recovery(uci_texts)), label_scorer, CONFIG, notifier=notifier,
                on_event=events.append, status_interval=None)
    assert len(receiver.bodies) == 2
    assert [(e.about, e.attempts, e.error) for e in events if isinstance(e, WebhookFailed)] == [
        ("alert", 1, "HTTP 404"), ("recovery", 1, "HTTP 404")]


def test_a_closed_port_is_retried_then_reported(closed_port_url, label_scorer, uci_texts) -> None:
    notifier = WebhookNotifier(closed_port_url, timeout=1, retries=2, backoff=0.01)
    events: list[Any] = []
    summary = run_monitor(iter(drop_and_recovery(uci_texts)), label_scorer, CONFIG, notifier=notifier,
                          on_event=events.append, status_interval=None)
    failures = [e for e in events if isinstance(e, WebhookFailed)]
    assert [(f.about, f.attempts) for f in failures] == [("alert", 3), ("recovery", 3)]
    assert "refused" in failures[0].error.lower()
    assert (summary.texts, summary.recoveries, summary.webhooks_failed) == (30, 1, 2)


def test_a_slow_webhook_never_holds_up_monitoring(receiver, label_scorer, uci_texts) -> None:
    receiver.delay = 60.0  # the receiver holds the first delivery far longer than the run takes
    positives, negatives = uci_texts
    lines = [t.encode() for t in positives[:10] + negatives[:10] + (positives * 3)[:2000]]
    notifier = WebhookNotifier(receiver.url, timeout=10, retries=0)
    events: list[Any] = []
    summary = run_monitor(iter([lines[:20], lines[20:]]), label_scorer, CONFIG, notifier=notifier,
                          on_event=events.append, status_interval=None, webhook_close_timeout=0.3)
    # The run ended while the receiver still held the alert: monitoring never waited for it.
    # (How long the run takes is measured in bench/timing.py.)
    assert len(receiver.bodies) == 1 and not receiver.received.is_set()
    assert summary.texts == 2020 and summary.alerts == 1 and summary.recoveries == 1
    failures = [(e.about, e.error) for e in events if isinstance(e, WebhookFailed)]
    assert failures == [("alert", "not delivered before exit (gave up after 0.3s)"),
                        ("recovery", "not delivered before exit (gave up after 0.3s)")]


def test_webhook_url_is_checked_and_redacted() -> None:
    with pytest.raises(InvalidInputError, match="http"):
        WebhookNotifier("ftp://example.invalid/x")
    assert redact_url("https://hooks.example.com/services/T0/B0/XYZ?token=1") == "https://hooks.example.com/…"
    assert redact_url("http://127.0.0.1:9000") == "http://127.0.0.1:9000"
