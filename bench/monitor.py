"""Benchmark `sentikit monitor` throughput against `sentikit score --input` on the same file.

Writes a 100,000-line JSON Lines file of real review sentences (SST-2 train, cycled) with
ISO timestamps, then runs, as real subprocesses on the same model and file:

* ``sentikit score --model MODEL --input FILE --output OUT`` (scores and writes every row), and
* ``sentikit monitor MODEL --input FILE --window 1000 --alert-below 0.3 --json`` (scores every
  row, keeps the window, reports events),

alternating, ``--repeat`` times each, and prints lines/s (best run, which includes process
start and model load for both) and monitor as a percentage of score. The target is >= 80%.

Usage:
    python bench/monitor.py [MODEL] [--lines 100000] [--repeat 3] [--window-seconds S]

MODEL is a model directory, NAME or NAME:VERSION in ./models (default: the latest ``sentiment``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SST2 = ROOT.parent / "shared" / "datasets" / "sst2" / "train.tsv"
OUT = ROOT / "bench" / "out"


def write_stream(path: Path, lines: int) -> None:
    """``lines`` JSON lines {"text", "timestamp", "id"}, one a second from 2024-05-01."""
    sentences = [row.rpartition("\t")[0].strip() for row in SST2.read_text(encoding="utf-8").splitlines()[1:]]
    sentences = [s for s in sentences if len(s) > 20]
    start = datetime(2024, 5, 1, tzinfo=timezone.utc)
    with open(path, "w", encoding="utf-8") as handle:
        for index in range(lines):
            stamp = (start + timedelta(seconds=index)).isoformat().replace("+00:00", "Z")
            handle.write(json.dumps({"text": sentences[index % len(sentences)], "timestamp": stamp, "id": index}) + "\n")


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "NO_COLOR": "1"})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=None)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--window-seconds", type=float, default=None, help="Use a time window instead of 1000 texts.")
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    stream = OUT / f"monitor-{args.lines}.jsonl"
    if not stream.exists():
        write_stream(stream, args.lines)
    sentikit = [sys.executable, "-m", "sentikit"]
    model_args = [args.model] if args.model else []
    window = ["--window-seconds", str(args.window_seconds)] if args.window_seconds else ["--window", "1000"]
    score_cmd = [*sentikit, "score", *(["--model", args.model] if args.model else []), "--input", str(stream),
                 "--output", str(OUT / "monitor-scored.jsonl")]
    monitor_cmd = [*sentikit, "monitor", *model_args, "--input", str(stream), *window, "--alert-below", "0.3", "--json"]

    score_runs, monitor_runs = [], []
    summaries = {}
    for _ in range(args.repeat):
        score_runs.append(timed(score_cmd)[0])
        seconds, out = timed(monitor_cmd)
        monitor_runs.append(seconds)
        summaries[seconds] = json.loads(out.splitlines()[-1])
        assert summaries[seconds]["texts"] == args.lines, summaries[seconds]
    summary = summaries[min(monitor_runs)]

    score_rate = args.lines / min(score_runs)
    monitor_rate = args.lines / min(monitor_runs)
    print(f"| command ({args.lines:,} JSONL lines, best of {args.repeat}) | seconds | lines/s |")
    print("| --- | ---: | ---: |")
    print(f"| `sentikit score --input` | {min(score_runs):.2f} | {score_rate:,.0f} |")
    print(f"| `sentikit monitor --input {' '.join(window)} --json` | {min(monitor_runs):.2f} | {monitor_rate:,.0f} |")
    print(f"\nmonitor / score: {100 * monitor_rate / score_rate:.0f}% (target >= 80%); "
          f"monitor's own loop (model load included): {summary['texts_per_second']:,.0f} texts/s; alerts {summary['alerts']}")


if __name__ == "__main__":
    main()
