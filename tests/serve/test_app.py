"""Every endpoint and every client error of the REST API, in process (real model, real app)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sentikit.model import SentimentModel

def error_of(response: Any) -> tuple[int, str]:
    """(status, code) of an error response, checking the JSON error shape."""
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    return response.status_code, body["error"]["code"]


# --- GET /analyze and /predict ----------------------------------------------------------


@pytest.mark.parametrize("route", ["/analyze", "/predict"])
def test_analyze_returns_the_score_as_plain_text(client: Any, model: SentimentModel, route: str) -> None:
    text = "The host was lovely and the flat spotless 😀"
    response = client.get(route, params={"text": text})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert float(response.text) == model.score([text])[0]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", (400, "missing_text")),
        ("?other=1", (400, "missing_text")),
        ("?text=", (400, "empty_text")),
        ("?text=%20%20%0A", (400, "empty_text")),
        ("?text=" + "a" * 201, (413, "text_too_long")),
    ],
)
def test_analyze_rejects_bad_text(client: Any, query: str, expected: tuple[int, str]) -> None:
    assert error_of(client.get("/analyze" + query)) == expected


def test_analyze_accepts_text_at_the_limit(client: Any) -> None:
    assert client.get("/analyze", params={"text": "a" * 200}).status_code == 200


# --- POST /v1/score -----------------------------------------------------------------------


def test_score_batch(client: Any, model: SentimentModel) -> None:
    texts = ["Great service, would come back", "The room was dirty and the staff rude"]
    response = client.post("/v1/score", json={"texts": texts})
    assert response.status_code == 200
    scores = model.score(texts)
    assert response.json() == {
        "scores": scores,
        "labels": ["positive" if s >= 0.5 else "negative" for s in scores],
        "threshold": 0.5,
        "model": {"name": model.name, "version": model.version},
    }
    assert scores[0] > 0.5 > scores[1]


def test_score_threshold_from_server_and_request(make_client: Any, model: SentimentModel) -> None:
    texts = ["Great service, would come back", "The room was dirty and the staff rude"]
    scores = model.score(texts)
    everything_negative = make_client(threshold=1.0).post("/v1/score", json={"texts": texts}).json()
    assert everything_negative["labels"] == ["negative", "negative"] and everything_negative["threshold"] == 1.0
    per_request = make_client(threshold=1.0).post("/v1/score", json={"texts": texts, "threshold": 0}).json()
    assert per_request["labels"] == ["positive", "positive"] and per_request["scores"] == scores


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, (400, "missing_field")),
        ({"texts": []}, (400, "empty_batch")),
        ({"texts": "just one"}, (422, "invalid_type")),
        ({"texts": {"a": 1}}, (422, "invalid_type")),
        ({"texts": None}, (422, "invalid_type")),
        ({"texts": ["ok", 3]}, (422, "invalid_type")),
        ({"texts": ["ok", None]}, (422, "invalid_type")),
        ({"texts": ["ok", ["nested"]]}, (422, "invalid_type")),
        ({"texts": ["ok", ""]}, (400, "empty_text")),
        ({"texts": ["ok", " \t\n"]}, (400, "empty_text")),
        ({"texts": ["ok"] * 6}, (413, "batch_too_large")),
        ({"texts": ["a" * 201]}, (413, "text_too_long")),
        ({"texts": ["ok"], "threshold": 1.5}, (422, "invalid_threshold")),
        ({"texts": ["ok"], "threshold": -0.1}, (422, "invalid_threshold")),
        ({"texts": ["ok"], "threshold": "0.5"}, (422, "invalid_threshold")),
        ({"texts": ["ok"], "threshold": True}, (422, "invalid_threshold")),
        ({"text": "singular"}, (422, "unknown_field")),
        ({"texts": ["ok"], "extra": 1}, (422, "unknown_field")),
    ],
)
def test_score_rejects_bad_bodies(client: Any, body: Any, expected: tuple[int, str]) -> None:
    assert error_of(client.post("/v1/score", json=body)) == expected


def test_score_error_messages_name_the_problem(client: Any) -> None:
    assert client.post("/v1/score", json={"texts": ["ok", 3]}).json()["error"]["message"] == (
        "texts[1] must be a string, got a number"
    )
    assert client.post("/v1/score", json={"text": "x"}).json()["error"]["message"] == (
        "unknown field 'text' (allowed: texts, threshold); did you mean 'texts'?"
    )
    assert client.post("/v1/score", json={"texts": ["a" * 201]}).json()["error"]["message"] == (
        "texts[0] has 201 characters; the limit is 200"
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", (400, "invalid_json")),
        (b"{", (400, "invalid_json")),
        (b'{"texts": ["a",]}', (400, "invalid_json")),
        (b"\xff\xfe\x00garbage", (400, "invalid_json")),
        (b'{"texts": ["ok"], "threshold": NaN}', (422, "invalid_threshold")),
        (b"[" * 1500 + b"]" * 1500, (400, "invalid_json")),  # nesting deeper than the parser's recursion limit
        (b'["a list"]', (422, "invalid_type")),
        (b'"a string"', (422, "invalid_type")),
        (b"null", (422, "invalid_type")),
    ],
)
def test_score_rejects_malformed_json(client: Any, content: bytes, expected: tuple[int, str]) -> None:
    response = client.post("/v1/score", content=content, headers={"content-type": "application/json"})
    assert error_of(response) == expected


def test_score_rejects_integers_too_long_to_convert(make_client: Any) -> None:
    body = b'{"texts": ["ok"], "threshold": ' + b"1" * 5000 + b"}"
    response = make_client().post("/v1/score", content=body, headers={"content-type": "application/json"})
    assert error_of(response) == (400, "invalid_json")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_score_requires_json_content_type(client: Any, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/v1/score", content=b'{"texts": ["ok"]}', headers=headers)
    assert error_of(response) == (415, "unsupported_media_type")


def test_score_accepts_json_with_charset(client: Any) -> None:
    response = client.post("/v1/score", content=b'{"texts": ["ok"]}',
                           headers={"content-type": "application/json; charset=utf-8"})
    assert response.status_code == 200


def test_body_over_the_limit_is_refused_by_content_length(client: Any) -> None:
    body = json.dumps({"texts": ["x" * 100] * 50}).encode()
    assert len(body) > 4096
    assert error_of(client.post("/v1/score", content=body, headers={"content-type": "application/json"})) == (
        413, "body_too_large")


def test_body_over_the_limit_is_refused_while_streaming(client: Any) -> None:
    """A chunked body (no Content-Length) is cut off once it passes the limit, not read to the end."""
    sent: list[int] = []

    def chunks() -> Any:
        for _ in range(1000):  # 1 MB offered, 4 KB allowed
            sent.append(1)
            yield b" " * 1024

    response = client.post("/v1/score", content=chunks(), headers={"content-type": "application/json"})
    assert error_of(response) == (413, "body_too_large")
    assert response.json()["error"]["message"] == "request body exceeds 4,096 bytes"


# --- POST /v1/explain ---------------------------------------------------------------------


def test_explain(client: Any, model: SentimentModel) -> None:
    response = client.post("/v1/explain", json={"text": "not bad at all, really good value", "top": 3})
    if not hasattr(model.scorer, "explain"):
        assert error_of(response) == (501, "not_implemented")
        return
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == {"name": model.name, "version": model.version}
    assert body["score"] == pytest.approx(model.score([body["text"]])[0], abs=1e-12)
    assert body["logit"] == pytest.approx(body["intercept"] + sum(c["contribution"] for c in body["contributions"]))
    assert len(body["positives"]) <= 3 and len(body["negatives"]) <= 3
    assert {"ngram", "contribution"} == set(body["contributions"][0])


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, (400, "missing_field")),
        ({"text": ""}, (400, "empty_text")),
        ({"text": 5}, (422, "invalid_type")),
        ({"text": "a" * 201}, (413, "text_too_long")),
        ({"text": "ok", "top": 0}, (422, "invalid_top")),
        ({"text": "ok", "top": "3"}, (422, "invalid_top")),
        ({"texts": ["ok"]}, (422, "unknown_field")),
    ],
)
def test_explain_rejects_bad_bodies(client: Any, body: Any, expected: tuple[int, str]) -> None:
    assert error_of(client.post("/v1/explain", json=body)) == expected


# --- health, model, metrics, docs ------------------------------------------------------------


def test_health_and_readiness(client: Any, model: SentimentModel) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "model": {"name": model.name, "version": model.version}}


def test_model_info_has_no_host_paths(client: Any, model: SentimentModel) -> None:
    body = client.get("/v1/model").json()
    assert body["reference"] == model.reference
    assert body["model"]["name"] == model.name and body["model"]["version"] == model.version
    assert body["limits"] == {"max_text_chars": 200, "max_batch": 5, "max_body_bytes": 4096}
    assert body["threshold"] == 0.5
    strings: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str):
            strings.append(value)

    walk(body)
    assert not [s for s in strings if s.startswith("/") or str(model.path) in s]


# --- routing errors -------------------------------------------------------------------------


def test_unknown_route_is_json_404(client: Any) -> None:
    assert error_of(client.get("/nope")) == (404, "not_found")
    assert error_of(client.post("/v2/score", json={})) == (404, "not_found")


@pytest.mark.parametrize(("method", "path"), [("POST", "/analyze"), ("DELETE", "/v1/model"), ("GET", "/v1/score"),
                                              ("PUT", "/healthz")])
def test_wrong_method_is_json_405_with_allow(client: Any, method: str, path: str) -> None:
    response = client.request(method, path)
    assert error_of(response) == (405, "method_not_allowed")
    assert "allow" in response.headers


def test_head_is_answered_on_get_routes(client: Any) -> None:
    assert client.head("/healthz").status_code == 200


def test_score_threshold_null_is_refused_as_the_schema_says_number(client: Any) -> None:
    """Issue 18.12: ``threshold: null`` was taken as 'the server's'; the schema allows numbers only."""
    assert error_of(client.post("/v1/score", json={"texts": ["ok"], "threshold": None})) == (422, "invalid_threshold")
    nan = client.post("/v1/score", content=b'{"texts": ["ok"], "threshold": NaN}', headers={"content-type": "application/json"})
    assert error_of(nan) == (422, "invalid_threshold")


def test_explain_top_as_an_integral_float_is_an_integer(client: Any) -> None:
    """Issue 18.12: JSON Schema counts 14.0 as an integer, so ``top: 14.0`` is valid."""
    response = client.post("/v1/explain", json={"text": "good food, bad service", "top": 14.0})
    assert response.status_code == 200, response.text
    assert error_of(client.post("/v1/explain", json={"text": "good", "top": 14.5})) == (422, "invalid_top")


def test_the_server_answers_while_it_finishes_loading_and_then_from_the_full_vocabulary(model_dir: "Path", sample_texts: list[str]) -> None:
    """A started server scores at once (progressive load) and builds its vocabulary dicts in the
    background; scores never change along the way."""
    import time
    import warnings
    from pathlib import Path

    from sentikit.engine import SortedTerms
    from sentikit.model import load_model
    from sentikit.server import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # as conftest: Starlette's TestClient prefers httpx2
        from starlette.testclient import TestClient

    expected = load_model(model_dir).score(sample_texts)
    model = load_model(model_dir)
    with TestClient(create_app(model)) as client:
        answers = [client.post("/v1/score", json={"texts": sample_texts}).json()]
        deadline = time.monotonic() + 10
        while any(isinstance(getattr(v, "vocabulary", None), SortedTerms) for v in model.scorer.vectorizers):
            assert time.monotonic() < deadline, "the vocabulary was never finished"
            answers.append(client.post("/v1/score", json={"texts": sample_texts}).json())
            time.sleep(0.005)
        assert all(isinstance(getattr(v, "vocabulary", {}), dict) for v in model.scorer.vectorizers)
        answers.append(client.post("/v1/score", json={"texts": sample_texts}).json())
    for answer in answers:
        assert answer["scores"] == expected


def test_the_text_parameter_reads_as_starlettes_query_params_read_it() -> None:
    from urllib.parse import quote, quote_plus

    from starlette.datastructures import QueryParams

    from sentikit.server.app import query_text

    texts = ["plain", "with space", "a+b=c", "caf\u00e9 \u2615 \U0001F602", "%zz broken %", "", "100% sure"]
    queries = [b"text=" + quote(t).encode() for t in texts] + [b"text=" + quote_plus(t).encode() for t in texts]
    queries += [b"text=a&text=b", b"x=1&text=later", b"text", b"text=%E2%82", b"text=a;b", b"texts=no", b"", b"text=caf\xc3\xa9"]
    for query in queries:
        assert query_text(query) == QueryParams(query).get("text"), query
