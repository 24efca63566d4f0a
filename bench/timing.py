"""Timing checks that used to be asserts in tests (a shared, noisy 2-core machine makes those flaky).

Each check runs its work and a baseline in the same process and prints the seconds, the ratio to the
baseline and the target it once asserted:

* ``load``: ``load_dataset`` on SST-2 train (67,349 rows) against reading the same file with
  ``csv.reader``. Target: under 2 s.
* ``webhook``: ``run_monitor`` over 2,020 lines with a webhook receiver that holds every delivery
  for 3 s, against the same run with no webhook. Target: under 2 s (a slow webhook never holds
  monitoring up).
* ``follow``: how long a line appended to an idle ``--follow``ed file waits before it is read,
  after the follower has backed off to ``max_poll_interval`` (0.1 s), against that interval.
  Target: under 1 s.

Usage:
    python bench/timing.py [load|webhook|follow ...] [--datasets DIR]   # default: all three
DIR holds sst2/train.tsv (default: ../shared/datasets next to this clone). Exits 1 when a check
misses its target.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"


def report(name: str, seconds: float, baseline: float, baseline_name: str, target: float) -> bool:
    ok = seconds < target
    print(f"{name:8} {seconds:7.3f} s   {seconds / baseline:6.2f}x {baseline_name} ({baseline:.3f} s)   "
          f"target < {target:g} s: {'ok' if ok else 'MISSED'}")
    return ok


def best_of(repeat: int, work: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def check_load(datasets: Path) -> bool:
    from sentikit.data import load_dataset

    sst2_train = datasets / "sst2" / "train.tsv"
    if not sst2_train.is_file():
        print(f"load     skipped: {sst2_train} not found")
        return True

    def read_csv() -> None:
        with open(sst2_train, encoding="utf-8", newline="") as handle:
            for _row in csv.reader(handle, delimiter="\t"):
                pass

    baseline = best_of(3, read_csv)
    seconds = best_of(3, lambda: load_dataset([sst2_train]))
    return report("load", seconds, baseline, "csv.reader", 2.0)


class _Scorer:
    """Scores by the line's first word: 'good' lines 0.9, others 0.1 (no model needed)."""

    def score(self, texts: list[str]) -> list[float]:
        return [0.9 if text.startswith("good") else 0.1 for text in texts]


def check_webhook(datasets: Path) -> bool:
    from sentikit.monitor import MonitorConfig, WebhookNotifier, run_monitor

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            threading.Event().wait(3.0)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    lines = [f"good {i}".encode() for i in range(10)] + [f"bad {i}".encode() for i in range(10)]
    lines += [f"good {i}".encode() for i in range(2000)]
    config = MonitorConfig(alert_below=0.45, window=10, samples=3)

    def run(notifier: Any) -> None:
        run_monitor(iter([lines[:20], lines[20:]]), _Scorer(), config, notifier=notifier,
                    on_event=lambda event: None, status_interval=None, webhook_close_timeout=0.3)

    try:
        baseline = best_of(3, lambda: run(None))
        seconds = best_of(3, lambda: run(WebhookNotifier(url, timeout=10, retries=0)))
    finally:
        server.shutdown()
        server.server_close()
    return report("webhook", seconds, baseline, "no webhook", 2.0)


def check_follow(datasets: Path, rounds: int = 10) -> bool:
    from sentikit.monitor import follow_file

    max_poll = 0.1
    waits = []
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "idle.log"
        path.write_text("", encoding="utf-8")
        chunks = follow_file(str(path), poll_interval=0.01, max_poll_interval=max_poll)
        for _ in range(rounds):
            for _ in range(10):  # idle: back off to max_poll_interval
                assert next(chunks) == []
            with open(path, "a", encoding="utf-8") as handle:
                handle.write("wake up\n")
            started = time.perf_counter()
            while next(chunks) == []:
                pass
            waits.append(time.perf_counter() - started)
        chunks.close()  # type: ignore[attr-defined]
    print(f"follow   median {statistics.median(waits):.3f} s over {rounds} wake-ups")
    return report("follow", max(waits), max_poll, "max_poll_interval", 1.0)


CHECKS = {"load": check_load, "webhook": check_webhook, "follow": check_follow}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("checks", nargs="*", metavar="CHECK", help=f"any of {', '.join(CHECKS)} (default: all)")
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    args = parser.parse_args(argv)
    unknown = [name for name in args.checks if name not in CHECKS]
    if unknown:
        parser.error(f"unknown check {unknown[0]!r}; choose from {', '.join(CHECKS)}")
    results = [CHECKS[name](args.datasets) for name in args.checks or list(CHECKS)]
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
