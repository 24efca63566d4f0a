"""The one readiness poll and smoke test, for every target: wait for ``/readyz``, score one text."""

from __future__ import annotations

import ssl
import time
from typing import Callable, Optional

import httpx

from ..errors import CheckFailedError, DeploymentError

# A sentence every sensible model scores positive: a smoke test that can fail on a broken model.
SMOKE_TEXT = "The staff were friendly and the service was excellent"
# Returns why the deployment can never become ready (it exited), or None while it may still.
AliveCheck = Callable[[], Optional[str]]


def wait_ready(url: str, *, timeout: float, interval: float = 0.25, alive: AliveCheck | None = None,
               verify: ssl.SSLContext | bool = True) -> None:
    """Poll ``url/readyz`` until it answers 200 (over HTTPS trusting ``verify``).

    Raises :class:`CheckFailedError` when it does not within ``timeout`` seconds, and
    :class:`DeploymentError` as soon as ``alive()`` reports that the deployment died.
    """
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(timeout=5.0, verify=verify) as http:
        while True:
            try:
                ready = http.get(f"{url}/readyz")
                if ready.status_code == 200:
                    return
                last = f"HTTP {ready.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            if alive is not None:
                dead = alive()
                if dead:
                    raise DeploymentError(dead)
            if time.monotonic() > deadline:
                raise CheckFailedError(f"smoke test: {url}/readyz did not answer 200 within {timeout:g} s ({last})")
            time.sleep(interval)


def smoke_test(url: str, *, api_key: str = "", timeout: float = 120.0, alive: AliveCheck | None = None,
               verify: ssl.SSLContext | bool = True, monitor: bool = False) -> dict[str, object]:
    """Wait for ``/readyz``, then score :data:`SMOKE_TEXT` with ``POST /v1/score`` (with the API key).
    ``verify``: the CAs an HTTPS URL is trusted by (the Azure targets pass ``azure.tls_trust(ctx)``:
    the context's ``connection_verify``, else ``REQUESTS_CA_BUNDLE`` and its kin). With ``monitor``
    (the desk was deployed), ``GET /v1/monitor/state`` must answer too: ``monitor_state`` in the result.

    Returns ``{"ready": True, "text": ..., "score": ...}``; raises :class:`CheckFailedError`
    when the server is not ready in time, refuses, or answers without a score in [0, 1].
    """
    wait_ready(url, timeout=timeout, alive=alive, verify=verify)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        scored = httpx.post(f"{url}/v1/score", json={"texts": [SMOKE_TEXT]}, headers=headers, timeout=10.0,
                            verify=verify)
    except httpx.HTTPError as exc:
        raise CheckFailedError(f"smoke test: POST {url}/v1/score failed: {type(exc).__name__}") from None
    if scored.status_code != 200:
        raise CheckFailedError(f"smoke test: POST {url}/v1/score answered HTTP {scored.status_code}")
    try:
        score = float(scored.json()["scores"][0])
    except (ValueError, KeyError, IndexError, TypeError):
        raise CheckFailedError(f"smoke test: POST {url}/v1/score returned no score") from None
    if not 0.0 <= score <= 1.0:
        raise CheckFailedError(f"smoke test: POST {url}/v1/score returned {score}, outside 0..1")
    result: dict[str, object] = {"ready": True, "text": SMOKE_TEXT, "score": round(score, 4)}
    if monitor:
        result["monitor_state"] = _desk_state(url, headers, verify)
    return result


def _desk_state(url: str, headers: dict[str, str], verify: ssl.SSLContext | bool) -> str:
    """The desk's state from ``GET /v1/monitor/state``: ok, alert or warming."""
    where = f"GET {url}/v1/monitor/state"
    try:
        answer = httpx.get(f"{url}/v1/monitor/state", headers=headers, timeout=10.0, verify=verify)
    except httpx.HTTPError as exc:
        raise CheckFailedError(f"smoke test: {where} failed: {type(exc).__name__}") from None
    if answer.status_code != 200:
        hint = " (the image's server has no desk: rebuild the image with this sentikit)" if answer.status_code == 404 else ""
        raise CheckFailedError(f"smoke test: {where} answered HTTP {answer.status_code}{hint}")
    try:
        state = answer.json()["state"]
    except (ValueError, KeyError, TypeError):
        state = None
    if state not in ("ok", "alert", "warming"):
        raise CheckFailedError(f"smoke test: {where} returned no desk state")
    return str(state)
