"""Issue 25's "done when", end to end: two `sentikit serve --monitor` processes (replicas) on one PostgreSQL
database are fed one turn from positive to negative posts; exactly one alert is raised, and it reaches a
JSON, a Slack-format and a Teams-format receiver and one mailbox exactly once each, although every
receiver refuses the first two tries and the replica that raised the alert is restarted meanwhile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
from _alert_receivers import Receiver, receiving
from _postgres_server import PASSWORD as PG_PASSWORD
from _postgres_server import Postgres, postgres  # noqa: F401 - the fixture
from _smtp_server import PASSWORD, USER, Mailbox, smtp_server
from conftest import free_port, wait_ready

DASHBOARD = "https://desk.example.com/monitor"


@pytest.fixture
def hooks() -> Iterator[list[Receiver]]:
    made = [receiving(f"/hook/{name}/secret-token", ok_status=status) for name, status in
            (("json", 200), ("slack", 200), ("teams", 202))]
    receivers = [next(m) for m in made]
    try:
        yield receivers
    finally:
        for m in made:
            next(m, None)


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    yield from smtp_server(tmp_path)


class Replica:
    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.args, self.env, self.port = args, env, free_port()
        self.process: subprocess.Popen[str] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> Replica:
        self.process = subprocess.Popen([*self.args, "--port", str(self.port)], env=self.env, text=True,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_ready(f"{self.url}/readyz", process=self.process)
        return self

    def stop(self) -> str:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        _, stderr = self.process.communicate(timeout=30)
        return stderr

    def call(self, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


def test_two_replicas_one_alert_delivered_once_everywhere(postgres: Postgres, model_dir: Path, clear_texts, hooks,
                                                          mailbox: Mailbox) -> None:
    positives, negatives = clear_texts
    store = postgres.new_database()
    json_hook, slack_hook, teams_hook = hooks
    for hook in hooks:
        hook.fail_first(2, 503)
    mailbox.refuse = 2
    args = [sys.executable, "-m", "sentikit", "serve", str(model_dir), "--monitor", "--store", store,
            "--alert-below", "0.45", "--window", "10",
            "--webhook", f"json+{json_hook.url}", "--webhook", f"slack+{slack_hook.url}",
            "--webhook", teams_hook.url, "--webhook-format", "json", "--webhook-format", "json", "--webhook-format", "teams",
            "--email-to", "desk@example.com", "--smtp-url", f"smtp://127.0.0.1:{mailbox.port}", "--public-url", DASHBOARD]
    env = {**os.environ, "SENTIKIT_SMTP_USER": USER, "SENTIKIT_SMTP_PASSWORD": PASSWORD, "SSL_CERT_FILE": str(mailbox.ca)}
    replicas = [Replica(args, env).start(), Replica(args, env).start()]
    try:
        texts = positives[:20] + negatives[:20]
        posts = [{"id": f"m{i}", "text": t, "source": "x.com", "url": f"https://x.com/acme/status/{i}"}
                 for i, t in enumerate(texts)]
        raised_by = None
        for number, start in enumerate(range(0, len(posts), 4)):
            replica = replicas[number % 2]
            answer = replica.call("/v1/posts", {"posts": posts[start:start + 4]})
            assert answer["accepted"] == 4
            if answer["state"] == "alert" and raised_by is None:
                raised_by = replica
                # every channel refuses its first two tries (the third comes >= 1.5 s later): all four
                # deliveries are pending when the replica that raised the alert is restarted
                assert replica.call("/v1/monitor/state")["deliveries"]["pending"] == 4
                log = replica.stop()
                assert PG_PASSWORD not in log and PASSWORD not in log
                replica.start()
        assert raised_by is not None
        for hook in hooks:
            assert len(hook.wait_accepted(1, timeout=60)) == 1
        assert len(mailbox.wait(1, timeout=60)) == 1
        time.sleep(2.5)  # a second delivery, if any replica were to make one, would arrive by now
        for hook in hooks:
            accepted = hook.accepted()
            assert len(accepted) == 1, [h.status for h in hook.hits]
            assert [h.status for h in hook.hits[:2]] == [503, 503]
            assert len({h.headers["Idempotency-Key"] for h in hook.hits}) == 1  # every try carried the same key
        assert len(mailbox.messages) == 1 and mailbox.logins[-1] == (USER, True)
        assert json_hook.accepted()[0].body["event"] == "alert" and json_hook.accepted()[0].body["dashboard_url"] == DASHBOARD
        slack = slack_hook.accepted()[0].body
        assert slack["text"].startswith("Sentiment alert: rolling mean") and slack["blocks"][0]["type"] == "header"
        assert "<https://x.com/acme/status/" in json.dumps(slack["blocks"])
        card = teams_hook.accepted()[0].body["attachments"][0]["content"]
        assert card["version"] == "1.5"
        for replica in replicas:
            alerts = replica.call("/v1/monitor/alerts")["alerts"]
            assert [a["kind"] for a in alerts] == ["alert"]
            state = replica.call("/v1/monitor/state")
            assert (state["state"], state["posts"], state["alerts"]) == ("alert", 40, 1)
            assert {k: state["deliveries"][k] for k in ("pending", "failed", "sent")} == {"pending": 0, "failed": 0, "sent": 4}
            with urllib.request.urlopen(replica.url + "/metrics", timeout=10) as response:
                metrics = response.read().decode()
            assert 'sentikit_alert_deliveries{state="sent"} 4' in metrics and "sentikit_alert_delivery_failing 0" in metrics
    finally:
        for replica in replicas:
            if replica.process is not None and replica.process.poll() is None:
                replica.stop()


def test_a_failing_channel_shows_and_a_restart_resumes_its_delivery(model_dir: Path, clear_texts, tmp_path: Path) -> None:
    """Two workers on one SQLite store: the failing delivery shows in state, /metrics and /monitor, and
    after a restart exactly one of the workers delivers it."""
    positives, negatives = clear_texts
    made = receiving("/hook/down/secret-token")
    hook = next(made)
    try:
        hook.fail_first(10_000, 503)
        args = [sys.executable, "-m", "sentikit", "serve", str(model_dir), "--monitor", "--store", str(tmp_path / "desk.db"),
                "--alert-below", "0.45", "--window", "10", "--webhook", f"slack+{hook.url}", "--workers", "2"]
        server = Replica(args, dict(os.environ)).start()
        posts = [{"id": f"m{i}", "text": t} for i, t in enumerate(positives[:10] + negatives[:10])]
        assert server.call("/v1/posts", {"posts": posts})["state"] == "alert"
        deadline = time.monotonic() + 30
        while len(hook.hits) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        state = server.call("/v1/monitor/state")["deliveries"]
        assert (state["pending"], state["failed"], state["sent"]) == (1, 0, 0)
        assert state["last_error"] == f"http://127.0.0.1:{hook.port}/…: HTTP 503"  # no token in it
        with urllib.request.urlopen(server.url + "/metrics", timeout=10) as response:
            metrics = response.read().decode()
        assert 'sentikit_alert_deliveries{state="pending"} 1' in metrics and "sentikit_alert_delivery_failing 1" in metrics
        with urllib.request.urlopen(server.url + "/monitor", timeout=10) as response:
            assert 'data-testid="deliveries"' in response.read().decode()
        server.stop()
        tries = len(hook.hits)
        hook.script = []  # the receiver is back
        server.start()  # the delivery waits in the store: the new process resumes it
        assert len(hook.wait_accepted(1, timeout=60)) == 1
        assert len(hook.hits) == tries + 1 and len({h.headers["Idempotency-Key"] for h in hook.hits}) == 1
        deadline = time.monotonic() + 10
        while server.call("/v1/monitor/state")["deliveries"]["sent"] != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.call("/v1/monitor/state")["deliveries"]["pending"] == 0
        server.stop()
    finally:
        next(made, None)
