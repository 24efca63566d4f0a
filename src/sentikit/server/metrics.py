"""Prometheus metrics of the REST API: request counts, latency histograms, errors, texts scored."""

from __future__ import annotations

import math

from .. import __version__
from ..model import SentimentModel

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Prometheus counters and a latency histogram, per process, rendered by hand."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = {}
        self.latency: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = {}
        self.errors: dict[str, int] = {}
        self.texts_scored = 0

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        counts = self.latency.get(route)
        if counts is None:
            counts = self.latency[route] = [0] * (len(LATENCY_BUCKETS) + 1)
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                counts[i] += 1
                break
        else:
            counts[-1] += 1
        self.latency_sum[route] = self.latency_sum.get(route, 0.0) + seconds

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1

    def scored(self, texts: int) -> None:
        self.texts_scored += texts

    def render(self, model: SentimentModel) -> str:
        lines = [
            "# HELP sentikit_requests_total HTTP requests by route, method and status.",
            "# TYPE sentikit_requests_total counter",
        ]
        for (route, method, status), n in sorted(self.requests.items()):
            lines.append(f'sentikit_requests_total{{route="{route}",method="{method}",status="{status}"}} {n}')
        lines += [
            "# HELP sentikit_request_duration_seconds Request latency by route.",
            "# TYPE sentikit_request_duration_seconds histogram",
        ]
        for route, counts in sorted(self.latency.items()):
            cumulative = 0
            for bound, n in zip((*LATENCY_BUCKETS, math.inf), counts):
                cumulative += n
                le = "+Inf" if bound == math.inf else repr(bound)
                lines.append(f'sentikit_request_duration_seconds_bucket{{route="{route}",le="{le}"}} {cumulative}')
            lines.append(f'sentikit_request_duration_seconds_sum{{route="{route}"}} {self.latency_sum[route]:.6f}')
            lines.append(f'sentikit_request_duration_seconds_count{{route="{route}"}} {cumulative}')
        lines += [
            "# HELP sentikit_errors_total Error responses by error code.",
            "# TYPE sentikit_errors_total counter",
            *(f'sentikit_errors_total{{code="{code}"}} {n}' for code, n in sorted(self.errors.items())),
            "# HELP sentikit_texts_scored_total Texts scored.",
            "# TYPE sentikit_texts_scored_total counter",
            f"sentikit_texts_scored_total {self.texts_scored}",
            "# HELP sentikit_model_info The model being served.",
            "# TYPE sentikit_model_info gauge",
            f'sentikit_model_info{{name="{model.name}",version="{model.version}",sentikit="{__version__}"}} 1',
        ]
        return "\n".join(lines) + "\n"
