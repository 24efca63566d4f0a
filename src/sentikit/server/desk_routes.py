"""The desk's routes: ``POST /v1/posts`` and ``GET /v1/monitor/*`` (state, alerts, posts, summary,
drivers, sources). The work is :class:`sentikit.monitor.desk.Desk`'s; these read and check requests.

Without ``--monitor`` every one of them answers 404 with a hint to start the server with it, and
nothing of :mod:`sentikit.monitor` is imported (a server's start stays as quick as it was).
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import TYPE_CHECKING, Any, Optional, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..score import labels_for
from .inputs import ApiError, check_text, json_response, json_type, media_type, read_body, read_json

if TYPE_CHECKING:
    from ..monitor.desk import Desk
    from ..monitor.store import NewPost
    from .app import Served

POST_FIELDS = ("id", "text", "timestamp", "source", "url")
MAX_ID_CHARS = 200
MAX_SOURCE_CHARS = 200
MAX_URL_CHARS = 2_000
MAX_LIST = 1_000  # most posts or alerts one GET returns
MAX_TIME_CHARS = 64  # a since/until query parameter
# The times the desk takes as text (the OpenAPI document says the same): ISO 8601 as datetime.fromisoformat
# reads it, or epoch seconds (or milliseconds, above 1e11).
TIME_PATTERN = (r"^((19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
                r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?"
                r"|[0-9]{1,14}(\.[0-9]{1,9})?)$")
MAX_EPOCH = 253_402_300_799  # 9999-12-31T23:59:59Z: the last second ISO 8601 can write
MAX_EPOCH_NUMBER = MAX_EPOCH * 1000  # the same as epoch milliseconds
# A post's time may be ahead of the server's clock by this much (clock skew), no more: one post dated
# next year would otherwise push every real post out of a time window.
MAX_FUTURE_SECONDS = 86_400
_TIME = re.compile(TIME_PATTERN)
BUCKETS = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "1d": 1440}  # GET /v1/monitor/summary?bucket=: minutes
# JSON Lines go by several names; application/x-ndjson is the one documented.
NDJSON = frozenset({"application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines"})
OFF_HINT = ("the monitor is off: start the server with `sentikit serve --monitor --alert-below 0.4 --window 50` "
            "(or SENTIKIT_MONITOR=1) to use /v1/posts and /v1/monitor/*")


def _served(request: Request) -> Served:
    return cast("Served", request.app.state.served)


def _desk(request: Request) -> Desk:
    desk = _served(request).desk
    if desk is None:
        raise ApiError(404, "monitor_off", OFF_HINT)
    return desk


# --- reading posts -----------------------------------------------------------------------------


def _optional_text(post: dict[str, Any], key: str, where: str, limit: int) -> Optional[str]:
    value = post.get(key)
    if value is None:
        return None
    if key == "id" and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ApiError(422, "invalid_type", f"{where}.{key} must be a string, got {json_type(value)}")
    if not value.strip():
        raise ApiError(400, "empty_field", f"{where}.{key} is empty")
    if len(value) > limit:
        raise ApiError(413, "field_too_long", f"{where}.{key} has {len(value):,} characters; the limit is {limit:,}")
    return value


def check_post(post: Any, index: int, request: Request) -> NewPost:
    """One post of a batch, checked; every problem names ``posts[index]`` and the field."""
    from ..monitor.store import NewPost
    where = f"posts[{index}]"
    if not isinstance(post, dict):
        raise ApiError(422, "invalid_type", f"{where} must be an object, got {json_type(post)}")
    for key in post:
        if key not in POST_FIELDS:
            raise ApiError(422, "unknown_field", f"{where}: unknown field '{str(key)[:100]}' (allowed: {', '.join(POST_FIELDS)})")
    if "text" not in post:
        raise ApiError(400, "missing_field", f"{where} needs a 'text' field")
    text = check_text(post["text"], _served(request).limits, f"{where}.text")
    ts = None if post.get("timestamp") is None else parse_time(post["timestamp"], f"{where}.timestamp")
    if ts is not None and ts > time.time() + MAX_FUTURE_SECONDS:
        raise ApiError(422, "invalid_time", f"{where}.timestamp is more than a day ahead of the server's clock")
    url = _optional_text(post, "url", where, MAX_URL_CHARS)
    if url is not None and not url.lower().startswith(("http://", "https://")):
        raise ApiError(422, "invalid_url", f"{where}.url must be an http:// or https:// link")
    pid = _optional_text(post, "id", where, MAX_ID_CHARS)
    source = _optional_text(post, "source", where, MAX_SOURCE_CHARS) or ""
    return NewPost(pid and storable(pid), storable(text), ts, storable(source), url and storable(url))


def storable(text: str) -> str:
    """``text`` with lone surrogates (valid JSON, not encodable as UTF-8) replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def parse_time(value: Any, where: str) -> float:
    """Epoch seconds from a request's time: text matching :data:`TIME_PATTERN`, or a number (seconds, or
    milliseconds above 1e11) from 0 to :data:`MAX_EPOCH_NUMBER`."""
    problem = ApiError(422, "invalid_time", f"{where} must be ISO 8601 or epoch seconds (1970 to 9999), got "
                       f"{str(value)[:MAX_TIME_CHARS]!r}")
    if isinstance(value, str):
        if len(value) > MAX_TIME_CHARS or not _TIME.match(value):
            raise problem
    elif isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_EPOCH_NUMBER:
        raise problem
    from ..monitor.parse import parse_timestamp

    try:
        seconds = parse_timestamp(value)
    except (ValueError, OverflowError, OSError):
        raise problem from None
    if not (math.isfinite(seconds) and 0 <= seconds <= MAX_EPOCH):
        raise problem
    return seconds


async def read_posts(request: Request) -> list[Any]:
    """The posts of a request: ``{"posts": [...]}`` as JSON, or one post a line as JSON Lines."""
    limits = _served(request).limits
    media = media_type(request)
    if media not in NDJSON and media != "application/json" and not media.endswith("+json"):
        raise ApiError(415, "unsupported_media_type", "send the posts as JSON ('Content-Type: application/json') or "
                       f"JSON Lines ('Content-Type: application/x-ndjson'), got {media or 'none'!r}"[:300])
    if media in NDJSON:
        body = await read_body(request, limits)
        posts = []
        for number, line in enumerate(bytes(body).splitlines(), 1):
            if not line.strip():
                continue
            try:
                posts.append(json.loads(line))
            except (ValueError, RecursionError) as exc:
                raise ApiError(400, "invalid_json", f"line {number} (posts[{len(posts)}]) is not valid JSON: {exc}") from None
    else:
        document = await read_json(request, limits)
        for key in document:
            if key != "posts":
                raise ApiError(422, "unknown_field", f"unknown field '{key[:100]}' (allowed: posts)")
        if "posts" not in document:
            raise ApiError(400, "missing_field", "the body needs a 'posts' field")
        posts = document["posts"]
        if not isinstance(posts, list):
            raise ApiError(422, "invalid_type", f"'posts' must be an array of objects, got {json_type(posts)}")
    if not posts:
        raise ApiError(400, "empty_batch", "no posts in the request; send at least one")
    if len(posts) > limits.max_batch:
        raise ApiError(413, "batch_too_large", f"{len(posts):,} posts in one request; the limit is {limits.max_batch:,}")
    return posts


async def ingest(request: Request) -> Response:
    desk = _desk(request)
    posts = [check_post(post, i, request) for i, post in enumerate(await read_posts(request))]
    scores = await _served(request).score_async([p.text for p in posts])
    result = await run_in_threadpool(desk.ingest, posts, scores)
    return json_response({
        "accepted": result.accepted, "duplicates": result.duplicates, "ids": result.ids, "scores": scores,
        "labels": labels_for(scores, desk.config.threshold), "state": result.state,
    })


# --- the dashboard's reads ------------------------------------------------------------------------


def _query(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
    for key in request.query_params:
        if key not in allowed:
            raise ApiError(422, "unknown_parameter", f"unknown query parameter '{key[:100]}' (allowed: {', '.join(allowed)})")
    return dict(request.query_params)


def _time(query: dict[str, str], key: str) -> Optional[float]:
    return None if key not in query else parse_time(query[key], key)


def _limit(query: dict[str, str], default: int) -> int:
    raw = query.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST:
        raise ApiError(422, "invalid_limit", f"limit must be an integer from 1 to {MAX_LIST:,}, got {raw[:30]!r}")
    return int(raw)


def _choice(query: dict[str, str], key: str, choices: tuple[str, ...] | list[str], default: str) -> str:
    value = query.get(key, default)
    if value not in choices:
        raise ApiError(422, f"invalid_{key}", f"{key} must be one of {', '.join(choices)}, got {value[:30]!r}")
    return value


def _range(query: dict[str, str]) -> dict[str, Any]:
    since, until = _time(query, "since"), _time(query, "until")
    source = query.get("source") or None
    if source is not None and len(source) > MAX_SOURCE_CHARS:
        raise ApiError(422, "invalid_source", f"source has {len(source):,} characters; the limit is {MAX_SOURCE_CHARS}")
    return {"since": since, "until": until, "source": source}


async def monitor_state(request: Request) -> Response:
    desk = _desk(request)
    _query(request, ())
    return json_response(await run_in_threadpool(desk.state))


async def monitor_alerts(request: Request) -> Response:
    desk = _desk(request)
    query = _query(request, ("limit", "since", "until"))
    found = await run_in_threadpool(desk.alerts, limit=_limit(query, 100), since=_time(query, "since"),
                                    until=_time(query, "until"))
    return json_response(found)


async def monitor_posts(request: Request) -> Response:
    desk = _desk(request)
    query = _query(request, ("order", "limit", "since", "until", "source"))
    order = _choice(query, "order", ("recent", "score"), "recent")
    found = await run_in_threadpool(lambda: desk.posts(order=order, limit=_limit(query, 50), **_range(query)))
    return json_response(found)


async def monitor_summary(request: Request) -> Response:
    desk = _desk(request)
    query = _query(request, ("bucket", "since", "until", "source"))
    bucket = _choice(query, "bucket", list(BUCKETS), "1h")
    found = await run_in_threadpool(lambda: desk.summary(bucket_minutes=BUCKETS[bucket], **_range(query)))
    return json_response({"bucket": bucket, **found})


async def monitor_drivers(request: Request) -> Response:
    desk = _desk(request)
    query = _query(request, ("since", "until", "source"))
    return json_response(await run_in_threadpool(lambda: desk.drivers(**_range(query))))


async def monitor_sources(request: Request) -> Response:
    desk = _desk(request)
    _query(request, ())
    return json_response(await run_in_threadpool(desk.sources))


GET, POST = ["GET"], ["POST"]
ROUTES = [
    Route("/v1/posts", ingest, methods=POST),
    Route("/v1/monitor/state", monitor_state, methods=GET),
    Route("/v1/monitor/alerts", monitor_alerts, methods=GET),
    Route("/v1/monitor/posts", monitor_posts, methods=GET),
    Route("/v1/monitor/summary", monitor_summary, methods=GET),
    Route("/v1/monitor/drivers", monitor_drivers, methods=GET),
    Route("/v1/monitor/sources", monitor_sources, methods=GET),
]
