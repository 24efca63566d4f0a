"""GET /metrics: Prometheus counts of requests, errors and texts, in process."""

from __future__ import annotations

from typing import Any


def test_metrics_count_requests_errors_and_texts(client: Any) -> None:
    client.get("/analyze", params={"text": "good"})
    client.post("/v1/score", json={"texts": ["good", "bad", "fine"]})
    client.get("/analyze")
    client.get("/no/such/route")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = response.text.splitlines()
    assert 'sentikit_requests_total{route="/analyze",method="GET",status="200"} 1' in lines
    assert 'sentikit_requests_total{route="/analyze",method="GET",status="400"} 1' in lines
    assert 'sentikit_requests_total{route="/v1/score",method="POST",status="200"} 1' in lines
    assert 'sentikit_requests_total{route="(unmatched)",method="GET",status="404"} 1' in lines
    assert 'sentikit_errors_total{code="missing_text"} 1' in lines
    assert 'sentikit_errors_total{code="not_found"} 1' in lines
    assert "sentikit_texts_scored_total 4" in lines
    assert 'sentikit_request_duration_seconds_bucket{route="/analyze",le="+Inf"} 2' in lines
    assert 'sentikit_request_duration_seconds_count{route="/analyze"} 2' in lines
    assert any(line.startswith('sentikit_model_info{name="sentiment"') for line in lines)
    for line in lines:  # every sample line is `name{labels} number`
        if not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])

