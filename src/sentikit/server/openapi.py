"""The REST API's OpenAPI 3.1 document (hand-written data) and its self-contained docs page.

Kept as data rather than generated from types so the server needs no schema library;
``tests/serve`` checks that every route is documented and every response matches.
The docs page is ``docs.html`` beside this module: everything inline, so it works
offline and loads nothing from the internet.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import Any

from .. import __version__
from ..config import ServerLimits
from .inputs import NON_BLANK_PATTERN, get_text_chars
from .protocols import HEAD_LIMIT
from .azure_language import AzureLanguageOptions
from .azure_openapi import KEY_SCHEME, azure_paths, azure_schemas
from .desk_openapi import desk_paths, desk_schemas

_ERROR = {"$ref": "#/components/schemas/Error"}
_MODEL_REF = {
    "type": "object",
    "required": ["name", "version"],
    "properties": {"name": {"type": "string"}, "version": {"type": "integer"}},
}


def _error_responses(*statuses: int) -> dict[str, Any]:
    reasons = {
        400: "Missing, empty or malformed input",
        401: "Missing or invalid API key",
        404: "The monitor is off: start the server with --monitor (SENTIKIT_MONITOR=1)",
        408: "The request body did not arrive within the server's body timeout",
        413: "Text, batch or body over the server's limit",
        414: "Request line and headers over 64 KiB: send long texts with POST /v1/score",
        415: "Body is not JSON (Content-Type must be application/json)",
        422: "Well-formed JSON with wrong types or unknown fields",
        501: "The model's scorer cannot explain scores",
        503: "The model is still loading",
    }
    return {
        str(s): {"description": reasons[s], "content": {"application/json": {"schema": _ERROR}}} for s in statuses
    }


def openapi_document(
    *, limits: ServerLimits | None = None, api_key: bool = True, azure: AzureLanguageOptions | None = None
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for a server with these limits (defaults when None)."""
    limits = limits or ServerLimits()
    text_param = {
        "name": "text",
        "in": "query",
        "required": True,
        "description": f"The text to score (URL-encoded), with at least one non-blank character. A URL holds "
        f"up to {get_text_chars(limits):,} characters of any kind (the request line and headers are limited to "
        f"{HEAD_LIMIT:,} bytes; a character takes up to 12 percent-encoded): send longer texts, up to "
        f"{limits.max_text_chars:,} characters, with POST /v1/score.",
        "schema": {"type": "string", "minLength": 1, "maxLength": get_text_chars(limits), "pattern": NON_BLANK_PATTERN},
    }
    plain_score = {
        "200": {
            "description": "The probability of positive sentiment, as plain text (read it with parseFloat).",
            "content": {"text/plain": {"schema": {"type": "string", "example": "0.9731"}}},
        },
        **_error_responses(400, 401, 413, 414),
    }
    secured: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}, {"azureKey": []}] if api_key else []
    public: list[dict[str, Any]] = [{}]
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "sentikit sentiment API",
            "version": __version__,
            "description": "Scores run from 0.0 (negative) to 1.0 (positive). Errors are "
            '`{"error": {"code": "...", "message": "..."}}` with a 4xx status. When the server has an '
            "API key (SENTIKIT_API_KEY), send it as `Authorization: Bearer <key>` or `X-API-Key: <key>`; "
            "/healthz, /readyz, /docs and /openapi.json need none.",
        },
        "paths": {
            "/analyze": {
                "get": {
                    "operationId": "analyze",
                    "summary": "Score one text (plain-text answer, tutorial-compatible)",
                    "parameters": [text_param],
                    "responses": plain_score,
                }
            },
            "/predict": {
                "get": {
                    "operationId": "predict",
                    "summary": "Alias of /analyze (the tutorial's desktop client uses it)",
                    "parameters": [text_param],
                    "responses": plain_score,
                }
            },
            "/v1/score": {
                "post": {
                    "operationId": "score",
                    "summary": "Score a batch of texts",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ScoreRequest"}}},
                    },
                    "responses": {
                        "200": {
                            "description": "One score and label per text, in order.",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ScoreResponse"}}},
                        },
                        **_error_responses(400, 401, 408, 413, 415, 422),
                    },
                }
            },
            "/v1/explain": {
                "post": {
                    "operationId": "explain",
                    "summary": "The n-grams that pushed one text's score up or down",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ExplainRequest"}}},
                    },
                    "responses": {
                        "200": {
                            "description": "The scorer's explanation (contributions sum with the intercept to the logit).",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Explanation"}}},
                        },
                        **_error_responses(400, 401, 408, 413, 415, 422, 501),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "summary": "Liveness: the process answers",
                    "security": public,
                    "responses": {"200": {"description": "Alive", "content": {"application/json": {"schema": {
                        "type": "object", "properties": {"status": {"const": "ok"}}}}}}},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    "summary": "Readiness: the model is loaded and warm",
                    "security": public,
                    "responses": {
                        "200": {"description": "Ready", "content": {"application/json": {"schema": {
                            "type": "object", "properties": {"status": {"const": "ready"}, "model": _MODEL_REF}}}}},
                        **_error_responses(503),
                    },
                }
            },
            "/v1/model": {
                "get": {
                    "operationId": "model",
                    "summary": "The served model's manifest (no host paths), threshold and limits",
                    "responses": {
                        "200": {"description": "Model information", "content": {"application/json": {"schema": {
                            "$ref": "#/components/schemas/ModelInfo"}}}},
                        **_error_responses(401),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics of the whole server (every worker summed)",
                    "responses": {
                        "200": {"description": "Prometheus text exposition format 0.0.4",
                                "content": {"text/plain": {"schema": {"type": "string"}}}},
                        **_error_responses(401),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "security": public,
                    "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {
                        "type": "object"}}}}},
                }
            },
            "/docs": {
                "get": {
                    "operationId": "docs",
                    "summary": "Interactive documentation (self-contained HTML)",
                    "security": public,
                    "responses": {"200": {"description": "HTML page", "content": {"text/html": {"schema": {
                        "type": "string"}}}}},
                }
            },
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                        }
                    },
                },
                "ScoreRequest": {
                    "type": "object",
                    "required": ["texts"],
                    "additionalProperties": False,
                    "properties": {
                        "texts": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": limits.max_batch,
                            "items": {"type": "string", "minLength": 1, "maxLength": limits.max_text_chars,
                                      "pattern": NON_BLANK_PATTERN},
                        },
                        "threshold": {"type": "number", "minimum": 0, "maximum": 1,
                                      "description": "Label cut-off for this request (default: the server's)."},
                    },
                },
                "ScoreResponse": {
                    "type": "object",
                    "required": ["scores", "labels", "threshold", "model"],
                    "properties": {
                        "scores": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}},
                        "labels": {"type": "array", "items": {"enum": ["positive", "negative"]}},
                        "threshold": {"type": "number"},
                        "model": _MODEL_REF,
                    },
                },
                "ExplainRequest": {
                    "type": "object",
                    "required": ["text"],
                    "additionalProperties": False,
                    "properties": {
                        "text": {"type": "string", "minLength": 1, "maxLength": limits.max_text_chars,
                                 "pattern": NON_BLANK_PATTERN},
                        "top": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10},
                    },
                },
                "Explanation": {
                    "type": "object",
                    "required": ["text", "score", "logit", "intercept", "contributions", "positives", "negatives",
                                 "model"],
                    "properties": {
                        "text": {"type": "string"},
                        "score": {"type": "number"},
                        "logit": {"type": "number", "description": "intercept + sum of all contributions"},
                        "intercept": {"type": "number"},
                        "contributions": {"type": "array", "items": {"$ref": "#/components/schemas/Contribution"}},
                        "positives": {"type": "array", "items": {"$ref": "#/components/schemas/Contribution"},
                                      "description": "The top n-grams pushing the score up."},
                        "negatives": {"type": "array", "items": {"$ref": "#/components/schemas/Contribution"},
                                      "description": "The top n-grams pushing the score down."},
                        "model": _MODEL_REF,
                    },
                },
                "Contribution": {
                    "type": "object",
                    "required": ["ngram", "contribution"],
                    "properties": {"ngram": {"type": "string"}, "contribution": {"type": "number"}},
                },
                "ModelInfo": {
                    "type": "object",
                    "required": ["model", "reference", "threshold", "limits", "sentikit"],
                    "properties": {
                        "model": {"type": "object", "description": "The model manifest: name, version, "
                                  "versions, params, data (file names, checksums, rows), metrics."},
                        "reference": {"type": "string", "example": "sentiment:3"},
                        "threshold": {"type": "number"},
                        "limits": {
                            "type": "object",
                            "properties": {
                                "max_text_chars": {"type": "integer"},
                                "max_batch": {"type": "integer"},
                                "max_body_bytes": {"type": "integer"},
                            },
                        },
                        "sentikit": {"type": "string"},
                    },
                },
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }
    document["paths"].update(desk_paths(_error_responses))
    document["components"]["schemas"].update(desk_schemas(limits))
    document["paths"].update(azure_paths(azure or AzureLanguageOptions()))
    document["components"]["schemas"].update(azure_schemas())
    document["components"]["securitySchemes"].update(KEY_SCHEME)
    if secured:
        document["security"] = secured
    return document


@lru_cache(maxsize=1)
def docs_html() -> str:
    """The interactive docs page served at ``/docs``."""
    return files("sentikit.server").joinpath("docs.html").read_text(encoding="utf-8")
