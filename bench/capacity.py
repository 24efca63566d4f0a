"""Capacity of one replica: requests/s at a latency target (p99 <= 50 ms), for replica planning.

Runs one ``sentikit serve`` process pinned to one CPU (a 1-vCPU replica: ``--cpu 1`` on Container Apps
or Kubernetes, one worker), drives ``GET /analyze`` with real sentences through bench/serve.py's wrk
load generator at rising concurrency (bounded: each level runs --duration seconds, levels stop at
the first that misses the target twice over; each level is the median of --repeat runs), and records requests/s, p50/p99 and the server's CPU
use. The largest rate whose p99 meets the target is the replica's capacity; the README's traffic
-> replicas table, the Container Apps ``--concurrency`` and the HPA CPU target come from it:

* plan with ``HEADROOM`` (70 %) of capacity per replica, so a burst or the autoscaler's reaction
  time does not push p99 over the target;
* ``--concurrency``: the requests in flight per replica at that planned rate (Little's law,
  rate x mean latency, rounded up; at least the concurrency level that met the target);
* HPA ``averageUtilization``: the replica's CPU use at capacity times the headroom.

Usage:
    python bench/capacity.py [MODEL] [--duration 5] [--repeat 3] [--target-p99 50] [--cpu 0]

Needs ``wrk`` (Debian package ``wrk``) and a trained model (``sentikit train``).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serve as load  # noqa: E402  bench/serve.py: the one wrk load generator

HEADROOM = 0.7
LEVELS = (1, 2, 4, 8, 16, 32, 64)


def measure(url: str, pid: int, texts: list[str], connections: int, duration: int, repeat: int) -> dict[str, Any]:
    """The median of ``repeat`` runs at one concurrency (the machine is shared: single runs spike)."""
    runs = [load.wrk(url, load.single_script(texts), duration, pid, connections=connections) for _ in range(repeat)]
    return {"rps": statistics.median(r.rps for r in runs), "p50": statistics.median(r.p50 for r in runs),
            "p99": statistics.median(r.p99 for r in runs), "cpu": statistics.median(r.cores for r in runs),
            "connections": connections, "failures": sum(r.failures for r in runs),
            "p99_runs": [round(r.p99, 1) for r in runs]}


def plan(rows: list[dict[str, Any]], target_p99: float) -> dict[str, Any]:
    """Capacity, planned rate, --concurrency and HPA target from the measured levels."""
    passing = [r for r in rows if r["p99"] <= target_p99 and r["failures"] == 0]
    if not passing:
        raise SystemExit(f"no concurrency level met p99 <= {target_p99} ms; nothing to plan with")
    best = max(passing, key=lambda r: r["rps"])
    planned = best["rps"] * HEADROOM
    in_flight = planned * best["p50"] / 1000.0
    return {
        "capacity_rps": best["rps"], "at_connections": best["connections"], "p99": best["p99"], "cpu": best["cpu"],
        "planned_rps": planned,
        "concurrency": max(1, math.ceil(in_flight), math.ceil(best["connections"] * HEADROOM)),
        "hpa_cpu_target": max(10, min(90, round(best["cpu"] * HEADROOM * 100))),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default=None)
    parser.add_argument("--workspace", default="models")
    parser.add_argument("--duration", type=int, default=5, help="seconds per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per concurrency level (the median counts)")
    parser.add_argument("--target-p99", type=float, default=50.0, help="latency target in ms")
    parser.add_argument("--cpu", type=int, default=0, help="CPU the server is pinned to (the replica's one vCPU)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    from sentikit.model import resolve_model

    model = resolve_model(args.model, Path(args.workspace), "sentiment")
    texts = load.sentences()
    port = load.free_port()
    pin = ["taskset", "-c", str(args.cpu)] if shutil.which("taskset") else []
    replica = load.Server("one replica", [*pin, sys.executable, "-m", "sentikit", "serve", str(model.path),
                                          "--port", "{port}", "--workers", "1", "--no-access-log"])
    server, _ = replica.start(port)
    rows: list[dict[str, Any]] = []
    try:
        url = f"http://127.0.0.1:{port}"
        load.wrk(url, load.single_script(texts), 1, server.pid, connections=4)  # warm-up: caches, connections
        for connections in LEVELS:
            row = measure(url, server.pid, texts, connections, args.duration, args.repeat)
            rows.append(row)
            print(f"c={connections:3d}  {row['rps']:8,.0f} req/s  p50 {row['p50']:6.2f} ms  p99 {row['p99']:7.2f} ms  "
                  f"cpu {row['cpu']:.0%}  failed {row['failures']}  (p99 of each run: {row['p99_runs']})", file=sys.stderr)
            if row["p99"] > 2 * args.target_p99:
                break
    finally:
        load.stop(server)

    result = plan(rows, args.target_p99)
    shown = " ".join(argv if argv is not None else sys.argv[1:])
    print(f"\n`python bench/capacity.py {shown}`".rstrip() + f" - model {model.reference}, one `sentikit serve` worker "
          f"pinned to {'CPU ' + str(args.cpu) if pin else 'no CPU (taskset missing)'} of {os.cpu_count()}, "
          f"GET /analyze with real sentences, median of {args.repeat} wrk runs of {args.duration}s per level\n")
    # req/s per core the server used: what a replica with a whole vCPU of its own would reach, when a shared
    # machine gave the server less than its core.
    print("| connections | req/s | p50 ms | p99 ms | server CPU | req/s per core used | failed |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        mark = " **" if row is not None and row["rps"] == result["capacity_rps"] else ""
        print(f"| {row['connections']} | {row['rps']:,.0f}{mark} | {row['p50']:.2f} | {row['p99']:.2f} | "
              f"{row['cpu']:.0%} | {row['rps'] / max(row['cpu'], 1e-9):,.0f} | {row['failures']} |")
    print(f"\ncapacity at p99 <= {args.target_p99:g} ms: {result['capacity_rps']:,.0f} req/s per replica "
          f"({result['at_connections']} connections, p99 {result['p99']:.1f} ms, CPU {result['cpu']:.0%})")
    print(f"plan with {HEADROOM:.0%}: {result['planned_rps']:,.0f} req/s per replica; "
          f"--concurrency {result['concurrency']}; HPA averageUtilization {result['hpa_cpu_target']}")
    if result["cpu"] < 0.8:
        print(f"note: the server got only {result['cpu']:.0%} of its core at capacity (a busy machine): the req/s "
              "figures are low and the HPA target is not meaningful; rerun on a quiet machine")
    print("\n| expected traffic (req/s) | replicas |")
    print("|---:|---:|")
    for traffic in (10, 50, 100, 500, 1_000, 5_000, 10_000):
        print(f"| {traffic:,} | {max(1, math.ceil(traffic / result['planned_rps']))} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
