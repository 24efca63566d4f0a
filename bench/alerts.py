"""Alert delivery and the desk's store back ends, measured (figures for issue 25's closing note).

* ``recovery``: how long after a receiver comes back an alert reaches it. A real HTTP receiver answers
  503 for DOWN seconds, then 200; a :class:`~sentikit.monitor.notify.Notifier` with the shipped
  back-off (1 s doubling, jittered into its upper half, capped at 60 s) delivers one alert. Printed:
  the delay after the receiver is back, and the tries it took, against the baseline of a receiver that
  is up from the start (the first try's round trip).
* ``ingest``: :class:`~sentikit.monitor.desk.Desk` ingest of the same batches (100 posts each, scores
  precomputed, one alert per crossing) into SQLite and into PostgreSQL (a cluster started for the run
  with initdb/pg_ctl, or ``--postgres URL``), as posts per second and the ratio PostgreSQL/SQLite.

Usage:
    python bench/alerts.py [recovery|ingest ...] [--down 5,20,60] [--posts 20000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the tests' real receiver and PostgreSQL cluster helpers


def _alert_message() -> Any:
    from sentikit.monitor.notify import sample_message

    return sample_message()


def deliver_once(down: float) -> tuple[float, int]:
    """Seconds from the receiver coming back (after ``down`` s of 503s) to the alert arriving, and tries."""
    from _alert_receivers import receiving

    from sentikit.monitor.notify import Notifier, WebhookChannel

    made = receiving()
    hook = next(made)
    try:
        back_at = time.monotonic() + down
        hook.fail_first(10**6, 503)
        notifier = Notifier([WebhookChannel(hook.url, "slack")])
        started = time.monotonic()
        notifier.enqueue(_alert_message())
        while time.monotonic() < back_at:
            time.sleep(0.01)
        hook.script = []
        hook.wait_accepted(1, timeout=down + 900)
        arrived = hook.accepted()[0].at
        notifier.close(timeout=0)
        return max(0.0, arrived - max(back_at, started)), len(hook.hits)
    finally:
        next(made, None)


def bench_recovery(downs: list[float]) -> None:
    baseline, _ = deliver_once(0.0)
    print(f"recovery: baseline (receiver up) {baseline * 1000:.1f} ms to deliver")
    for down in downs:
        delay, tries = deliver_once(down)
        print(f"recovery: down {down:5.0f} s -> delivered {delay:6.2f} s after it came back, {tries} tries "
              f"({delay / baseline:,.0f}x the baseline; {delay / down:.2f} of the downtime)")


def _batches(count: int, size: int = 100) -> list[tuple[list[Any], list[float]]]:
    from sentikit.monitor.store import NewPost

    rng = random.Random(7)
    t0 = time.time() - 86_400
    scores = [rng.betavariate(5, 2) if (i // 5000) % 2 == 0 else rng.betavariate(2, 5) for i in range(count)]
    posts = [NewPost(f"p{i}", f"post number {i} about the flat", t0 + i * 0.5, "x.com", None) for i in range(count)]
    return [(posts[i:i + size], scores[i:i + size]) for i in range(0, count, size)]


def _ingest_rate(store: str, batches: list[tuple[list[Any], list[float]]]) -> tuple[float, int]:
    from sentikit.monitor import MonitorConfig
    from sentikit.monitor.desk import Desk, DeskOptions

    desk = Desk.open(DeskOptions(store, MonitorConfig(alert_below=0.5, window=200)), deliver=False)
    started = time.perf_counter()
    for posts, scores in batches:
        desk.ingest(posts, scores)
    seconds = time.perf_counter() - started
    alerts = desk.state()["alerts"]
    desk.close()
    return sum(len(p) for p, _ in batches) / seconds, alerts


def _postgres(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from _postgres_server import run_postgres

    with tempfile.TemporaryDirectory() as directory:
        import os

        os.chmod(directory, 0o755)
        for server in run_postgres(Path(directory) / "cluster"):
            yield server.new_database()


def bench_ingest(count: int, url: str | None) -> None:
    batches = _batches(count)
    with tempfile.TemporaryDirectory() as directory:
        sqlite_rate, sqlite_alerts = _ingest_rate(str(Path(directory) / "bench.db"), batches)
    for database in _postgres(url):
        pg_rate, pg_alerts = _ingest_rate(database, batches)
    print(f"ingest: {count:,} posts in batches of 100 - SQLite {sqlite_rate:,.0f} posts/s ({sqlite_alerts} alerts), "
          f"PostgreSQL {pg_rate:,.0f} posts/s ({pg_alerts} alerts): PostgreSQL/SQLite {pg_rate / sqlite_rate:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checks", nargs="*", choices=["recovery", "ingest"], default=["recovery", "ingest"])
    parser.add_argument("--down", default="5,20,60", help="receiver downtimes in seconds (comma-separated)")
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--postgres", help="an empty PostgreSQL database to use instead of a temporary cluster")
    args = parser.parse_args()
    if "recovery" in args.checks:
        bench_recovery([float(d) for d in args.down.split(",") if d])
    if "ingest" in args.checks:
        bench_ingest(args.posts, args.postgres)


if __name__ == "__main__":
    main()
