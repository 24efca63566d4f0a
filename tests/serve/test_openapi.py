"""The OpenAPI document and the docs page: what /openapi.json, /docs and `sentikit openapi` give."""

from __future__ import annotations

import json
from typing import Any

from sentikit.config import ServerLimits
from sentikit.server.openapi import openapi_document

ROUTES = {
    ("GET", "/analyze"), ("GET", "/predict"), ("POST", "/v1/score"), ("POST", "/v1/explain"), ("GET", "/healthz"),
    ("GET", "/readyz"), ("GET", "/v1/model"), ("GET", "/metrics"), ("GET", "/openapi.json"), ("GET", "/docs"),
    ("POST", "/language/:analyze-text"), ("POST", "/text/analytics/v3.0/sentiment"), ("POST", "/text/analytics/v3.1/sentiment"),
    # the desk (serve --monitor; 404 with a hint without it)
    ("POST", "/v1/posts"), *(("GET", f"/v1/monitor/{name}") for name in ("state", "alerts", "posts", "summary", "drivers", "sources")),
}


def test_docs_page_is_self_contained(client: Any) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "connect-src 'self'" in response.headers["content-security-policy"]
    assert "http://" not in response.text and "https://" not in response.text and "//cdn" not in response.text
    assert "/v1/score" in response.text



def test_openapi_documents_exactly_the_routes(client: Any) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    documented = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    assert documented == ROUTES
    # The limits of this server are in the schemas clients generate from.
    texts = document["components"]["schemas"]["ScoreRequest"]["properties"]["texts"]
    assert texts["maxItems"] == 5 and texts["items"]["maxLength"] == 200



def test_openapi_command_writes_the_document(cli: Any, tmp_path: Any) -> None:
    target = tmp_path / "openapi.json"
    result = cli("openapi", "--output", str(target))
    assert result.exit_code == 0, result.stderr
    assert json.loads(target.read_text()) == openapi_document(limits=ServerLimits())
    assert cli("openapi").json == openapi_document(limits=ServerLimits())



def test_the_blank_rule_in_the_document_is_the_servers() -> None:
    """The schema's non-blank pattern spells out exactly the characters str.strip() removes."""
    import re

    from sentikit.server.inputs import BLANK_CHARACTERS, NON_BLANK_PATTERN

    assert set(BLANK_CHARACTERS) == {chr(c) for c in range(0x110000) if chr(c).isspace()}
    assert re.search(NON_BLANK_PATTERN, "\x1d \u3000") is None and re.search(NON_BLANK_PATTERN, " a ")
    parameter = openapi_document(limits=ServerLimits())["paths"]["/analyze"]["get"]["parameters"][0]
    assert parameter["schema"]["pattern"] == NON_BLANK_PATTERN
