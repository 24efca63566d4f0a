"""Alert channels against real local receivers: the Slack message checked field by field against Block Kit's
documented limits, the Teams card against the published Adaptive Card 1.5 schema, delivery retried with
back-off and Retry-After, one idempotency key per alert and channel, and the CLI's flags and --test-alert."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest
from _alert_receivers import Receiver, receiving

from sentikit.errors import InvalidInputError
from sentikit.monitor import Alert, MonitorConfig, Notifier, WindowMonitor, run_monitor
from sentikit.monitor.events import Record
from sentikit.monitor.notify import (
    AlertMessage, NegativePost, WebhookChannel, build_channels, delivery_key, message_from_event, parse_retry_after,
    sample_message, slack_payload, teams_payload,
)

SCHEMA = json.loads((Path(__file__).parent.parent / "fixtures" / "adaptive-card-1.5" / "adaptive-card.json").read_text())
HOSTILE = "<!channel> <script>alert(1)</script> [click me](https://evil.example) & <img src=x onerror=alert(2)>"
DASHBOARD = "https://desk.example.com/monitor"


@pytest.fixture
def hook() -> Iterator[Receiver]:
    yield from receiving()


@pytest.fixture
def hook2() -> Iterator[Receiver]:
    yield from receiving(ok_status=202)


def turn_message(**changes: Any) -> AlertMessage:
    posts = tuple(NegativePost(text=t, score=s, id=f"p{i}", url=u, time="2026-12-07T10:00:00.000Z", source="x.com")
                  for i, (t, s, u) in enumerate([
                      (HOSTILE, 0.01, "https://x.com/acme/status/1"),
                      ("the flat was filthy and the host never answered " * 40, 0.02, "https://x.com/acme/status/2"),
                      ("worst stay ever", 0.03, "javascript:alert(3)"),
                      ("never again", 0.05, None),
                  ]))
    values: dict[str, Any] = dict(kind="alert", alert_id="a1", at="2026-12-07T10:00:00.000Z", mean=0.312, alert_below=0.4,
                                  recover_above=0.45, count=120, negative=77, window_start="2026-12-07T09:00:00.000Z",
                                  window_end="2026-12-07T10:00:00.000Z", posts=posts, drivers=("filthy", "never answered"),
                                  dashboard_url=DASHBOARD, model={"name": "sentiment", "version": 3}, payload={"event": "alert"})
    values.update(changes)
    return AlertMessage(**values)


def all_texts(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from all_texts(v)
    elif isinstance(value, list):
        for v in value:
            yield from all_texts(v)
    elif isinstance(value, str):
        yield value


# --- Slack ---------------------------------------------------------------------------------------

def test_slack_message_follows_block_kit_field_by_field() -> None:
    body = slack_payload(turn_message(), "key-1")
    assert set(body) == {"text", "blocks"}  # the incoming-webhook fields; the key is in the context line
    # text: the fallback shown in notifications, plain
    assert body["text"] == ("Sentiment alert: rolling mean 0.312 fell below 0.4 (120 posts in the window, 77 negative, 64%)")
    blocks = body["blocks"]
    assert 1 <= len(blocks) <= 50  # a message holds at most 50 blocks
    assert [b["type"] for b in blocks] == ["header", "section", "section", "section", "section", "section", "section",
                                           "section", "actions", "context"]
    header = blocks[0]
    assert set(header) == {"type", "text"} and header["text"]["type"] == "plain_text"  # header text is plain_text only
    assert header["text"]["text"] == ":rotating_light: Sentiment alert: rolling mean 0.312 fell below 0.4"
    assert len(header["text"]["text"]) <= 150
    figures = blocks[1]
    assert set(figures) == {"type", "fields"} and len(figures["fields"]) <= 10  # at most 10 fields
    assert [f["text"].split("\n")[0] for f in figures["fields"]] == [
        "*Rolling mean*", "*Alert below*", "*Posts in window*", "*Negative posts*", "*Window*", "*Model*"]
    assert figures["fields"][0]["text"] == "*Rolling mean*\n0.312"
    assert all(f["type"] == "mrkdwn" and len(f["text"]) <= 2000 for f in figures["fields"])
    sections = [b for b in blocks if b["type"] == "section" and "text" in b]
    assert all(b["text"]["type"] == "mrkdwn" and len(b["text"]["text"]) <= 3000 for b in sections)  # section text <= 3000
    assert sections[0]["text"]["text"] == "*Most negative posts*"
    hostile = sections[1]["text"]["text"]
    # &, < and > escaped as Slack documents: no <!channel> ping, no markup from a post
    assert hostile == ("`0.010` <https://x.com/acme/status/1|x.com · p0 · 2026-12-07T10:00:00.000Z>\n"
                       ">&lt;!channel&gt; &lt;script&gt;alert(1)&lt;/script&gt; [click me](https://evil.example) &amp; "
                       "&lt;img src=x onerror=alert(2)&gt;")
    assert sections[2]["text"]["text"].endswith("…") and len(sections[2]["text"]["text"]) < 700  # long posts clipped
    assert "javascript:" not in json.dumps(blocks)  # only http(s) links
    assert sections[5]["text"]["text"] == "*What is driving it:* `filthy`, `never answered`"
    actions = blocks[-2]
    button = actions["elements"][0]
    assert set(button) == {"type", "text", "url", "action_id", "style"}
    assert button["type"] == "button" and button["text"]["type"] == "plain_text" and len(button["text"]["text"]) <= 75
    assert button["url"] == DASHBOARD and len(button["url"]) <= 3000 and button["style"] in ("primary", "danger")
    assert len(actions["elements"]) <= 25 and len(blocks[-1]["elements"]) <= 10  # actions <= 25, context <= 10
    assert blocks[-1]["elements"] == [{"type": "mrkdwn", "text": "sentikit · delivery key-1"}]


def test_slack_recovery_and_limits_with_huge_input() -> None:
    message = turn_message(kind="recovery", posts=(), drivers=tuple(f"w{i}" * 50 for i in range(400)),
                           dashboard_url=None, mean=0.52)
    body = slack_payload(message, "k")
    assert body["blocks"][0]["text"]["text"].startswith(":white_check_mark: Sentiment recovered: rolling mean 0.520")
    assert all(b["type"] != "actions" for b in body["blocks"])  # no dashboard URL, no button
    assert all(len(b["text"]["text"]) <= 3000 for b in body["blocks"] if b["type"] == "section" and "text" in b)
    long_title = slack_payload(turn_message(alert_below=0.123456789012345678), "k")
    assert len(long_title["blocks"][0]["text"]["text"]) <= 150


# --- Teams ---------------------------------------------------------------------------------------

def test_teams_message_is_a_workflows_envelope_with_a_valid_adaptive_card() -> None:
    body = teams_payload(turn_message(), "key-2")
    assert set(body) == {"type", "attachments"} and body["type"] == "message"
    assert body["attachments"][0]["content"]["body"][-1]["text"] == "sentikit · delivery key-2"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    jsonschema.Draft6Validator(SCHEMA).validate(card)
    assert card["body"][0] == {"type": "TextBlock", "text": "Sentiment alert: rolling mean 0.312 fell below 0.4",
                               "size": "Large", "weight": "Bolder", "color": "Attention", "wrap": True}
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert facts["Rolling mean"] == "0.312" and facts["Negative posts"] == "77 (64%)" and facts["Model"] == "sentiment v3"
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open the dashboard", "url": DASHBOARD}]
    # A post is a TextRun (shown as typed, never markdown): the hostile text arrives unchanged, in no TextBlock
    runs = [i for b in card["body"] if b["type"] == "Container" for rich in b["items"] for i in rich["inlines"]]
    assert runs[0] == {"type": "TextRun", "text": HOSTILE}
    assert runs[1]["selectAction"] == {"type": "Action.OpenUrl", "url": "https://x.com/acme/status/1"}
    text_blocks = [b["text"] for b in card["body"] if b["type"] == "TextBlock"]
    assert not any("script" in t for t in text_blocks)
    assert "javascript:" not in json.dumps(card)


def test_the_schema_check_can_fail() -> None:
    card = teams_payload(turn_message(), "k")["attachments"][0]["content"]
    card["body"][0]["size"] = "Enormous"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft6Validator(SCHEMA).validate(card)


def test_test_alert_and_recovery_cards_validate() -> None:
    validator = jsonschema.Draft6Validator(SCHEMA)
    for message in (sample_message(public_url=DASHBOARD), turn_message(kind="recovery", dashboard_url=None, posts=())):
        validator.validate(teams_payload(message, "k")["attachments"][0]["content"])


# --- channels from flags -----------------------------------------------------------------------

def test_channel_specs_prefix_wins_over_format_flags() -> None:
    channels = build_channels(["slack+https://hooks.slack.com/services/T/B/X", "https://a.example/h",
                               "https://b.example/h?sig=1"], ["json", "teams", "slack"])
    assert [(c.format, c.label) for c in channels] == [
        ("slack", "https://hooks.slack.com/…"), ("teams", "https://a.example/…"), ("slack", "https://b.example/…")]
    assert [c.format for c in build_channels(["https://a.example/1", "json+https://a.example/2"], ["teams"])] == ["teams", "json"]
    assert [c.format for c in build_channels(["https://a.example/1"])] == ["json"]


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (["https://a.example/1", "https://a.example/2"], {"formats": ["json", "slack", "teams"]}, "one per --webhook"),
    (["https://a.example/1"], {"formats": ["xml"]}, "json, slack, teams"),
    ([], {"formats": ["slack"]}, "needs a --webhook"),
    (["https://a.example/1", "https://a.example/1"], {}, "twice"),
    ([], {"email_to": ["desk@example.com"]}, "needs --smtp-url"),
    ([], {"email_to": ["desk@example.com"], "smtp_url": "smtp://u:pw@mail.example:587"}, "SENTIKIT_SMTP_USER"),
    ([], {"email_to": ["not-an-address"], "smtp_url": "smtp://mail.example:587"}, "not an email address"),
    ([], {"email_to": ["a@example.com"], "smtp_url": "http://mail.example"}, "smtp://host:port"),
    ([], {"email_to": ["a@example.com"], "smtp_url": "smtp://mail.example", "smtp_user": "u"}, "both"),
])
def test_bad_channel_flags_are_one_line_errors(args: list[str], kwargs: dict[str, Any], message: str) -> None:
    formats = kwargs.pop("formats", [])
    with pytest.raises(InvalidInputError, match=message) as caught:
        build_channels(args, formats, **kwargs)
    assert "\n" not in str(caught.value) and "pw" not in str(caught.value)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=lambda: 1445412470.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


# --- delivery ------------------------------------------------------------------------------------

def a_turn_alert(negatives: list[str], positives: list[str]) -> Alert:
    core = WindowMonitor(MonitorConfig(alert_below=0.45, window=10, samples=3), model={"name": "sentiment"})
    records = [Record(text=t, line=i + 1, time=1_700_000_000.0 + i) for i, t in enumerate(positives[:10] + negatives[:10])]
    events = core.add_many(records, [0.9] * 10 + [0.1] * 10)
    [alert] = [e for e in events if isinstance(e, Alert)]
    return alert


def test_failing_receivers_get_the_alert_once_accepted_with_one_key(hook, hook2, uci_texts) -> None:
    positives, negatives = uci_texts
    hook.fail_first(2, 503)
    hook2.fail_first(1, 429, {"Retry-After": "1"})
    channels = build_channels([f"slack+{hook.url}", f"teams+{hook2.url}"])
    notifier = Notifier(channels, base_backoff=0.05, max_backoff=0.2, public_url=DASHBOARD)
    alert = a_turn_alert(negatives, positives)
    notifier.submit(alert)  # returns at once: the receivers answer from their threads (see test_webhook's slow one)
    assert len(hook.wait_accepted(1)) == 1 and len(hook2.wait_accepted(1)) == 1
    notifier.close(timeout=1)
    assert [h.status for h in hook.hits] == [503, 503, 200]
    assert [h.status for h in hook2.hits] == [429, 202]
    assert hook2.hits[1].at - hook2.hits[0].at >= 0.95  # Retry-After: 1 honoured (back-off alone would be 0.05 s)
    keys = {h.headers["Idempotency-Key"] for h in hook.hits}
    assert len(keys) == 1 and {h.body["blocks"][-1]["elements"][0]["text"] for h in hook.hits} == {
        f"sentikit · delivery {next(iter(keys))}"}  # the same key on every retry, in the header and the message
    key2 = hook2.hits[0].headers["Idempotency-Key"]
    assert key2 != next(iter(keys))  # one key per channel
    assert keys == {delivery_key(message_from_event(alert).alert_id, channels[0].id)}  # stable: any process derives it
    assert hook.hits[-1].body["blocks"][-2]["elements"][0]["url"] == DASHBOARD
    assert (notifier.sent, notifier.failed) == (2, 0)
    counts = notifier.counts()
    assert (counts.pending, counts.failed, counts.sent) == (0, 0, 2)
    assert counts.last_error in (f"{channels[0].label}: HTTP 503", f"{channels[1].label}: HTTP 429")


def test_a_channel_that_keeps_failing_is_given_up_after_the_retry_period(hook, uci_texts) -> None:
    hook.fail_first(1000, 500)
    notifier = Notifier(build_channels([hook.url]), retry_hours=0.5 / 3600, base_backoff=0.05, max_backoff=0.1)
    notifier.submit(a_turn_alert(uci_texts[1], uci_texts[0]))
    deadline = time.monotonic() + 10
    while notifier.counts().failed == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    counts = notifier.counts()
    assert (counts.pending, counts.failed, counts.sent) == (0, 1, 0)
    assert counts.last_error == f"{hook.url.split('/hook')[0]}/…: HTTP 500"
    [failure] = notifier.drain()
    assert failure.about == "alert" and failure.error == "HTTP 500" and failure.attempts == len(hook.hits) >= 3
    assert "secret-token" not in repr(failure)
    notifier.close(timeout=0)


def test_the_json_channel_keeps_the_event_payload_and_adds_the_key(hook, label_scorer, uci_texts) -> None:
    positives, negatives = uci_texts
    lines = [t.encode() for t in positives[:10] + negatives[:10] + positives[10:20]]
    notifier = Notifier([WebhookChannel(hook.url)], public_url=DASHBOARD)
    run_monitor(iter([lines]), label_scorer, MonitorConfig(alert_below=0.45, window=10, samples=3), notifier=notifier,
                status_interval=None, model={"name": "sentiment"})
    alert, recovery = (h.body for h in hook.accepted())
    assert alert["event"] == "alert" and recovery["event"] == "recovery"
    assert set(alert) == {"event", "position", "line", "time", "mean", "alert_below", "recover_above", "window",
                          "samples", "model", "dashboard_url", "idempotency_key"}
    assert alert["dashboard_url"] == DASHBOARD and alert["idempotency_key"] == hook.accepted()[0].headers["Idempotency-Key"]


# --- the CLI -------------------------------------------------------------------------------------

def test_cli_monitor_sends_one_alert_to_each_format(cli, model_dir, clear_texts, tmp_path, hook, hook2) -> None:
    positives, negatives = clear_texts
    path = tmp_path / "mentions.txt"
    path.write_text("\n".join(positives[:20] + negatives[:20]) + "\n", encoding="utf-8")
    hook.fail_first(2, 503)
    with_json = receiving()
    plain = next(with_json)
    try:
        result = cli("monitor", str(model_dir), "--input", str(path), "--window", "10", "--alert-below", "0.45",
                     "--webhook", f"slack+{hook.url}", "--webhook", hook2.url, "--webhook", plain.url,
                     "--webhook-format", "slack", "--webhook-format", "teams", "--webhook-format", "json",
                     "--public-url", DASHBOARD, "--json")
        assert result.exit_code == 0, result.stderr
        events = [json.loads(line) for line in result.stdout.splitlines()]
        assert [e["event"] for e in events] == ["alert", "summary"]
        assert events[-1]["webhooks_sent"] == 3 and events[-1]["webhooks_failed"] == 0
        assert [h.status for h in hook.hits] == [503, 503, 200]
        assert "blocks" in hook.accepted()[0].body
        assert hook2.accepted()[0].body["attachments"][0]["content"]["version"] == "1.5"
        assert plain.accepted()[0].body["event"] == "alert" and plain.accepted()[0].body["dashboard_url"] == DASHBOARD
    finally:
        next(with_json, None)


def test_cli_test_alert_reports_every_channel(cli, hook, hook2, monkeypatch) -> None:
    hook2.fail_first(1, 404)
    monkeypatch.setenv("SENTIKIT_MONITOR_WEBHOOK", f"teams+{hook2.url},{hook.url}")
    result = cli("monitor", "--test-alert", "--webhook-format", "slack", "--json")
    # --webhook-format alone applies to the unprefixed URL from the environment; the teams+ prefix wins
    assert result.exit_code == 1, result.stderr
    report = result.json
    assert report["ok"] is False
    assert [(c["format"], c["ok"], c["status"]) for c in report["channels"]] == [
        ("teams", False, "HTTP 404"), ("slack", True, "HTTP 200")]
    assert "secret-token" not in result.stdout
    assert hook.hits[0].body["blocks"][0]["text"]["text"].startswith(":test_tube: TEST - Sentiment alert")
    result = cli("monitor", "--test-alert", "--webhook", hook.url)
    assert result.exit_code == 0 and result.stdout.startswith("ok     json  http://127.0.0.1:")
    assert hook.hits[-1].body["event"] == "test"


def test_cli_reads_channels_from_the_monitor_table(cli, hook, tmp_path, monkeypatch) -> None:
    (tmp_path / "sentikit.toml").write_text(
        f'[monitor]\nwebhook = ["slack+{hook.url}"]\npublic_url = "{DASHBOARD}"\nalert_retry_hours = 2\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = cli("monitor", "--test-alert", "--json")
    assert result.exit_code == 0, result.stderr
    assert hook.hits[0].body["blocks"][-2]["elements"][0]["url"] == DASHBOARD
    (tmp_path / "sentikit.toml").write_text('[monitor]\nsmtp_password = "x"\n', encoding="utf-8")
    result = cli("monitor", "--test-alert")
    assert result.exit_code == 2 and "secret" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--test-alert"], "--test-alert needs a channel"),
    (["--test-alert", "--webhook", "ftp://x.example/h"], "--webhook must be an http(s) URL"),
    (["--test-alert", "--webhook", "https://x.example/h", "--public-url", "desk"], "--public-url must be an http(s) URL"),
    (["--test-alert", "--email-to", "a@example.com"], "--email-to needs --smtp-url"),
    (["--window", "5", "--alert-below", "0.4", "--webhook", "https://x.example/h", "--alert-retry-hours", "-1"],
     "--alert-retry-hours must be between"),
])
def test_cli_channel_errors(cli, args: list[str], message: str) -> None:
    result = cli("monitor", *args)
    assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr
