"""The notifier: alerts and recoveries to webhooks (JSON, Slack, Teams) and email, delivered for sure.

* :mod:`.message` - :class:`AlertMessage`, what an alert says whatever the channel, and its idempotency keys.
* :mod:`.formats` - the JSON event, the Slack Block Kit message, the Teams Adaptive Card, the email.
* :mod:`.channels` - :class:`WebhookChannel`, :class:`EmailChannel`: one attempt each.
* :mod:`.delivery` - the :class:`Outbox` of pending deliveries and the :class:`Notifier` that retries them.
"""

from __future__ import annotations

from typing import Optional

from .channels import (
    WEBHOOK_FORMATS, AttemptResult, Channel, EmailChannel, WebhookChannel, build_channels, channels_from_settings,
    check_public_url, parse_retry_after, parse_webhook, redact_url,
)
from .delivery import (
    DEFAULT_RETRY_HOURS, Delivery, DeliveryCounts, MemoryOutbox, Notifier, Outbox, TestResult, backoff_delay,
    deliveries_for, send_test_alert,
)
from .formats import email_message, json_payload, slack_payload, summary_line, teams_payload
from .message import AlertMessage, NegativePost, delivery_key, message_from_event, sample_message

__all__ = [
    "DEFAULT_RETRY_HOURS", "WEBHOOK_FORMATS", "AlertMessage", "AttemptResult", "Channel", "Delivery", "DeliveryCounts",
    "EmailChannel", "MemoryOutbox", "NegativePost", "Notifier", "Outbox", "TestResult", "WebhookChannel",
    "WebhookNotifier", "backoff_delay", "build_channels", "channels_from_settings", "check_public_url", "deliveries_for",
    "delivery_key", "email_message", "json_payload",
    "message_from_event", "parse_retry_after", "parse_webhook", "redact_url", "sample_message", "send_test_alert",
    "slack_payload", "summary_line", "teams_payload",
]


def WebhookNotifier(  # noqa: N802 - the name callers used before channels existed
    url: str, *, timeout: float = 5.0, retries: int = 3, backoff: float = 0.5, max_backoff: float = 8.0,
    public_url: Optional[str] = None,
) -> Notifier:
    """A :class:`Notifier` for one JSON webhook with at most ``retries`` retries."""
    return Notifier([WebhookChannel(url)], timeout=timeout, max_attempts=retries + 1, base_backoff=backoff,
                    max_backoff=max_backoff, public_url=public_url)
