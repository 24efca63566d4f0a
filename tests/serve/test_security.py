"""API key and CORS, in process; and the server module importing without CLI/cloud/sklearn packages."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

KEY = "s3cret-key-0123456789"


@pytest.fixture
def keyed(make_client: Any) -> Any:
    return make_client(api_key=KEY)


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong"}, {"x-api-key": "wrong"}, {"authorization": KEY},
     {"authorization": f"Basic {KEY}"}, {"x-api-key": KEY[:-1]}],
)
def test_api_key_required(keyed: Any, headers: dict[str, str]) -> None:
    for response in (keyed.get("/analyze", params={"text": "good"}, headers=headers),
                     keyed.post("/v1/score", json={"texts": ["good"]}, headers=headers),
                     keyed.get("/v1/model", headers=headers), keyed.get("/metrics", headers=headers),
                     keyed.get("/no/such/route", headers=headers)):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="sentikit"'
        assert response.json()["error"]["code"] == "unauthorized"
        assert KEY not in response.text


@pytest.mark.parametrize("headers", [{"authorization": f"Bearer {KEY}"}, {"Authorization": f"bearer {KEY}"},
                                     {"x-api-key": KEY}, {"Ocp-Apim-Subscription-Key": KEY}])
def test_api_key_accepted(keyed: Any, headers: dict[str, str]) -> None:
    assert keyed.get("/analyze", params={"text": "good"}, headers=headers).status_code == 200
    assert keyed.post("/v1/score", json={"texts": ["good"]}, headers=headers).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/docs", "/openapi.json"])
def test_probes_and_docs_need_no_key(keyed: Any, path: str) -> None:
    assert keyed.get(path).status_code == 200


def test_openapi_declares_the_key_only_when_set(keyed: Any, client: Any) -> None:
    assert keyed.get("/openapi.json").json()["security"] == [{"bearer": []}, {"apiKey": []}, {"azureKey": []}]
    assert "security" not in client.get("/openapi.json").json()


def test_cors_is_off_by_default(client: Any) -> None:
    response = client.get("/analyze", params={"text": "good"}, headers={"origin": "https://app.example"})
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options("/v1/score", headers={"origin": "https://app.example",
                                                      "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_any_origin_with_key_preflight_needs_no_key(make_client: Any) -> None:
    app = make_client(cors_origins=["*"], api_key=KEY)
    preflight = app.options("/v1/score", headers={
        "origin": "null", "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    # The tutorial's web-view client: a simple GET with an Origin header.
    response = app.get("/predict", params={"text": "good"}, headers={"origin": "file://", "x-api-key": KEY})
    assert response.status_code == 200 and response.headers["access-control-allow-origin"] == "*"
    # Errors carry CORS headers too, so a browser can read the message.
    denied = app.get("/predict", params={"text": "good"}, headers={"origin": "https://app.example"})
    assert denied.status_code == 401 and denied.headers["access-control-allow-origin"] == "*"


def test_cors_listed_origins_only(make_client: Any) -> None:
    app = make_client(cors_origins=["https://a.example", "http://localhost:3000"])
    ok = app.get("/analyze", params={"text": "good"}, headers={"origin": "http://localhost:3000"})
    assert ok.headers["access-control-allow-origin"] == "http://localhost:3000"
    other = app.get("/analyze", params={"text": "good"}, headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    refused = app.options("/v1/score", headers={"origin": "https://evil.example", "access-control-request-method": "POST"})
    assert refused.status_code == 400


BLOCKED = ("typer", "rich", "sklearn", "scipy", "joblib", "docker", "azure", "matplotlib", "pandas")


@pytest.mark.slow
def test_server_imports_and_serves_without_cli_cloud_or_sklearn(model_dir: Path) -> None:
    """The container ships none of BLOCKED: the server must import (and, with the engine, score) without them."""
    scores = (model_dir / "scorer.json").exists()
    code = textwrap.dedent(f"""
        import importlib.abc, sys
        BLOCKED = {BLOCKED!r}
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"blocked import: {{name}}")
        sys.meta_path.insert(0, Block())
        import sentikit.server, sentikit.server.openapi, sentikit.remote
        from pathlib import Path
        from sentikit.model import load_model
        app = sentikit.server.create_app(load_model(Path({str(model_dir)!r})))
        if {scores!r}:
            import asyncio, httpx
            async def main():
                async with app.router.lifespan_context(app):
                    transport = httpx.ASGITransport(app=app)
                    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                        r = await c.get("/analyze", params={{"text": "lovely"}})
                        assert r.status_code == 200, r.text
                        float(r.text)
            asyncio.run(main())
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        assert not loaded, loaded
        print("ok")
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ok"
