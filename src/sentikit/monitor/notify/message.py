"""What an alert says, independent of the channel: :class:`AlertMessage`, built from a monitor event
(or the desk's stored alert), with a stable identity from which every channel derives its idempotency key."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from ..events import Alert, Recovery

__all__ = ["AlertMessage", "NegativePost", "delivery_key", "message_from_event", "sample_message"]

# uuid5 namespace of sentikit's delivery ids: the same alert on the same channel gets the same key
# in every process and replica, so a receiver can drop repeats.
_KEY_NAMESPACE = uuid.UUID("6d1f1f3e-2b7a-5c2e-9a4f-3c1e5b0d7a21")
MAX_POSTS = 5  # the most negative posts an alert quotes (Slack and Teams stay readable)
MAX_DRIVERS = 10


@dataclass(frozen=True)
class NegativePost:
    """A post quoted in an alert."""

    text: str
    score: float
    id: Optional[str] = None
    url: Optional[str] = None
    time: Optional[str] = None
    source: Optional[str] = None


@dataclass(frozen=True)
class AlertMessage:
    """One alert or recovery as every channel renders it; ``payload`` is the JSON channel's body."""

    kind: str  # "alert", "recovery" or "test"
    alert_id: str  # stable identity of this alert (same in every process)
    at: Optional[str]
    mean: float
    alert_below: float
    recover_above: float
    count: int
    negative: int
    window_start: Optional[str] = None
    window_end: Optional[str] = None
    posts: Sequence[NegativePost] = ()
    drivers: Sequence[str] = ()
    dashboard_url: Optional[str] = None
    model: Mapping[str, Any] = field(default_factory=dict)
    payload: Mapping[str, Any] = field(default_factory=dict)

    @property
    def negative_share(self) -> float:
        return self.negative / self.count if self.count else 0.0

    @property
    def position(self) -> int:
        return int(self.payload.get("position", 0) or 0)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (what a persistent outbox stores); :meth:`from_dict` reads it back."""
        return {
            "kind": self.kind, "alert_id": self.alert_id, "at": self.at, "mean": self.mean,
            "alert_below": self.alert_below, "recover_above": self.recover_above, "count": self.count,
            "negative": self.negative, "window_start": self.window_start, "window_end": self.window_end,
            "posts": [vars(p) for p in self.posts], "drivers": list(self.drivers),
            "dashboard_url": self.dashboard_url, "model": dict(self.model), "payload": dict(self.payload),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertMessage:
        values = dict(data)
        values["posts"] = tuple(NegativePost(**p) for p in values.get("posts", ()))
        values["drivers"] = tuple(values.get("drivers", ()))
        return cls(**values)


def delivery_key(alert_id: str, channel_id: str) -> str:
    """The idempotency key of one alert on one channel (a UUID, stable across processes)."""
    return str(uuid.uuid5(_KEY_NAMESPACE, f"{alert_id}/{channel_id}"))


def _alert_id(event: Alert | Recovery) -> str:
    identity = [event.kind, event.position, event.time, event.window.start, event.window.end, round(event.mean, 6)]
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:32]


def message_from_event(event: Alert | Recovery, *, public_url: Optional[str] = None) -> AlertMessage:
    """The message of a `sentikit monitor` alert or recovery (its JSON payload is the event's, unchanged)."""
    payload = event.to_dict()
    if public_url:
        payload["dashboard_url"] = public_url
    posts = tuple(NegativePost(text=s.text, score=s.score, id=s.id, time=s.time) for s in event.samples[:MAX_POSTS])
    return AlertMessage(
        kind=event.kind, alert_id=_alert_id(event), at=event.time, mean=event.mean, alert_below=event.alert_below,
        recover_above=event.recover_above, count=event.window.count, negative=event.window.negative,
        window_start=event.window.start, window_end=event.window.end, posts=posts, dashboard_url=public_url,
        model=event.model, payload=payload,
    )


def sample_message(*, public_url: Optional[str] = None, alert_id: Optional[str] = None) -> AlertMessage:
    """The message `--test-alert` sends: clearly marked as a test, shaped like a real alert."""
    alert_id = alert_id or uuid.uuid4().hex
    posts = (
        NegativePost("This is a test post: the support line kept me waiting for an hour.", 0.04, "test-1",
                     None, None, "sentikit test"),
        NegativePost("Another test post: the delivery never arrived & nobody answers <emails>.", 0.07, "test-2",
                     None, None, "sentikit test"),
    )
    payload: dict[str, Any] = {
        "event": "test", "test": True, "mean": 0.31, "alert_below": 0.4, "recover_above": 0.4,
        "window": {"count": 50, "negative": 32}, "samples": [vars(p) for p in posts],
    }
    if public_url:
        payload["dashboard_url"] = public_url
    return AlertMessage(
        kind="test", alert_id=alert_id, at=None, mean=0.31, alert_below=0.4, recover_above=0.4, count=50, negative=32,
        posts=posts, drivers=("waiting", "never arrived", "nobody answers"), dashboard_url=public_url, payload=payload,
    )
