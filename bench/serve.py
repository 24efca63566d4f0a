"""Benchmark the REST API against the tutorial's Flask development server.

Starts (a) bench/tutorial_flask_app.py (Flask dev server, ``predict_proba`` per
``GET /analyze``) and (b) ``sentikit serve`` on the same model, drives both with
``wrk`` over loopback, and prints a markdown table:

* single texts: requests/s and p50/p99 latency of ``GET /analyze`` at concurrency 16,
  rotating through real sentences;
* batches: texts/s of ``POST /v1/score`` with 100 texts per request, against the
  in-process rate of ``model.score`` on batches of 100 on one core;
* resident memory (RSS, all processes of the server) after the load;
* with ``--azure``: documents/s through the Azure AI Language route
  (``POST /language/:analyze-text``, 10 documents per request, the service's limit) next to
  texts/s of ``POST /v1/score`` with the same 10 texts per request.

Usage:
    python bench/serve.py [MODEL] [--duration 10] [--workers 1 2] [--azure]

MODEL is a model directory, NAME or NAME:VERSION in ./models (default: the latest
``sentiment``). Needs ``wrk`` (Debian package ``wrk``) and Flask (the test extra).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "uci-sentences"
CONCURRENCY = 16
BATCH = 100


def sentences(limit: int = 2000) -> list[str]:
    """Real review sentences (the shared UCI set, else a small built-in list)."""
    texts: list[str] = []
    for path in sorted(DATASET.glob("*_labelled.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            text = line.rpartition("\t")[0].strip()
            if text:
                texts.append(text)
    if not texts:
        texts = ["The host was lovely and the flat spotless", "Terrible service, never again",
                 "Not bad at all", "The food was cold and bland"] * 50
    return texts[:limit]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} not ready after {timeout:.0f}s")


def rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
            for task in Path(f"/proc/{current}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, AttributeError):
            continue
    return total / 1024


def lua_string(text: str) -> str:
    level = "=" * 4
    while f"]{level}]" in text:
        level += "="
    return f"[{level}[{text}]{level}]"


def wrk(url: str, script: str, connections: int, duration: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        run = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s", "-s", handle.name, url],
            capture_output=True, text=True, check=True,
        )
    finally:
        os.unlink(handle.name)
    out = run.stdout
    units = {"us": 1e-3, "ms": 1.0, "s": 1000.0}

    def latency(pct: str) -> float:
        match = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(match.group(1)) * units[match.group(2)] if match else float("nan")

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failures = (int(bad.group(1)) if bad else 0) + (sum(map(int, errors.groups())) if errors else 0)
    return {"rps": rps, "p50": latency("50"), "p99": latency("99"), "failures": failures}


def single_script(texts: list[str]) -> str:
    paths = ",\n".join(lua_string("/analyze?text=" + urllib.parse.quote(t)) for t in texts)
    return f"""local paths = {{{paths}}}
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def batch_script(texts: list[str]) -> str:
    bodies = [json.dumps({"texts": texts[i : i + BATCH]}) for i in range(0, len(texts) - BATCH + 1, BATCH)]
    listed = ",\n".join(lua_string(b) for b in bodies)
    return f"""local bodies = {{{listed}}}
local i = 0
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "/v1/score", nil, bodies[i])
end
"""


AZURE_BATCH = 10  # the Azure AI Language service's documents per request


def azure_scripts(texts: list[str]) -> dict[str, str]:
    """wrk scripts for 10 texts per request: ``/v1/score`` and the Azure compatibility route."""
    groups = [texts[i : i + AZURE_BATCH] for i in range(0, len(texts) - AZURE_BATCH + 1, AZURE_BATCH)]
    score = [json.dumps({"texts": group}) for group in groups]
    azure = [
        json.dumps({"kind": "SentimentAnalysis", "parameters": {"stringIndexType": "Utf16CodeUnit"},
                    "analysisInput": {"documents": [{"id": str(n), "text": t, "language": "en"} for n, t in enumerate(group)]}})
        for group in groups
    ]
    paths = {"/v1/score": score, "/language/:analyze-text?api-version=2023-04-01": azure}
    return {
        path: f"""local bodies = {{{",".join(lua_string(b) for b in bodies)}}}
local i = 0
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", {lua_string(path)}, nil, bodies[i])
end
"""
        for path, bodies in paths.items()
    }


def azure_rows(port: int, texts: list[str], duration: int, workers: int) -> list[dict[str, Any]]:
    """documents/s through the Azure route next to texts/s through /v1/score, 10 per request each."""
    rows = []
    for path, script in azure_scripts(texts).items():
        run = wrk(f"http://127.0.0.1:{port}", script, 4, duration)
        rows.append({"workers": workers, "route": f"POST {path.split('?')[0]}", "per_s": run["rps"] * AZURE_BATCH, **run})
    return rows


def in_process_rate(model_dir: Path, texts: list[str], seconds: float) -> float:
    """texts/s of model.score on batches of 100, in a fresh single-threaded process."""
    code = f"""
import sys, time, json
from pathlib import Path
from sentikit.model import load_model
texts = json.loads(sys.stdin.read())
model = load_model(Path({str(model_dir)!r}))
model.score(texts[:{BATCH}])
batches = [texts[i:i + {BATCH}] for i in range(0, len(texts) - {BATCH} + 1, {BATCH})]
done, start = 0, time.perf_counter()
while time.perf_counter() - start < {seconds}:
    for batch in batches:
        model.score(batch)
        done += len(batch)
print(done / (time.perf_counter() - start))
"""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", code], input=json.dumps(texts), capture_output=True, text=True,
                         check=True, env=env)
    return float(run.stdout.strip())


def start(command: list[str], port: int, ready_path: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wait_ready(f"http://127.0.0.1:{port}{ready_path}", process)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def first_score(port: int, text: str) -> float:
    url = f"http://127.0.0.1:{port}/analyze?text={urllib.parse.quote(text)}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return float(response.read())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default=None)
    parser.add_argument("--workspace", default="models")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="sentikit serve worker counts to run")
    parser.add_argument("--azure", action="store_true", help="also measure the Azure AI Language route (documents/s)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    from sentikit.model import resolve_model

    model = resolve_model(args.model, Path(args.workspace), "sentiment")
    texts = sentences()
    has_engine = (model.path / "scorer.json").exists()
    print(f"model {model.reference} ({model.path}); scorer: {'engine (scorer.json)' if has_engine else 'scikit-learn pipeline'}",
          file=sys.stderr)
    rows: list[dict[str, Any]] = []
    compat: list[dict[str, Any]] = []

    port = free_port()
    flask = start([sys.executable, str(ROOT / "bench" / "tutorial_flask_app.py"), str(model.path), str(port)], port,
                  "/analyze?text=warm")
    try:
        reference = first_score(port, texts[0])
        single = wrk(f"http://127.0.0.1:{port}", single_script(texts), CONCURRENCY, args.duration)
        rows.append({"server": "tutorial: Flask dev server, predict_proba", **single, "batch": None,
                     "rss": rss_mib(flask.pid)})
    finally:
        stop(flask)

    for workers in args.workers:
        port = free_port()
        server = start([sys.executable, "-m", "sentikit", "serve", str(model.path), "--port", str(port),
                        "--workers", str(workers), "--no-access-log"], port, "/readyz")
        try:
            difference = abs(first_score(port, texts[0]) - reference)
            single = wrk(f"http://127.0.0.1:{port}", single_script(texts), CONCURRENCY, args.duration)
            # Measured right before the batch run: on a shared machine the rate drifts.
            local = in_process_rate(model.path, texts, min(5.0, args.duration / 2))
            batch = wrk(f"http://127.0.0.1:{port}", batch_script(texts), 4, args.duration)
            rows.append({"server": f"sentikit serve --workers {workers}", **single,
                         "batch": batch["rps"] * BATCH, "batch_failures": batch["failures"], "local": local,
                         "rss": rss_mib(server.pid), "difference": difference})
            if args.azure:
                compat += azure_rows(port, texts, args.duration, workers)
        finally:
            stop(server)

    baseline = rows[0]["rps"]
    print(f"\n`python bench/serve.py {' '.join(argv if argv is not None else sys.argv[1:])}`"
          f" - {os.cpu_count()} CPUs, wrk -t2, {args.duration}s per run, GET at concurrency {CONCURRENCY},"
          f" POST batches of {BATCH} at concurrency 4\n")
    print("| server | GET /analyze req/s | vs baseline | p50 ms | p99 ms | failed | POST /v1/score texts/s "
          "| vs in-process texts/s (one core, batches of 100) | RSS after load MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        batch = "-" if row["batch"] is None else f"{row['batch']:,.0f}"
        share = "-" if row["batch"] is None else f"{row['batch'] / row['local']:.0%} of {row['local']:,.0f}"
        failed = row["failures"] + row.get("batch_failures", 0)
        print(f"| {row['server']} | {row['rps']:,.0f} | {row['rps'] / baseline:.1f}x | {row['p50']:.2f} | "
              f"{row['p99']:.2f} | {failed} | {batch} | {share} | {row['rss']:.0f} |")
    if compat:
        print(f"\n{AZURE_BATCH} texts per request, concurrency 4: documents/s through the Azure AI Language route "
              "(sentences split, each sentence and the whole text scored) against texts/s through /v1/score\n")
        print("| workers | route | texts (documents)/s | vs /v1/score | p50 ms | p99 ms | failed |")
        print("|---:|---|---:|---:|---:|---:|---:|")
        for row in compat:
            base = next(r for r in compat if r["workers"] == row["workers"] and r["route"] == "POST /v1/score")
            print(f"| {row['workers']} | {row['route']} | {row['per_s']:,.0f} | {row['per_s'] / base['per_s']:.2f}x | "
                  f"{row['p50']:.2f} | {row['p99']:.2f} | {row['failures']} |")
    worst = max((r.get("difference", 0.0) for r in rows), default=0.0)
    print(f"\nscore parity with the baseline (first text): max |difference| = {worst:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
