"""Email alerts through a real SMTP server (aiosmtpd on 127.0.0.1) that insists on STARTTLS and AUTH:
plain text and HTML with the same content, post text escaped, the password never in the clear or in output."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest
from _smtp_server import PASSWORD, USER, Mailbox, smtp_server

from sentikit.monitor.notify import AlertMessage, EmailChannel, NegativePost, Notifier, build_channels

HOSTILE = "<script>alert(1)</script> & <img src=x onerror=alert(2)>"


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    yield from smtp_server(tmp_path)


def the_message() -> AlertMessage:
    posts = (NegativePost(HOSTILE, 0.012, "p1", "https://x.com/acme/status/1", "2026-12-07T10:00:00.000Z", "x.com"),
             NegativePost("the host never answered", 0.05, "p2"))
    return AlertMessage(kind="alert", alert_id="mail-1", at="2026-12-07T10:00:00.000Z", mean=0.301, alert_below=0.4,
                        recover_above=0.4, count=80, negative=50, posts=posts, drivers=("never answered",),
                        dashboard_url="https://desk.example.com/monitor", payload={"event": "alert", "position": 80})


def test_starttls_and_auth_then_text_and_html_with_the_same_content(mailbox: Mailbox) -> None:
    [channel] = build_channels(email_to=["desk@example.com", "pr@example.com"], email_from="alerts@example.com",
                               smtp_url=f"smtp://{mailbox.host}:{mailbox.port}", smtp_user=USER, smtp_password=PASSWORD,
                               tls_context=mailbox.client_context())
    assert PASSWORD not in repr(channel) and PASSWORD not in channel.label
    notifier = Notifier([channel], base_backoff=0.05)
    notifier.enqueue(the_message())
    [mail] = mailbox.wait(1)
    notifier.close(timeout=1)
    assert mailbox.logins == [(USER, True)]
    assert mailbox.envelopes == [("alerts@example.com", ["desk@example.com", "pr@example.com"], True)]  # over TLS
    assert mail["Subject"] == "[sentikit] Sentiment alert: rolling mean 0.301 fell below 0.4"
    assert mail["To"] == "desk@example.com, pr@example.com" and mail["From"] == "alerts@example.com"
    key = mail["X-Sentikit-Idempotency-Key"]
    assert mail["Message-ID"] == f"<{key}@sentikit>"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    page = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for needle in ("0.301", "80", "50 (62%)", "the host never answered", "never answered", "https://desk.example.com/monitor", key):
        assert needle in text and needle in page, needle
    assert HOSTILE in text  # plain text: as posted
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(2)&gt;" in page
    assert '<a href="https://x.com/acme/status/1">' in page and (notifier.sent, notifier.failed) == (1, 0)


def test_a_wrong_password_is_refused_once_and_never_shown(mailbox: Mailbox) -> None:
    channel = EmailChannel(f"smtp://{mailbox.host}:{mailbox.port}", ["desk@example.com"], "alerts@example.com",
                           user=USER, password="wrong-pass", tls_context=mailbox.client_context())
    notifier = Notifier([channel], base_backoff=0.05)
    notifier.enqueue(the_message())
    deadline = time.monotonic() + 10
    while not notifier.counts().failed and time.monotonic() < deadline:
        time.sleep(0.02)
    [failure] = notifier.drain()
    notifier.close(timeout=0)
    assert (failure.attempts, failure.error) == (1, "SMTP authentication failed (535)")  # permanent: not retried
    assert mailbox.logins == [(USER, False)] and mailbox.messages == []
    assert "wrong-pass" not in repr(failure) and "wrong-pass" not in str(notifier.counts())


def test_an_untrusted_certificate_fails_and_is_retried(mailbox: Mailbox) -> None:
    channel = EmailChannel(f"smtp://{mailbox.host}:{mailbox.port}", ["desk@example.com"], "alerts@example.com",
                           user=USER, password=PASSWORD)  # the system's CAs: the test CA is unknown
    result = channel.send(the_message(), "k", 5)
    assert not result.ok and result.retry and "CERTIFICATE_VERIFY_FAILED" in result.error
    assert mailbox.logins == []  # the password was never sent


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtps_is_tls_from_the_first_byte(tmp_path: Path) -> None:
    for box in smtp_server(tmp_path, implicit_tls=True):
        [channel] = build_channels(email_to=["desk@example.com"], smtp_url=f"smtps://{box.host}:{box.port}",
                                   smtp_user=USER, smtp_password=PASSWORD, tls_context=box.client_context())
        result = channel.send(the_message(), "k", 5)
        assert result.ok, result.error
        assert box.envelopes == [("sentikit@127.0.0.1", ["desk@example.com"], True)] and box.logins == [(USER, True)]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_no_password_over_a_server_without_starttls(tmp_path: Path) -> None:
    for box in smtp_server(tmp_path, starttls=False):
        channel = EmailChannel(f"smtp://{box.host}:{box.port}", ["desk@example.com"], "alerts@example.com",
                               user=USER, password=PASSWORD)
        result = channel.send(the_message(), "k", 5)
        assert (result.ok, result.retry) == (False, False) and "STARTTLS" in result.error
        assert box.logins == []


def test_cli_test_alert_by_email(cli, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIKIT_SMTP_USER", USER)
    monkeypatch.setenv("SENTIKIT_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("SSL_CERT_FILE", str(mailbox.ca))  # the default context trusts the test CA, as a site CA would
    result = cli("monitor", "--test-alert", "--email-to", "desk@example.com", "--smtp-url",
                 f"smtp://{mailbox.host}:{mailbox.port}", "--json")
    assert result.exit_code == 0, result.stderr
    [answer] = result.json["channels"]
    assert (answer["format"], answer["ok"], answer["status"]) == ("email", True, "250")
    assert PASSWORD not in result.stdout + result.stderr
    [mail] = mailbox.wait(1)
    assert mail["Subject"].startswith("[sentikit] TEST - Sentiment alert")
    monkeypatch.setenv("SENTIKIT_SMTP_PASSWORD", "nope")
    result = cli("monitor", "--test-alert", "--email-to", "desk@example.com", "--smtp-url",
                 f"smtp://{mailbox.host}:{mailbox.port}")
    assert result.exit_code == 1 and "SMTP authentication failed (535)" in result.stdout and "nope" not in result.stdout
