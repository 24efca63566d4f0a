"""Rendering an :class:`AlertMessage` for each channel: the JSON event, a Slack Block Kit message, a
Teams Adaptive Card 1.5 and a plain-text + HTML email. Pure functions, no I/O.

Post text is hostile input: Slack mrkdwn gets ``&``/``<``/``>`` escaped (``<!channel>`` would ping
everyone), Teams shows it as ``TextRun`` (never markdown), email HTML is escaped."""

from __future__ import annotations

import html
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Optional
from urllib.parse import urlsplit

from .message import AlertMessage

__all__ = [
    "ADAPTIVE_CARD_VERSION", "SLACK_LIMITS", "email_message", "json_payload", "slack_payload", "summary_line",
    "teams_payload",
]

# Block Kit's documented limits (docs.slack.dev/reference/block-kit): header text 150, section text
# 3000, a section field 2000 (at most 10 fields), button text 75 and url 3000, 50 blocks a message.
SLACK_LIMITS = {"header": 150, "section": 3000, "field": 2000, "fields": 10, "button": 75, "url": 3000,
                "blocks": 50, "context": 10}
ADAPTIVE_CARD_VERSION = "1.5"
_POST_CHARS = 500  # how much of a post a chat message quotes


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pct(share: float) -> str:
    return f"{share:.0%}"


def _is_link(url: Optional[str]) -> bool:
    if not url:
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c in url for c in "<>|\" \n")


def title(message: AlertMessage) -> str:
    """The one-line headline of a message."""
    if message.kind == "recovery":
        return f"Sentiment recovered: rolling mean {message.mean:.3f} is back at or above {message.recover_above:g}"
    prefix = "TEST - " if message.kind == "test" else ""
    return f"{prefix}Sentiment alert: rolling mean {message.mean:.3f} fell below {message.alert_below:g}"


def summary_line(message: AlertMessage) -> str:
    """The headline plus the window's figures (Slack's ``text`` fallback, the email subject's source)."""
    return (f"{title(message)} ({message.count:,} posts in the window, {message.negative:,} negative, "
            f"{_pct(message.negative_share)})")


def _window_span(message: AlertMessage) -> str:
    if message.window_start and message.window_end:
        return f"{message.window_start} to {message.window_end}"
    return message.window_end or message.at or "-"


def _facts(message: AlertMessage) -> list[tuple[str, str]]:
    facts = [
        ("Rolling mean", f"{message.mean:.3f}"),
        ("Alert below" if message.kind != "recovery" else "Recover at", f"{message.alert_below if message.kind != 'recovery' else message.recover_above:g}"),
        ("Posts in window", f"{message.count:,}"),
        ("Negative posts", f"{message.negative:,} ({_pct(message.negative_share)})"),
        ("Window", _window_span(message)),
    ]
    model = message.model
    if model.get("name"):
        facts.append(("Model", f"{model['name']}" + (f" v{model['version']}" if model.get("version") else "")))
    return facts


def json_payload(message: AlertMessage, key: str) -> dict[str, Any]:
    """The JSON channel: the monitor's event as it always was, plus its idempotency key."""
    return {**message.payload, "idempotency_key": key}


# --- Slack ---------------------------------------------------------------------------------------

def _mrkdwn_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _post_label(post: Any) -> str:
    return " · ".join(str(part) for part in (post.source, post.id, post.time) if part) or "post"


def slack_payload(message: AlertMessage, key: str) -> dict[str, Any]:
    """A Slack incoming-webhook message: ``text`` fallback plus ``blocks`` within Block Kit's limits."""
    emoji = {"alert": ":rotating_light:", "recovery": ":white_check_mark:"}.get(message.kind, ":test_tube:")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(f"{emoji} {title(message)}", SLACK_LIMITS["header"]), "emoji": True}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": _clip(f"*{name}*\n{_mrkdwn_escape(value)}", SLACK_LIMITS["field"])}
            for name, value in _facts(message)[: SLACK_LIMITS["fields"]]
        ]},
    ]
    if message.posts:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "*Most negative posts*"}})
        for post in message.posts:
            label = _mrkdwn_escape(_post_label(post))
            link = f"<{post.url}|{label}>" if _is_link(post.url) else label
            text = f"`{post.score:.3f}` {link}\n>{_mrkdwn_escape(_clip(' '.join(post.text.split()), _POST_CHARS))}"
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, SLACK_LIMITS["section"])}})
    if message.drivers:
        drivers = ", ".join(f"`{_mrkdwn_escape(d)}`" for d in message.drivers)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(f"*What is driving it:* {drivers}", SLACK_LIMITS["section"])}})
    if _is_link(message.dashboard_url):
        assert message.dashboard_url is not None
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": "Open the dashboard", "emoji": False},
            "url": _clip(message.dashboard_url, SLACK_LIMITS["url"]), "action_id": "open-dashboard",
            **({"style": "danger"} if message.kind == "alert" else {}),
        }]})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"sentikit · delivery {key}"}]})
    # The key rides in the context line, not as a top-level field Slack's message format does not define.
    return {"text": _clip(summary_line(message), SLACK_LIMITS["section"]), "blocks": blocks[: SLACK_LIMITS["blocks"]]}


# --- Microsoft Teams -------------------------------------------------------------------------------

def teams_payload(message: AlertMessage, key: str) -> dict[str, Any]:
    """A Teams Workflows message: one Adaptive Card 1.5 attachment."""
    color = {"alert": "Attention", "recovery": "Good"}.get(message.kind, "Warning")
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": title(message), "size": "Large", "weight": "Bolder", "color": color, "wrap": True},
        {"type": "FactSet", "facts": [{"title": name, "value": value} for name, value in _facts(message)]},
    ]
    if message.posts:
        body.append({"type": "TextBlock", "text": "Most negative posts", "weight": "Bolder", "wrap": True, "separator": True})
        for post in message.posts:
            meta: dict[str, Any] = {"type": "TextRun", "text": f"{post.score:.3f} · {_post_label(post)}", "isSubtle": True}
            if _is_link(post.url):
                meta["selectAction"] = {"type": "Action.OpenUrl", "url": post.url}
            body.append({"type": "Container", "items": [
                # RichTextBlock/TextRun: shown as typed, so a post's markdown cannot fake a link
                {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": _clip(" ".join(post.text.split()), _POST_CHARS)}]},
                {"type": "RichTextBlock", "inlines": [meta]},
            ]})
    if message.drivers:
        body.append({"type": "RichTextBlock", "inlines": [
            {"type": "TextRun", "text": "What is driving it: ", "weight": "Bolder"},
            {"type": "TextRun", "text": ", ".join(message.drivers)},
        ]})
    body.append({"type": "TextBlock", "text": f"sentikit · delivery {key}", "isSubtle": True, "size": "Small", "wrap": True})
    card: dict[str, Any] = {
        "type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": ADAPTIVE_CARD_VERSION, "body": body,
    }
    if _is_link(message.dashboard_url):
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open the dashboard", "url": message.dashboard_url}]
    return {"type": "message", "attachments": [  # the key is in the card's footer line
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}


# --- email -----------------------------------------------------------------------------------------

def email_message(message: AlertMessage, key: str, *, sender: str, recipients: list[str]) -> EmailMessage:
    """A multipart/alternative email: plain text and HTML with the same content (post text escaped)."""
    mail = EmailMessage()
    mail["Subject"] = f"[sentikit] {title(message)}"
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = f"<{key}@sentikit>"  # the idempotency key: mail systems drop a repeated Message-ID
    mail["X-Sentikit-Idempotency-Key"] = key
    lines = [summary_line(message), ""]
    lines += [f"{name}: {value}" for name, value in _facts(message)]
    if message.posts:
        lines += ["", "Most negative posts:"]
        for post in message.posts:
            lines.append(f"  {post.score:.3f}  {' '.join(post.text.split())}")
            lines.append(f"         {_post_label(post)}" + (f" {post.url}" if _is_link(post.url) else ""))
    if message.drivers:
        lines += ["", "What is driving it: " + ", ".join(message.drivers)]
    if _is_link(message.dashboard_url):
        lines += ["", f"Dashboard: {message.dashboard_url}"]
    lines += ["", f"sentikit · delivery {key}"]
    mail.set_content("\n".join(lines) + "\n")
    e = html.escape
    color = {"alert": "#b00020", "recovery": "#1b5e20"}.get(message.kind, "#8a6d00")
    rows = "".join(f"<tr><th align=\"left\">{e(name)}</th><td>{e(value)}</td></tr>" for name, value in _facts(message))
    parts = [f"<h2 style=\"color:{color}\">{e(title(message))}</h2>", f"<table>{rows}</table>"]
    if message.posts:
        items = []
        for post in message.posts:
            label = e(_post_label(post))
            if _is_link(post.url):
                label = f"<a href=\"{e(post.url or '')}\">{label}</a>"
            items.append(f"<li><b>{post.score:.3f}</b> {e(' '.join(post.text.split()))}<br><small>{label}</small></li>")
        parts.append("<h3>Most negative posts</h3><ol>" + "".join(items) + "</ol>")
    if message.drivers:
        parts.append("<p><b>What is driving it:</b> " + e(", ".join(message.drivers)) + "</p>")
    if _is_link(message.dashboard_url):
        parts.append(f"<p><a href=\"{e(message.dashboard_url or '')}\">Open the dashboard</a></p>")
    parts.append(f"<p><small>sentikit · delivery {e(key)}</small></p>")
    mail.add_alternative("<!doctype html><html><body>" + "".join(parts) + "</body></html>\n", subtype="html")
    return mail
