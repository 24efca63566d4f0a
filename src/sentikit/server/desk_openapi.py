"""The desk's part of the OpenAPI document: ``POST /v1/posts`` and ``GET /v1/monitor/*`` with their schemas."""

from __future__ import annotations

from typing import Any, Callable

from ..config import ServerLimits
from .desk_routes import BUCKETS, MAX_EPOCH_NUMBER, MAX_ID_CHARS, MAX_LIST, MAX_SOURCE_CHARS, MAX_TIME_CHARS, MAX_URL_CHARS
from .desk_routes import TIME_PATTERN
from .inputs import NON_BLANK_PATTERN

_NUMBER_OR_NULL = {"type": ["number", "null"]}
_TIME_OR_NULL = {"type": ["string", "null"], "description": "ISO 8601 UTC, e.g. 2026-05-01T10:00:00.000Z"}
_TIME_PARAM_SCHEMA = {"type": "string", "minLength": 1, "maxLength": MAX_TIME_CHARS, "pattern": TIME_PATTERN}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _time_params() -> list[dict[str, Any]]:
    return [
        {"name": "since", "in": "query", "required": False, "schema": _TIME_PARAM_SCHEMA,
         "description": "Event time from (inclusive): ISO 8601 or epoch seconds."},
        {"name": "until", "in": "query", "required": False, "schema": _TIME_PARAM_SCHEMA,
         "description": "Event time until (exclusive): ISO 8601 or epoch seconds."},
    ]


_SOURCE_PARAM = {"name": "source", "in": "query", "required": False, "description": "Only posts from this source.",
                 "schema": {"type": "string", "maxLength": MAX_SOURCE_CHARS}}
_LIMIT_PARAM = {"name": "limit", "in": "query", "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIST}}


def desk_paths(error_responses: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The desk's paths; every one answers 404 (with a hint) when the server runs without ``--monitor``."""
    errors = error_responses(401, 404, 422)

    def get(operation: str, summary: str, schema: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
        return {"get": {
            "operationId": operation, "summary": summary, "tags": ["monitor"], "parameters": parameters,
            "responses": {"200": {"description": summary, "content": {"application/json": {"schema": _ref(schema)}}},
                          **errors},
        }}

    return {
        "/v1/posts": {"post": {
            "operationId": "ingestPosts",
            "summary": "Store posts for the desk: scored, windowed, committed before the answer",
            "description": "A 2xx means the posts are stored. A batch with one invalid post is refused whole "
            "(the error names posts[i] and the field). A post whose id is already stored is a duplicate: not "
            "stored or counted again, so a batch may be retried safely. JSON Lines (one post a line) are taken "
            "with 'Content-Type: application/x-ndjson'.",
            "tags": ["monitor"],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("PostsRequest")}}},
            "responses": {
                "200": {"description": "What was stored and the alert state after it",
                        "content": {"application/json": {"schema": _ref("PostsResponse")}}},
                **error_responses(400, 401, 404, 408, 413, 415, 422),
            },
        }},
        "/v1/monitor/state": get("monitorState", "The alert state, the rolling window and the totals", "MonitorState", []),
        "/v1/monitor/alerts": get("monitorAlerts", "Alerts and recoveries, oldest first (the last `limit`)",
                                  "MonitorAlerts", [_LIMIT_PARAM, *_time_params()]),
        "/v1/monitor/posts": get("monitorPosts", "Stored posts, newest first (recent) or most negative first (score)",
                                 "MonitorPosts", [
                                     {"name": "order", "in": "query", "required": False,
                                      "schema": {"enum": ["recent", "score"], "default": "recent"}},
                                     _LIMIT_PARAM, *_time_params(), _SOURCE_PARAM]),
        "/v1/monitor/summary": get("monitorSummary", "Posts, mean score and negative share per time bucket",
                                   "MonitorSummary", [
                                       {"name": "bucket", "in": "query", "required": False,
                                        "schema": {"enum": list(BUCKETS), "default": "1h"}},
                                       *_time_params(), _SOURCE_PARAM]),
        "/v1/monitor/drivers": get("monitorDrivers", "Terms over-represented in the negative posts of a period "
                                   "(default: the current window) compared with the period as long before it, "
                                   "and pushing those posts' scores down",
                                   "MonitorDrivers", [*_time_params(), _SOURCE_PARAM]),
        "/v1/monitor/sources": get("monitorSources", "The sources posts came from", "MonitorSources", []),
    }


def desk_schemas(limits: ServerLimits) -> dict[str, Any]:
    non_blank = {"type": "string", "minLength": 1, "pattern": NON_BLANK_PATTERN}
    window = {
        "type": "object", "required": ["count", "mean", "negative_share", "start", "end"],
        "properties": {"count": {"type": "integer"}, "mean": _NUMBER_OR_NULL, "negative_share": _NUMBER_OR_NULL,
                       "start": _TIME_OR_NULL, "end": _TIME_OR_NULL},
    }
    driver = {"type": "object", "required": ["term", "negative", "baseline", "lift"], "properties": {
        "term": {"type": "string"}, "negative": {"type": "number", "description": "share of the negative posts with it"},
        "baseline": {"type": "number", "description": "share of the posts before with it"},
        "lift": {"type": "number", "description": "share of the negative posts over share before (smoothed)"},
        "weight": {"type": "number", "description": "mean contribution to the negative posts' log-odds (below zero; absent in alerts stored before sentikit had it)"}}}
    return {
        "PostsRequest": {
            "type": "object", "required": ["posts"], "additionalProperties": False,
            "properties": {"posts": {"type": "array", "minItems": 1, "maxItems": limits.max_batch, "items": _ref("Post")}},
        },
        "Post": {
            "type": "object", "required": ["text"], "additionalProperties": False,
            "properties": {
                "id": {"oneOf": [{**non_blank, "maxLength": MAX_ID_CHARS}, {"type": "integer"}, {"type": "null"}],
                       "description": "The client's id (default: generated); an id already stored is a duplicate."},
                "text": {**non_blank, "maxLength": limits.max_text_chars},
                "timestamp": {"oneOf": [_TIME_PARAM_SCHEMA, {"type": "number", "minimum": 0, "maximum": MAX_EPOCH_NUMBER},
                                        {"type": "null"}],
                              "description": "Event time, ISO 8601 or epoch seconds (default: arrival); at most "
                              "a day ahead of the server's clock."},
                "source": {"oneOf": [{**non_blank, "maxLength": MAX_SOURCE_CHARS}, {"type": "null"}]},
                "url": {"oneOf": [{"type": "string", "maxLength": MAX_URL_CHARS, "pattern": "^[hH][tT][tT][pP][sS]?://"},
                                  {"type": "null"}]},
            },
        },
        "PostsResponse": {
            "type": "object", "required": ["accepted", "duplicates", "ids", "scores", "labels", "state"],
            "properties": {
                "accepted": {"type": "integer"}, "duplicates": {"type": "integer"},
                "ids": {"type": "array", "items": {"type": "string"}},
                "scores": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}},
                "labels": {"type": "array", "items": {"enum": ["positive", "negative"]}},
                "state": {"enum": ["ok", "alert", "warming"]},
            },
        },
        "MonitorWindow": window,
        "MonitorState": {
            "type": "object", "required": ["state", "since", "window", "posts", "alerts"],
            "properties": {
                "state": {"enum": ["ok", "alert", "warming"]}, "since": _TIME_OR_NULL, "window": _ref("MonitorWindow"),
                "posts": {"type": "integer", "description": "posts stored"},
                "alerts": {"type": "integer", "description": "alerts raised (recoveries not counted)"},
                "recoveries": {"type": "integer"},
                "rules": {"type": "object", "description": "alert_below, recover_above, window, window_seconds, "
                          "min_count, threshold"},
                "deliveries": {
                    "type": "object", "description": "alert deliveries to the channels (webhooks, email)",
                    "required": ["pending", "failed", "sent", "last_error"],
                    "properties": {
                        "pending": {"type": "integer", "description": "waiting for a (next) try"},
                        "failed": {"type": "integer", "description": "given up on (refused, or retried too long)"},
                        "sent": {"type": "integer"},
                        "last_error": {"type": ["string", "null"], "description": "the latest failed try's answer"},
                    },
                },
            },
        },
        "StoredPost": {
            "type": "object", "required": ["id", "text", "score", "label", "timestamp", "received", "source", "url"],
            "properties": {
                "id": {"type": "string"}, "text": {"type": "string"}, "score": {"type": "number"},
                "label": {"enum": ["positive", "negative"]}, "timestamp": {"type": "string"},
                "received": {"type": "string"}, "source": {"type": ["string", "null"]}, "url": {"type": ["string", "null"]},
            },
        },
        "MonitorPosts": {"type": "object", "required": ["posts"],
                         "properties": {"posts": {"type": "array", "items": _ref("StoredPost")}}},
        "MonitorAlert": {
            "type": "object", "required": ["kind", "at", "post_id", "window", "negative_posts", "drivers"],
            "properties": {
                "kind": {"enum": ["alert", "recovery"]}, "at": _TIME_OR_NULL, "post_id": {"type": ["string", "null"]},
                "mean": {"type": "number"}, "alert_below": {"type": "number"}, "recover_above": {"type": "number"},
                "window": _ref("MonitorWindow"), "received": _TIME_OR_NULL,
                "negative_posts": {"type": "array", "items": {"type": "object", "properties": {
                    "id": {"type": ["string", "null"]}, "text": {"type": "string"}, "score": {"type": "number"},
                    "timestamp": _TIME_OR_NULL, "url": {"type": ["string", "null"]}}}},
                "drivers": {"type": "array", "items": _ref("MonitorDriver")},
            },
        },
        "MonitorAlerts": {"type": "object", "required": ["alerts"],
                          "properties": {"alerts": {"type": "array", "items": _ref("MonitorAlert")}}},
        "MonitorSummary": {
            "type": "object", "required": ["bucket", "buckets"],
            "properties": {"bucket": {"enum": list(BUCKETS)}, "buckets": {"type": "array", "items": {
                "type": "object", "required": ["start", "count", "mean", "negative_share"],
                "properties": {"start": {"type": "string"}, "count": {"type": "integer"}, "mean": _NUMBER_OR_NULL,
                               "negative_share": _NUMBER_OR_NULL}}}},
        },
        "MonitorDriver": driver,
        "MonitorDrivers": {"type": "object", "required": ["drivers"], "properties": {
            "drivers": {"type": "array", "items": _ref("MonitorDriver")}, "since": _TIME_OR_NULL, "until": _TIME_OR_NULL}},
        "MonitorSources": {"type": "object", "required": ["sources"],
                           "properties": {"sources": {"type": "array", "items": {"type": "string"}}}},
    }
