"""A client for a running sentikit server: the same ``score(texts)`` as a local model.

Example::

    from sentikit.remote import RemoteScorer

    with RemoteScorer("http://127.0.0.1:8000") as remote:
        remote.score(["lovely flat", "awful host"])   # [0.97, 0.04]
"""

from __future__ import annotations

import email.utils
import time
from typing import Any, Sequence

import httpx

from .config import API_KEY_ENV_VAR
from .errors import ServerError

DEFAULT_BATCH = 1_000
# Waits before each retry of a failed request: 7.5 s in all, enough for a server (or the container
# behind a load balancer) to restart. Scoring is idempotent, so retrying a POST is safe.
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)
# Answers that mean "not now" rather than "no": a proxy without a healthy backend, or rate limiting.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
_TRANSIENT = (httpx.ConnectError, httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class RemoteScorer:
    """Score texts with a sentikit server's ``POST /v1/score``, in batches the server accepts."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        timeout: float = 30.0,
        batch_size: int | None = None,
        retry_delays: Sequence[float] = RETRY_DELAYS,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            url = "http://" + url
        self.url = url.rstrip("/")
        self.batch_size = batch_size
        headers = {"User-Agent": "sentikit-client", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._has_key = bool(api_key)
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        self._info: dict[str, Any] | None = None
        self.retry_delays = tuple(retry_delays)
        # Before the server has answered once, a failure more likely means a wrong URL or no server
        # than a restart: fail at once rather than after every retry.
        self._answered = False

    def __repr__(self) -> str:  # never show the key
        return f"RemoteScorer({self.url!r})"

    def __enter__(self) -> RemoteScorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def model_info(self) -> dict[str, Any]:
        """``GET /v1/model``: the served model's manifest, threshold and limits."""
        if self._info is None:
            self._info = self._request("GET", "/v1/model")
        return self._info

    def score(self, texts: Sequence[str]) -> list[float]:
        """Probability of positive sentiment for each text, in order."""
        texts = list(texts)
        if not texts:
            return []
        size = self.batch_size or int(self.model_info().get("limits", {}).get("max_batch", DEFAULT_BATCH))
        scores: list[float] = []
        for start in range(0, len(texts), size):
            answer = self._request("POST", "/v1/score", json={"texts": texts[start : start + size]})
            scores.extend(float(s) for s in answer["scores"])
        return scores

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call; transient failures (connection lost, 429/502/503/504) are retried after a pause."""
        for attempts, delay in enumerate((*self.retry_delays, None), start=1):
            try:
                response = self._http.request(method, path, **kwargs)
            except _TRANSIENT as exc:
                if delay is None or not self._answered:
                    raise self._transport_error(exc, path, attempts) from None
            except httpx.HTTPError as exc:
                raise ServerError(f"request to {self.url}{path} failed: {exc}") from None
            else:
                self._answered = True
                if response.status_code not in RETRY_STATUSES or delay is None:
                    return self._answer(response, path, attempts)
                delay = max(delay, _retry_after(response))
            time.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _transport_error(self, exc: Exception, path: str, attempts: int) -> ServerError:
        tried = f" ({attempts} attempts)" if attempts > 1 else ""
        if isinstance(exc, httpx.ConnectError):
            return ServerError(f"cannot connect to a sentikit server at {self.url}{tried} (is `sentikit serve` running?)")
        if isinstance(exc, httpx.TimeoutException):
            return ServerError(f"the sentikit server at {self.url} did not answer in time{tried}")
        return ServerError(f"request to {self.url}{path} failed{tried}: {exc}")

    def _answer(self, response: httpx.Response, path: str, attempts: int) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 401:
            if self._has_key:
                raise ServerError(f"the sentikit server at {self.url} rejected the API key (check {API_KEY_ENV_VAR})")
            raise ServerError(f"the sentikit server at {self.url} requires an API key: set {API_KEY_ENV_VAR}")
        if response.is_error:
            message = body["error"]["message"] if _is_error(body) else response.text[:200].strip()
            tried = f" (after {attempts} attempts)" if attempts > 1 else ""
            raise ServerError(f"the sentikit server at {self.url} answered {response.status_code}{tried}: {message}")
        if body is None:
            raise ServerError(f"{self.url}{path} did not answer with JSON; is it a sentikit server?")
        return body


def _is_error(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("error"), dict) and "message" in body["error"]


def _retry_after(response: httpx.Response, longest: float = 30.0) -> float:
    """Seconds the server asked to wait (``Retry-After``: seconds or an HTTP date), at most ``longest``."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return 0.0
    return min(max(seconds, 0.0), longest)
