"""Property test of the request surface: whatever a client sends, the answer is never a 5xx."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentikit.config import ServerLimits

PATHS = ["/analyze", "/predict", "/v1/score", "/v1/explain", "/healthz", "/readyz", "/v1/model", "/metrics",
         "/openapi.json", "/docs", "/", "/v1", "/v1/score/", "/analyze/x", "//analyze", "/%00"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
score_bodies = st.fixed_dictionaries(
    {}, optional={"texts": st.lists(st.text(max_size=60), max_size=8) | json_values, "threshold": json_values,
                  "text": st.text(max_size=60) | json_values, "top": json_values}
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    score_bodies.map(lambda v: json.dumps(v).encode()),
    score_bodies.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
)
content_types = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", "",
                                 "application/problem+json", "multipart/form-data; boundary=x", "application/JSON"])


def test_no_request_gets_a_5xx(make_client: Any) -> None:
    client = make_client(limits=ServerLimits(max_text_chars=50, max_batch=4, max_body_bytes=256), cors_origins=["*"])

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
        path=st.sampled_from(PATHS),
        query=st.dictionaries(st.sampled_from(["text", "TEXT", "other"]), st.text(max_size=80), max_size=2),
        body=bodies,
        content_type=content_types,
    )
    def check(method: str, path: str, query: dict[str, str], body: bytes, content_type: str) -> None:
        headers = {"content-type": content_type} if content_type else {}
        response = client.request(method, path, params=query, content=None if method == "GET" else body,
                                  headers=headers)
        assert response.status_code < 500, (response.status_code, response.text)
        if response.status_code >= 400 and method != "HEAD":
            assert set(response.json()) == {"error"}

    check()
