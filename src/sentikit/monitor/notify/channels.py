"""Where alerts go: webhooks (JSON, Slack, Teams) and email over SMTP. A channel makes one attempt
and says how it went (:class:`AttemptResult`); retrying is :mod:`.delivery`'s job."""

from __future__ import annotations

import email.utils
import hashlib
import json
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol, Sequence
from urllib.parse import urlsplit

from ... import __version__
from ...config import Settings, split_list
from ...errors import InvalidInputError
from .formats import email_message, json_payload, slack_payload, teams_payload
from .message import AlertMessage

__all__ = [
    "AttemptResult", "Channel", "EmailChannel", "WEBHOOK_FORMATS", "WebhookChannel", "build_channels",
    "channels_from_settings", "check_public_url", "parse_retry_after", "parse_webhook", "redact_url",
]

WEBHOOK_FORMATS = ("json", "slack", "teams")
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def redact_url(url: str) -> str:
    """``scheme://host[:port]/…``: webhook URLs often carry a token in the path or query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}/…" if parts.path.strip("/") or parts.query else f"{parts.scheme}://{host}"


@dataclass(frozen=True)
class AttemptResult:
    """One delivery attempt: ``ok``, what the receiver answered, and whether trying again can help."""

    ok: bool
    status: str  # "HTTP 202", "250", or "" when nothing answered
    error: str = ""
    retry: bool = True  # False: a permanent refusal (4xx, a bad address, wrong credentials)
    retry_after: Optional[float] = None  # seconds the receiver asked us to wait (Retry-After)


class Channel(Protocol):
    """A destination for alerts."""

    id: str  # stable across processes (hash of the destination): part of the idempotency key
    label: str  # safe to show: no tokens, no passwords
    format: str  # json, slack, teams or email

    def send(self, message: AlertMessage, key: str, timeout: float) -> AttemptResult: ...


def _stable_id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def parse_retry_after(value: Optional[str], now: Callable[[], float] = time.time) -> Optional[float]:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; ``None`` when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


class WebhookChannel:
    """POST a JSON body (the event, a Slack message or a Teams card) with an ``Idempotency-Key`` header."""

    def __init__(self, url: str, fmt: str = "json") -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInputError(f"--webhook must be an http(s) URL, got {redact_url(url)!r}")
        if fmt not in WEBHOOK_FORMATS:
            raise InvalidInputError(f"--webhook-format must be one of {', '.join(WEBHOOK_FORMATS)}, got {fmt!r}")
        self.url = url
        self.format = fmt
        self.id = _stable_id("webhook", fmt, url)
        self.label = redact_url(url)
        self._render = {"json": json_payload, "slack": slack_payload, "teams": teams_payload}[fmt]

    def __repr__(self) -> str:
        return f"WebhookChannel({self.label!r})"

    def body(self, message: AlertMessage, key: str) -> dict[str, Any]:
        return self._render(message, key)

    def send(self, message: AlertMessage, key: str, timeout: float) -> AttemptResult:
        data = json.dumps(self.body(message, key), ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": f"sentikit/{__version__}", "Idempotency-Key": key}
        request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) checked)
                response.read(65_536)
                return AttemptResult(True, f"HTTP {response.status}")
        except urllib.error.HTTPError as exc:
            retry_after = parse_retry_after(exc.headers.get("Retry-After")) if exc.headers else None
            return AttemptResult(False, f"HTTP {exc.code}", f"HTTP {exc.code}", retry=exc.code in _RETRY_STATUSES,
                                 retry_after=retry_after if exc.code in (429, 503) else None)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            error = reason if isinstance(reason, str) else f"{type(reason).__name__}: {reason}"
            return AttemptResult(False, "", error)


class EmailChannel:
    """Send a plain-text + HTML email over SMTP: ``smtp://`` upgrades with STARTTLS when the server
    offers it, ``smtps://`` is TLS from the first byte. Credentials never cross the wire unencrypted."""

    def __init__(self, smtp_url: str, recipients: Sequence[str], sender: str, *, user: Optional[str] = None,
                 password: Optional[str] = None, tls_context: Optional[ssl.SSLContext] = None) -> None:
        parts = urlsplit(smtp_url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise InvalidInputError(f"--smtp-url must be smtp://host:port or smtps://host:port, got {redact_url(smtp_url)!r}")
        if parts.username or parts.password:
            raise InvalidInputError("--smtp-url must not carry a user or password; set SENTIKIT_SMTP_USER and SENTIKIT_SMTP_PASSWORD")
        if not recipients:
            raise InvalidInputError("--smtp-url needs at least one --email-to address")
        for address in [*recipients, sender]:
            if "@" not in email.utils.parseaddr(address)[1]:
                raise InvalidInputError(f"not an email address: {address!r}")
        if bool(user) != bool(password):
            raise InvalidInputError("set both SENTIKIT_SMTP_USER and SENTIKIT_SMTP_PASSWORD, or neither")
        self.tls = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.tls else 25)
        self.recipients = list(recipients)
        self.sender = sender
        self._user = user
        self._password = password
        self._context = tls_context
        self.format = "email"
        self.id = _stable_id("email", f"{self.host}:{self.port}", ",".join(sorted(self.recipients)))
        self.label = f"{parts.scheme}://{self.host}:{self.port} to {', '.join(self.recipients)}"

    def __repr__(self) -> str:
        return f"EmailChannel({self.label!r})"  # never the password

    def send(self, message: AlertMessage, key: str, timeout: float) -> AttemptResult:
        mail = email_message(message, key, sender=self.sender, recipients=self.recipients)
        context = self._context or ssl.create_default_context()
        try:
            smtp: smtplib.SMTP = (smtplib.SMTP_SSL(self.host, self.port, timeout=timeout, context=context) if self.tls
                                  else smtplib.SMTP(self.host, self.port, timeout=timeout))
            with smtp:
                smtp.ehlo()
                if not self.tls and smtp.has_extn("starttls"):
                    smtp.starttls(context=context)
                    smtp.ehlo()
                elif not self.tls and self._user:
                    return AttemptResult(False, "", "the SMTP server does not offer STARTTLS; not sending the password in clear", retry=False)
                if self._user and self._password:
                    _login(smtp, self._user, self._password)
                refused = smtp.send_message(mail)
            if refused:
                return AttemptResult(True, "250", f"refused recipients: {', '.join(sorted(refused))}")
            return AttemptResult(True, "250")
        except smtplib.SMTPAuthenticationError as exc:
            return AttemptResult(False, str(exc.smtp_code), f"SMTP authentication failed ({exc.smtp_code})", retry=False)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            return AttemptResult(False, str(codes[0]), f"SMTP refused every recipient ({', '.join(map(str, codes))})",
                                 retry=all(400 <= c < 500 for c in codes))
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            return AttemptResult(False, str(exc.smtp_code), f"SMTP {exc.smtp_code} {text}"[:200], retry=exc.smtp_code < 500)
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            return AttemptResult(False, "", f"{type(exc).__name__}: {exc}"[:200])


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """Authenticate with one mechanism (PLAIN, else LOGIN, else what smtplib picks): one failed
    password is one failed login on the server, not three (``SMTP.login`` tries every mechanism)."""
    advertised = smtp.esmtp_features.get("auth", "").upper().split()
    smtp.user, smtp.password = user, password
    for mechanism, answer in (("PLAIN", smtp.auth_plain), ("LOGIN", smtp.auth_login)):
        if mechanism in advertised:
            smtp.auth(mechanism, answer)
            return
    smtp.login(user, password)


def parse_webhook(spec: str, fmt: Optional[str]) -> WebhookChannel:
    """``URL`` or ``FORMAT+URL`` (``slack+https://…``); a prefix wins over ``fmt`` (from --webhook-format)."""
    head, plus, rest = spec.partition("+")
    if plus and head in WEBHOOK_FORMATS and rest.startswith(("http://", "https://")):
        return WebhookChannel(rest, head)
    return WebhookChannel(spec, fmt or "json")


def build_channels(
    webhooks: Sequence[str] = (),
    formats: Sequence[str] = (),
    *,
    email_to: Sequence[str] = (),
    email_from: Optional[str] = None,
    smtp_url: Optional[str] = None,
    smtp_user: Optional[str] = None,
    smtp_password: Optional[str] = None,
    tls_context: Optional[ssl.SSLContext] = None,
) -> list[Channel]:
    """The channels of the flags: the i-th ``--webhook-format`` is the i-th ``--webhook``'s (one format
    alone applies to every URL); a ``format+`` prefix on a URL wins; email when ``--email-to`` is given."""
    if len(formats) > 1 and len(formats) != len(webhooks):
        raise InvalidInputError(f"give one --webhook-format for all URLs or one per --webhook ({len(webhooks)}), got {len(formats)}")
    if formats and not webhooks:
        raise InvalidInputError("--webhook-format needs a --webhook")
    channels: list[Channel] = []
    for index, spec in enumerate(webhooks):
        fmt = formats[0] if len(formats) == 1 else (formats[index] if formats else None)
        channels.append(parse_webhook(spec, fmt))
    if email_to or smtp_url:
        if not smtp_url:
            raise InvalidInputError("--email-to needs --smtp-url (smtp://host:port or smtps://host:port)")
        sender = email_from or f"sentikit@{urlsplit(smtp_url).hostname or 'localhost'}"
        channels.append(EmailChannel(smtp_url, list(email_to), sender, user=smtp_user, password=smtp_password,
                                     tls_context=tls_context))
    ids = [c.id for c in channels]
    if len(set(ids)) != len(ids):
        raise InvalidInputError("the same channel is given twice")
    return channels


def channels_from_settings(settings: Settings, *, smtp_user: Optional[str] = None, smtp_password: Optional[str] = None,
                           tls_context: Optional[ssl.SSLContext] = None) -> list[Channel]:
    """The channels of the resolved ``monitor_*`` settings (flags, ``SENTIKIT_MONITOR_*``, ``[monitor]``)."""
    return build_channels(
        split_list(settings.monitor_webhook), split_list(settings.monitor_webhook_format),
        email_to=split_list(settings.monitor_email_to), email_from=settings.monitor_email_from or None,
        smtp_url=settings.monitor_smtp_url or None, smtp_user=smtp_user, smtp_password=smtp_password,
        tls_context=tls_context,
    )


def check_public_url(url: str) -> Optional[str]:
    """``--public-url`` checked (an http(s) URL), or ``None`` when empty."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"--public-url must be an http(s) URL, got {url!r}")
    return url
