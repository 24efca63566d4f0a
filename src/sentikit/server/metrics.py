"""Prometheus metrics of the REST API, for one process or summed over all worker processes.

Request counts by route, method and status, latency histograms by route, error codes,
texts scored, and each worker's memory and CPU. With several workers each one writes
its values into its own memory-mapped file in a directory the supervisor owns, and a
scrape (answered by any worker) sums every file: the same design as prometheus_client's
multiprocess mode, without its module-global state and the environment variable it
must be configured through.

File format: records of ``u32 key length | key (UTF-8) | padding to 8 | f64 value``,
appended as new keys appear; a zero length ends the file. The length is written last,
so a reader never sees a record whose key is incomplete.
"""

from __future__ import annotations

import bisect
import math
import mmap
import os
import struct
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__
from ..model import SentimentModel

if TYPE_CHECKING:
    from ..monitor.notify import DeliveryCounts

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Methods a client may send are unbounded; counting them as they come would grow the files without end.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
GAUGE_SECONDS = 1.0  # how often a busy worker refreshes its memory and CPU gauges
_LENGTH = struct.Struct("<I")
_VALUE = struct.Struct("<d")
_LIVE, _RETIRED = "worker-", "retired-"


def _pad(n: int) -> int:
    return (n + 7) & ~7


class _WorkerFile:
    """This process's values in a memory-mapped file other workers can read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offsets: dict[str, int] = {}
        self.used = 0
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self.size = 64 * 1024
        os.ftruncate(self.fd, self.size)
        self.map = mmap.mmap(self.fd, self.size)

    def write(self, key: str, value: float) -> None:
        offset = self.offsets.get(key)
        if offset is None:
            offset = self._append(key)
        _VALUE.pack_into(self.map, offset, value)

    def _append(self, key: str) -> int:
        encoded = key.encode()
        start = self.used
        value_at = start + _pad(_LENGTH.size + len(encoded))
        end = value_at + _VALUE.size
        if end + _LENGTH.size > self.size:
            self.map.close()
            self.size = max(self.size * 2, end * 2)
            os.ftruncate(self.fd, self.size)
            self.map = mmap.mmap(self.fd, self.size)
        self.map[start + _LENGTH.size : start + _LENGTH.size + len(encoded)] = encoded
        _LENGTH.pack_into(self.map, start, len(encoded))  # last: the record is now complete
        self.offsets[key] = value_at
        self.used = end
        return value_at


def read_values(path: Path) -> dict[str, float]:
    """The values one worker file holds."""
    try:
        data = path.read_bytes()
    except OSError:  # retired and removed between listing and reading
        return {}
    values: dict[str, float] = {}
    position = 0
    while position + _LENGTH.size <= len(data):
        (length,) = _LENGTH.unpack_from(data, position)
        if length == 0:
            break
        value_at = position + _pad(_LENGTH.size + length)
        if value_at + _VALUE.size > len(data):
            break
        key = data[position + _LENGTH.size : position + _LENGTH.size + length].decode()
        values[key] = _VALUE.unpack_from(data, value_at)[0]
        position = value_at + _VALUE.size
    return values


def retire_worker(directory: Path, pid: int) -> None:
    """Keep a dead worker's counts (they happened) but drop its gauges (it has no memory any more)."""
    live = directory / f"{_LIVE}{pid}"
    if live.exists():
        live.rename(directory / f"{_RETIRED}{pid}")


def _resident_bytes() -> float:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return float(int(statm.read().split()[1]) * mmap.PAGESIZE)
    except OSError:  # not Linux: the peak instead of the current size (bytes on macOS, KiB elsewhere)
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return float(peak if sys.platform == "darwin" else peak * 1024)


class Metrics:
    """Counters, latency histograms and process gauges of one worker; :meth:`render` shows all workers.

    ``directory``: where the workers of one server keep their files (None: this process only).
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self.values: dict[str, float] = {}
        self.lock = threading.Lock()  # large batches are scored in a thread, which counts too
        self._request_keys: dict[tuple[str, str, int], tuple[str, str, tuple[str, ...]]] = {}
        self.file = _WorkerFile(directory / f"{_LIVE}{os.getpid()}") if directory else None
        self.started = time.time()
        self.gauges_at = 0.0
        self._refresh_gauges()

    def _add(self, key: str, amount: float) -> None:
        with self.lock:
            self._add_locked(key, amount)

    def _add_locked(self, key: str, amount: float) -> None:
        value = self.values.get(key, 0.0) + amount
        self.values[key] = value
        if self.file is not None:
            self.file.write(key, value)

    def _set(self, key: str, value: float) -> None:
        with self.lock:
            self.values[key] = value
            if self.file is not None:
                self.file.write(key, value)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """One answered request."""
        method = method if method in METHODS else "OTHER"
        keys = self._request_keys.get((route, method, status))
        if keys is None:
            keys = self._keys_for(route, method, status)
        # the first bound >= seconds: the bucket "le" counts it in
        bucket = keys[2][bisect.bisect_left(LATENCY_BUCKETS, seconds)]
        with self.lock:
            add = self._add_locked
            add(keys[0], 1)
            add(bucket, 1)
            add(keys[1], seconds)
            add("gauge\trequests_total", 1)  # this worker's share, to see the load spread
        if time.monotonic() - self.gauges_at >= GAUGE_SECONDS:
            self._refresh_gauges()

    def _keys_for(self, route: str, method: str, status: int) -> tuple[str, str, tuple[str, ...]]:
        """The keys one kind of request counts under, made once (routes, methods and statuses are bounded)."""
        keys = (f"requests\t{route}\t{method}\t{status}", f"latency_sum\t{route}",
                tuple(f"latency\t{route}\t{i}" for i in range(len(LATENCY_BUCKETS) + 1)))
        self._request_keys[(route, method, status)] = keys
        return keys

    def error(self, code: str) -> None:
        self._add(f"errors\t{code}", 1)

    def scored(self, texts: int) -> None:
        self._add("texts", texts)

    def _refresh_gauges(self) -> None:
        self.gauges_at = time.monotonic()
        times = os.times()
        self._set("gauge\tresident_memory_bytes", _resident_bytes())
        self._set("gauge\tcpu_seconds_total", times.user + times.system)
        self._set("gauge\tstart_time_seconds", self.started)

    def snapshot(self) -> tuple[dict[str, float], dict[int, dict[str, float]]]:
        """(counters summed over every worker, gauges by live worker pid)."""
        self._refresh_gauges()
        if self.directory is None:
            with self.lock:
                mine = dict(self.values)
            return {k: v for k, v in mine.items() if not k.startswith("gauge\t")}, {os.getpid(): _gauges(mine)}
        totals: dict[str, float] = {}
        gauges: dict[int, dict[str, float]] = {}
        for path in sorted(self.directory.iterdir()):
            live = path.name.startswith(_LIVE)
            if not live and not path.name.startswith(_RETIRED):
                continue
            values = read_values(path)
            for key, value in values.items():
                if not key.startswith("gauge\t"):
                    totals[key] = totals.get(key, 0.0) + value
            if live:
                gauges[int(path.name[len(_LIVE):])] = _gauges(values)
        return totals, gauges

    def render(self, model: SentimentModel) -> str:
        """The Prometheus text exposition (format 0.0.4) of the whole server."""
        totals, gauges = self.snapshot()
        requests: list[tuple[tuple[str, str, int], float]] = []
        latency: dict[str, list[float]] = {}
        latency_sum: dict[str, float] = {}
        errors: dict[str, float] = {}
        for key, value in totals.items():
            kind, *labels = key.split("\t")
            if kind == "requests":
                requests.append(((labels[0], labels[1], int(labels[2])), value))
            elif kind == "latency":
                latency.setdefault(labels[0], [0.0] * (len(LATENCY_BUCKETS) + 1))[int(labels[1])] += value
            elif kind == "latency_sum":
                latency_sum[labels[0]] = value
            elif kind == "errors":
                errors[labels[0]] = value
        lines = [
            "# HELP sentikit_requests_total HTTP requests by route, method and status.",
            "# TYPE sentikit_requests_total counter",
        ]
        for (route, method, status), n in sorted(requests):
            lines.append(f'sentikit_requests_total{{route="{route}",method="{method}",status="{status}"}} {n:.0f}')
        lines += [
            "# HELP sentikit_request_duration_seconds Request latency by route.",
            "# TYPE sentikit_request_duration_seconds histogram",
        ]
        for route, counts in sorted(latency.items()):
            cumulative = 0.0
            for bound, n in zip((*LATENCY_BUCKETS, math.inf), counts):
                cumulative += n
                le = "+Inf" if bound == math.inf else repr(bound)
                lines.append(f'sentikit_request_duration_seconds_bucket{{route="{route}",le="{le}"}} {cumulative:.0f}')
            lines.append(f'sentikit_request_duration_seconds_sum{{route="{route}"}} {latency_sum.get(route, 0.0):.6f}')
            lines.append(f'sentikit_request_duration_seconds_count{{route="{route}"}} {cumulative:.0f}')
        lines += [
            "# HELP sentikit_errors_total Error responses by error code.",
            "# TYPE sentikit_errors_total counter",
            *(f'sentikit_errors_total{{code="{code}"}} {n:.0f}' for code, n in sorted(errors.items())),
            "# HELP sentikit_texts_scored_total Texts scored.",
            "# TYPE sentikit_texts_scored_total counter",
            f"sentikit_texts_scored_total {totals.get('texts', 0.0):.0f}",
            "# HELP sentikit_workers Worker processes serving.",
            "# TYPE sentikit_workers gauge",
            f"sentikit_workers {len(gauges)}",
        ]
        for name, kind, text in (
            ("resident_memory_bytes", "gauge", "Resident memory of each worker process."),
            ("cpu_seconds_total", "counter", "User and system CPU time of each worker process."),
            ("start_time_seconds", "gauge", "Start time of each worker process (Unix time)."),
            ("requests_total", "counter", "Requests each live worker process has answered."),
        ):
            lines += [f"# HELP sentikit_process_{name} {text}", f"# TYPE sentikit_process_{name} {kind}"]
            lines += [f'sentikit_process_{name}{{worker="{pid}"}} {g.get(name, 0.0)!r}' for pid, g in sorted(gauges.items())]
        lines += [
            "# HELP sentikit_model_info The model being served.",
            "# TYPE sentikit_model_info gauge",
            f'sentikit_model_info{{name="{model.name}",version="{model.version}",sentikit="{__version__}"}} 1',
        ]
        return "\n".join(lines) + "\n"


def _gauges(values: dict[str, float]) -> dict[str, float]:
    return {key.split("\t", 1)[1]: value for key, value in values.items() if key.startswith("gauge\t")}


def render_deliveries(counts: DeliveryCounts) -> str:
    """The desk's alert deliveries as Prometheus gauges."""
    lines = ["# HELP sentikit_alert_deliveries Alert deliveries to channels in the store, by state.",
             "# TYPE sentikit_alert_deliveries gauge"]
    lines += [f'sentikit_alert_deliveries{{state="{name}"}} {getattr(counts, name)}' for name in ("pending", "failed", "sent")]
    lines += ["# HELP sentikit_alert_delivery_failing 1 when a delivery failed or waits after an error.",
              "# TYPE sentikit_alert_delivery_failing gauge",
              f"sentikit_alert_delivery_failing {int(bool(counts.failed or (counts.pending and counts.last_error)))}"]
    return "\n".join(lines) + "\n"
