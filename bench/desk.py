"""Benchmark the desk (`sentikit serve --monitor`): ingest rate, dashboard reads over a large store, memory.

All in one run, on one model and the same real sentences:

* ingest: ``POST /v1/posts`` with batches of --batch posts (new ids each), from --clients
  keep-alive connections for --duration seconds, against one worker with a fresh SQLite store
  (WAL, synchronous=FULL: each batch is on disk before its answer); the baseline is
  ``POST /v1/score`` of the same batches on the same server in the same run, so the ratio is
  what storing and windowing costs on top of scoring. That stream (the bench's real sentences, half of
  them negative) crosses the alert threshold every few hundred posts, and each alert finds its
  drivers inside the ingest; then a calm stream (the sentences the model scores positive: no
  crossing) on the same server, the desk's usual day;
* reads: a store of --posts posts (default 1,000,000, spread over 30 days and 5 sources, written
  through the real ingest path, :meth:`sentikit.monitor.desk.Desk.ingest`, 1,000 a transaction),
  then ``GET /v1/monitor/summary`` (1h buckets over everything, 5m over the last day, 1d per
  source), ``/state``, ``/posts?order=score`` over the last day and ``/drivers``: median and worst
  of --reads requests each;
* memory: the server's RSS after start on an empty store and on the large one, and after the reads;
  with --sustain N, also every N/10 posts of a sustained ingest of N more posts (one connection).

Usage:
    python bench/desk.py [MODEL] [--duration 10] [--clients 4] [--batch 100] [--posts 1000000] [--reads 20]
                         [--sustain 100000]

MODEL is a model directory, NAME or NAME:VERSION in ./models (default: the latest ``sentiment``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serve as load  # noqa: E402  bench/serve.py: sentences, ports, readiness, process memory

DAY = 86_400.0


def start(model: str, store: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    port = load.free_port()
    command = [sys.executable, "-m", "sentikit", "serve", model, "--port", str(port), "--no-access-log", "--monitor",
               "--store", str(store), "--alert-below", "0.4", "--recover-above", "0.5", "--window", "200", *extra]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    load.wait_for(f"http://127.0.0.1:{port}/readyz", process)
    return process, port


def hammer(port: int, path: str, bodies: list[bytes], seconds: float, clients: int) -> tuple[float, int]:
    """Send ``bodies`` round-robin from ``clients`` keep-alive connections for ``seconds``; (requests/s, failures)."""
    done, failed = [0] * clients, [0] * clients
    stop = time.monotonic() + seconds

    def run(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        position = index
        while time.monotonic() < stop:
            connection.request("POST", path, body=bodies[position % len(bodies)],
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                done[index] += 1
            else:
                failed[index] += 1
            position += clients

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - started), sum(failed)


def ingest(model: str, texts: list[str], args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    process, port = start(model, workdir / "ingest.db")
    try:
        rss_empty = load.memory_mib(process.pid)[0]
        count = int(args.duration * 200) + 100  # more batches than the run can send: every id is new
        batches = [[texts[(b * args.batch + i) % len(texts)] for i in range(args.batch)] for b in range(count)]
        scores = [json.dumps({"texts": batch}).encode() for batch in batches[:50]]
        posts = [json.dumps({"posts": [{"id": f"b{b}-{i}", "text": t, "source": f"s{i % 5}"} for i, t in enumerate(batch)]}).encode()
                 for b, batch in enumerate(batches)]
        hammer(port, "/v1/score", scores, 1.0, args.clients)  # warm up
        cpu_before = load.cpu_seconds(process.pid)
        score_rate, score_failed = hammer(port, "/v1/score", scores, args.duration, args.clients)
        score_cpu = (load.cpu_seconds(process.pid) - cpu_before) / args.duration
        cpu_before = load.cpu_seconds(process.pid)
        post_rate, post_failed = hammer(port, "/v1/posts", posts, args.duration, args.clients)
        cpu = (load.cpu_seconds(process.pid) - cpu_before) / args.duration
        with urllib_open(port, "/v1/monitor/state") as state:
            stored, alerts = state["posts"], state["alerts"] + state["recoveries"]
        # The mixed stream crosses the threshold every few hundred posts, and each alert finds its drivers
        # (the model's explanation of up to 350 posts) inside the ingest; a calm stream, the desk's usual
        # day, only stores and windows: the posts the model scores positive, so the mean never falls.
        calm_texts = [t for t, s in zip(texts, score_all(port, texts)) if s >= 0.5]
        calm = [json.dumps({"posts": [{"id": f"c{b}-{i}", "text": calm_texts[(b * args.batch + i) % len(calm_texts)],
                                       "source": f"s{i % 5}"} for i in range(args.batch)]}).encode() for b in range(count)]
        hammer(port, "/v1/posts", calm[:20], 1.0, args.clients)  # the window fills with calm posts: one recovery at most
        cpu_before = load.cpu_seconds(process.pid)
        calm_rate, calm_failed = hammer(port, "/v1/posts", calm[20:], args.duration, args.clients)
        calm_cpu = (load.cpu_seconds(process.pid) - cpu_before) / args.duration
        with urllib_open(port, "/v1/monitor/state") as state:
            calm_events = state["alerts"] + state["recoveries"] - alerts
        rss_sustained = sustain(port, process, texts, args) if args.sustain else []
        return {"rss_sustained_mib": rss_sustained, "score_texts_per_s": score_rate * args.batch, "ingest_posts_per_s": post_rate * args.batch,
                "ratio": post_rate / score_rate, "failed": score_failed + post_failed, "stored": stored,
                "alerts_and_recoveries": alerts,
                "server_cores_score": score_cpu, "server_cores_ingest": cpu,
                # what one fully available core would do (the machine may give the server less than one)
                "score_texts_per_cpu_s": score_rate * args.batch / score_cpu if score_cpu else None,
                "ingest_posts_per_cpu_s": post_rate * args.batch / cpu if cpu else None,
                "calm_ingest_posts_per_s": calm_rate * args.batch, "calm_ratio": calm_rate / score_rate,
                "calm_failed": calm_failed, "calm_alerts_and_recoveries": calm_events, "server_cores_calm": calm_cpu,
                "calm_ingest_posts_per_cpu_s": calm_rate * args.batch / calm_cpu if calm_cpu else None,
                "rss_empty_mib": rss_empty, "rss_after_ingest_mib": load.memory_mib(process.pid)[0]}
    finally:
        process.terminate()
        process.wait(30)


def score_all(port: int, texts: list[str]) -> list[float]:
    """The server's scores of ``texts``, 1,000 a request."""
    scores: list[float] = []
    for start in range(0, len(texts), 1000):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("POST", "/v1/score", json.dumps({"texts": texts[start:start + 1000]}),
                           {"Content-Type": "application/json"})
        scores += json.loads(connection.getresponse().read())["scores"]
        connection.close()
    return scores


def sustain(port: int, process: subprocess.Popen[bytes], texts: list[str], args: argparse.Namespace) -> list[float]:
    """RSS (MiB) every tenth of ``args.sustain`` more posts sent through one connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    samples, sent, step = [], 0, max(args.sustain // 10, args.batch)
    while sent < args.sustain:
        body = json.dumps({"posts": [{"id": f"sustain-{sent + i}", "text": texts[(sent + i) % len(texts)],
                                      "source": f"s{i % 5}"} for i in range(args.batch)]}).encode()
        connection.request("POST", "/v1/posts", body=body, headers={"Content-Type": "application/json"})
        connection.getresponse().read()
        sent += args.batch
        if sent % step == 0:
            samples.append(round(load.memory_mib(process.pid)[0], 1))
    return samples


class urllib_open:
    """``with urllib_open(port, path) as document``: GET a JSON document."""

    def __init__(self, port: int, path: str) -> None:
        self.port, self.path = port, path

    def __enter__(self) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        connection.request("GET", self.path)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"GET {self.path}: {response.status} {body[:200]!r}")
        return json.loads(body)

    def __exit__(self, *exc: Any) -> None:
        return None


def fill(model: str, texts: list[str], store: Path, posts: int) -> float:
    """Write ``posts`` posts over the last 30 days through Desk.ingest; return the seconds it took."""
    from sentikit.model import load_model, resolve_model
    from sentikit.monitor import MonitorConfig
    from sentikit.monitor.desk import Desk, DeskOptions
    from sentikit.monitor.store import NewPost

    loaded = load_model(Path(model)) if Path(model).is_dir() else resolve_model(model, Path("models"), "sentiment")
    unique = sorted(set(texts))
    score_of = dict(zip(unique, loaded.score(unique)))
    desk = Desk.open(DeskOptions(str(store), MonitorConfig(alert_below=0.4, recover_above=0.5, window=200)))
    now = time.time()
    started = time.monotonic()
    step = 30 * DAY / posts
    for first in range(0, posts, 1000):
        chunk = range(first, min(first + 1000, posts))
        batch = [NewPost(f"f{i}", texts[i % len(texts)], now - 30 * DAY + i * step, f"s{i % 5}", None) for i in chunk]
        desk.ingest(batch, [score_of[p.text] for p in batch])
    desk.close()
    return time.monotonic() - started


def reads(model: str, store: Path, args: argparse.Namespace) -> dict[str, Any]:
    process, port = start(model, store)
    try:
        rss_start = load.memory_mib(process.pid)[0]
        day_ago = int(time.time() - DAY)
        paths = {
            "summary 1h, all": "/v1/monitor/summary?bucket=1h",
            "summary 5m, last day": f"/v1/monitor/summary?bucket=5m&since={day_ago}",
            "summary 1d, one source": "/v1/monitor/summary?bucket=1d&source=s3",
            "state": "/v1/monitor/state",
            "posts by score, last day": f"/v1/monitor/posts?order=score&limit=50&since={day_ago}",
            "drivers (window)": "/v1/monitor/drivers",
        }
        timings: dict[str, dict[str, float]] = {}
        for name, path in paths.items():
            seconds = []
            for _ in range(args.reads):
                began = time.perf_counter()
                with urllib_open(port, path):
                    pass
                seconds.append(time.perf_counter() - began)
            timings[name] = {"median_ms": statistics.median(seconds) * 1000, "max_ms": max(seconds) * 1000}
        with urllib_open(port, "/v1/monitor/state") as state:
            stored = state["posts"]
        return {"stored": stored, "timings": timings, "rss_start_mib": rss_start,
                "rss_after_reads_mib": load.memory_mib(process.pid)[0]}
    finally:
        process.terminate()
        process.wait(30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default=None)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per ingest run")
    parser.add_argument("--clients", type=int, default=4, help="concurrent connections")
    parser.add_argument("--batch", type=int, default=100, help="posts per request")
    parser.add_argument("--posts", type=int, default=1_000_000, help="posts in the store the reads run on")
    parser.add_argument("--reads", type=int, default=20, help="requests per read route")
    parser.add_argument("--sustain", type=int, default=0, help="posts of a sustained ingest to watch RSS over")
    parser.add_argument("--keep", help="keep the large store at this path (and reuse it when it exists)")
    args = parser.parse_args(argv)
    from sentikit.model import resolve_model_dir

    model = str(resolve_model_dir(args.model, Path("models"), "sentiment"))
    texts = load.sentences(3000)
    print(f"model {model}; {len(texts)} sentences; {os.cpu_count()} CPUs", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="sentikit-desk-") as scratch:
        workdir = Path(scratch)
        result: dict[str, Any] = {"ingest": ingest(model, texts, args, workdir)}
        print(json.dumps(result["ingest"], indent=2), file=sys.stderr)
        store = Path(args.keep) if args.keep else workdir / "large.db"
        if not store.exists():
            result["fill_seconds"] = fill(model, texts, store, args.posts)
            print(f"filled {args.posts:,} posts in {result['fill_seconds']:.1f} s", file=sys.stderr)
        result["reads"] = reads(model, store, args)
        result["store_mib"] = store.stat().st_size / 2**20
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
