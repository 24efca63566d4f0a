"""Benchmark the REST API side by side: the tutorial's Flask server, gunicorn, sentikit 1 and 2 workers.

All in one run, on the same model and the same real sentences, driven by ``wrk`` over loopback:

* single texts: ``GET /analyze`` at concurrency 16, rotating through real sentences
  (every server);
* batches: ``POST /v1/score`` with 100 texts per request at concurrency 16 (sentikit);
* per server: req/s, texts/s, p50/p99 latency, failed requests, cores used by the server's
  processes during the load (CPU seconds / wall seconds), RSS (largest worker and the
  sum, plus PSS, which counts the pages forked workers share once), and for sentikit the
  share of the requests each worker answered (from its /metrics);
* every server is first warmed with --warmup seconds of single texts, not measured: a started
  sentikit builds its vocabulary dicts in the background for ~0.1 s (the progressive load), and
  every server's caches fill during the first requests; the figures are the steady state;
* start: wall time from starting the process to the first score, median of --starts;
* with ``--azure``: documents/s through the Azure AI Language route
  (``POST /language/:analyze-text``, 10 documents per request, the service's limit) next to
  texts/s of ``POST /v1/score`` with the same 10 texts per request.

Rows: the tutorial (Flask dev server, ``predict_proba`` per request), the same Flask app
under gunicorn with 2 sync workers, sentikit with 1 worker, 2 workers (one SO_REUSEPORT
socket each, the default), 2 workers sharing one socket (SENTIKIT_SERVER_REUSE_PORT=0, what
uvicorn's own --workers does), and 1 worker with the pure-Python h11 parser and asyncio loop.

Usage:
    python bench/serve.py [MODEL] [--duration 10] [--warmup 2] [--repeat 1] [--starts 5] [--azure]

MODEL is a model directory, NAME or NAME:VERSION in ./models (default: the latest
``sentiment``). Needs ``wrk`` (Debian package ``wrk``) and the ``bench`` extra (Flask, gunicorn).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "uci-sentences"
CONCURRENCY = 16
BATCH = 100
TICKS = os.sysconf("SC_CLK_TCK")


def sentences(limit: int = 2000, dataset: Path = DATASET) -> list[str]:
    """``limit`` real review sentences: the shared UCI set (``*_labelled.txt`` in ``dataset``).

    Missing or short, the run stops here with what to fetch: a silent stand-in would change what
    every rate measures (an earlier fallback to a few built-in sentences inflated them all).
    """
    texts: list[str] = []
    for path in sorted(dataset.glob("*_labelled.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            text = line.rpartition("\t")[0].strip()
            if text:
                texts.append(text)
    if len(texts) < limit:
        found = f"only {len(texts)} sentences" if texts else "no *_labelled.txt files"
        raise SystemExit(f"bench: {found} in {dataset}, {limit} needed: put the UCI Sentiment Labelled Sentences "
                         "(amazon_cells_labelled.txt, imdb_labelled.txt, yelp_labelled.txt) there, or pass --dataset DIR")
    return texts[:limit]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    response.read()
                    return
        except OSError:
            time.sleep(0.005)
    raise SystemExit(f"{url} not ready after {timeout:.0f}s")


def process_tree(pid: int) -> list[int]:
    pids, stack = [], [pid]
    while stack:
        current = stack.pop()
        pids.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process tree, the dead children that were waited for included."""
    total = 0
    for current in process_tree(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        except OSError:
            continue
    return total / TICKS


def memory_mib(pid: int) -> tuple[float, float, float]:
    """(largest RSS of one process, RSS sum, PSS sum) of a process tree, in MiB."""
    rss: list[int] = []
    pss = 0
    for current in process_tree(pid):
        try:
            rss.append(int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{current}/status").read_text()).group(1)))  # type: ignore[union-attr]
            pss += int(re.search(r"^Pss:\s+(\d+)", Path(f"/proc/{current}/smaps_rollup").read_text(), re.M).group(1))  # type: ignore[union-attr]
        except (OSError, AttributeError):
            continue
    return max(rss, default=0) / 1024, sum(rss) / 1024, pss / 1024


def lua_string(text: str) -> str:
    level = "=" * 4
    while f"]{level}]" in text:
        level += "="
    return f"[{level}[{text}]{level}]"


def wrk_script(method: str, targets: list[tuple[str, str | None]], json_body: bool = False) -> str:
    """A wrk script cycling through ``(path, body)`` requests.

    Each request is formatted once, in ``init``, not at every send: wrk shares the CPUs with the
    servers it measures, so its own cost per request is kept small.
    """
    specs = ",\n".join(f"{{{lua_string(path)}, {lua_string(body) if body is not None else 'nil'}}}" for path, body in targets)
    headers = 'wrk.headers["Content-Type"] = "application/json"\n' if json_body else ""
    return f"""local specs = {{{specs}}}
local requests = {{}}
local i = 0
{headers}init = function(args)
  for n, spec in ipairs(specs) do
    requests[n] = wrk.format({lua_string(method)}, spec[1], nil, spec[2])
  end
end
request = function()
  i = i % #requests + 1
  return requests[i]
end
"""


def single_script(texts: list[str]) -> str:
    return wrk_script("GET", [("/analyze?text=" + urllib.parse.quote(t), None) for t in texts])


def batch_script(texts: list[str]) -> str:
    bodies = [json.dumps({"texts": texts[i : i + BATCH]}) for i in range(0, len(texts) - BATCH + 1, BATCH)]
    return wrk_script("POST", [("/v1/score", body) for body in bodies], json_body=True)


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
    return {path: wrk_script("POST", [(path, body) for body in bodies], json_body=True) for path, bodies in paths.items()}


@dataclass
class Load:
    rps: float
    p50: float
    p99: float
    failures: int
    cores: float
    texts_per_request: int = 1
    client_cores: float = 0.0  # what wrk itself took of the same CPUs


    @property
    def texts(self) -> float:
        return self.rps * self.texts_per_request


def wrk(url: str, script: str, duration: int, server_pid: int, texts_per_request: int = 1,
        connections: int = CONCURRENCY) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        cpu, started = cpu_seconds(server_pid), time.monotonic()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child waited for meanwhile
        run = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s", "-s", handle.name, url],
            capture_output=True, text=True, check=True,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.monotonic() - started
        cores = (cpu_seconds(server_pid) - cpu) / wall
        client = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / wall
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
    return Load(rps, latency("50"), latency("99"), failures, cores, texts_per_request, client)


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    sentikit: bool = True
    results: list[dict[str, Any]] = field(default_factory=list)

    def start(self, port: int) -> tuple[subprocess.Popen[bytes], float]:
        own = {name: value.replace("{port}", str(port)) for name, value in self.env.items()}
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", **own}
        command = [part.replace("{port}", str(port)) for part in self.command]
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        wait_for(f"http://127.0.0.1:{port}/analyze?text=warm", process)
        return process, time.perf_counter() - started


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def worker_shares(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        lines = response.read().decode().splitlines()
    shares = [float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("sentikit_process_requests_total{")]
    total = sum(shares) or 1.0
    return "/".join(f"{share / total:.0%}" for share in shares)


def first_score(url: str, text: str) -> float:
    with urllib.request.urlopen(f"{url}/analyze?text={urllib.parse.quote(text)}", timeout=5) as response:
        return float(response.read())


def measure(server: Server, texts: list[str], duration: int, azure: bool = False, warmup: int = 2) -> dict[str, Any]:
    port = free_port()
    process, _ = server.start(port)
    url = f"http://127.0.0.1:{port}"
    try:
        row: dict[str, Any] = {"first": first_score(url, texts[0])}
        if warmup > 0:
            wrk(url, single_script(texts), warmup, process.pid)
        row["single"] = wrk(url, single_script(texts), duration, process.pid)
        if server.sentikit:
            row["batch"] = wrk(url, batch_script(texts), duration, process.pid, BATCH)
            row["shares"] = worker_shares(url)
            if azure:
                row["azure"] = {path.split("?")[0]: wrk(url, script, duration, process.pid, AZURE_BATCH)
                                for path, script in azure_scripts(texts).items()}
        row["memory"] = memory_mib(process.pid)
        return row
    finally:
        stop(process)


def start_time(server: Server, runs: int) -> float:
    times = []
    for _ in range(runs):
        process, seconds = server.start(free_port())
        times.append(seconds)
        stop(process)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default=None)
    parser.add_argument("--workspace", default="models")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load before each server's runs")
    parser.add_argument("--repeat", type=int, default=1, help="rounds over all servers (interleaved); medians reported")
    parser.add_argument("--starts", type=int, default=5, help="process starts per server for the start time")
    parser.add_argument("--azure", action="store_true", help="also measure the Azure AI Language route (documents/s)")
    parser.add_argument("--dataset", type=Path, default=DATASET, help="folder of the UCI *_labelled.txt files")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    texts = sentences(dataset=args.dataset)

    from sentikit.model import resolve_model

    model = resolve_model(args.model, Path(args.workspace), "sentiment")
    py = sys.executable
    # Start times as any second start sees them: with the bytecode cache written (PYTHONDONTWRITEBYTECODE
    # or a read-only checkout would otherwise make every start compile sentikit's modules, ~50 ms).
    import sentikit

    compileall.compile_dir(str(Path(sentikit.__file__).parent), quiet=1)
    flask_app = str(ROOT / "bench" / "tutorial_flask_app.py")
    serve = [py, "-m", "sentikit", "serve", str(model.path), "--port", "{port}", "--no-access-log"]
    servers = [
        Server("tutorial: Flask dev server", [py, flask_app, str(model.path), "{port}"], sentikit=False),
        Server("tutorial app on gunicorn, 2 sync workers",
               [py, "-m", "gunicorn", "-w", "2", "-b", "127.0.0.1:{port}", "--chdir", str(ROOT / "bench"),
                "tutorial_flask_app:app"], {"TUTORIAL_MODEL_DIR": str(model.path.resolve())}, sentikit=False),
        Server("sentikit serve, 1 worker", serve),
        Server("sentikit serve --workers 2", [*serve, "--workers", "2"]),
        Server("sentikit serve --workers 2, one shared socket", [*serve, "--workers", "2"],
               {"SENTIKIT_SERVER_REUSE_PORT": "0"}),
        Server("sentikit serve, 1 worker, h11 + asyncio", serve,
               {"SENTIKIT_SERVER_HTTP": "h11", "SENTIKIT_SERVER_LOOP": "asyncio"}),
    ]
    print(f"model {model.reference} ({model.path}); {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}",
          file=sys.stderr)
    for round_ in range(args.repeat):
        for server in servers:
            print(f"round {round_ + 1}: {server.name}", file=sys.stderr)
            azure = args.azure and server in servers[2:4]
            server.results.append(measure(server, texts, args.duration, azure, args.warmup))
    starts = {
        "python -m sentikit.server (the image's entry point)": Server(
            "module", [py, "-m", "sentikit.server"], {"SENTIKIT_MODEL_PATH": str(model.path), "SENTIKIT_SERVER_PORT": "{port}"}),
        "sentikit serve": servers[2],
        "sentikit serve --workers 2": servers[3],
    }
    start_medians = {name: start_time(server, args.starts) for name, server in starts.items()}

    def med(server: Server, kind: str, attr: str) -> float:
        return statistics.median(getattr(r[kind], attr) for r in server.results)

    flask_rps = med(servers[0], "single", "rps")
    one = servers[2]
    print(f"\n`python bench/serve.py {' '.join(argv if argv is not None else sys.argv[1:])}` - {os.cpu_count()} CPUs "
          f"(shared), wrk -t1 -c{CONCURRENCY}, {args.warmup}s warm-up then {args.duration}s per run, medians of {args.repeat} "
          "interleaved rounds\n")
    print("| server | GET /analyze req/s | vs Flask | p50 ms | p99 ms | cores | wrk cores | POST /v1/score (100 texts) texts/s "
          "| p50 ms | p99 ms | cores | failed | worker shares | RSS MiB (largest / sum) | PSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for server in servers:
        failed = sum(r["single"].failures + (r["batch"].failures if "batch" in r else 0) for r in server.results)
        batch = (f"{med(server, 'batch', 'texts'):,.0f} | {med(server, 'batch', 'p50'):.1f} | "
                 f"{med(server, 'batch', 'p99'):.1f} | {med(server, 'batch', 'cores'):.2f}") if server.sentikit else "- | - | - | -"
        largest, total, pss = (statistics.median(r["memory"][i] for r in server.results) for i in range(3))
        shares = " ".join(r.get("shares", "") for r in server.results) or "-"
        print(f"| {server.name} | {med(server, 'single', 'rps'):,.0f} | {med(server, 'single', 'rps') / flask_rps:.1f}x | "
              f"{med(server, 'single', 'p50'):.2f} | {med(server, 'single', 'p99'):.2f} | {med(server, 'single', 'cores'):.2f} | "
              f"{med(server, 'single', 'client_cores'):.2f} | "
              f"{batch} | {failed} | {shares} | {largest:.0f} / {total:.0f} | {pss:.0f} |")
    two = servers[3]
    print(f"\n2 workers / 1 worker: single {med(two, 'single', 'rps') / med(one, 'single', 'rps'):.2f}x, "
          f"batch {med(two, 'batch', 'texts') / med(one, 'batch', 'texts'):.2f}x; "
          f"shared socket: single {med(servers[4], 'single', 'rps') / med(one, 'single', 'rps'):.2f}x, "
          f"batch {med(servers[4], 'batch', 'texts') / med(one, 'batch', 'texts'):.2f}x")
    for label, server in (("1 worker", one), ("2 workers", two)):
        rps, cores, client = (med(server, "single", attr) for attr in ("rps", "cores", "client_cores"))
        print(f"single texts, {label}: server {cores:.2f} + wrk {client:.2f} of {os.cpu_count()} CPUs; "
              f"{rps / cores:,.0f} req/s per server CPU-second")
    print(f"httptools + uvloop / h11 + asyncio (1 worker): single {med(one, 'single', 'rps') / med(servers[5], 'single', 'rps'):.2f}x, "
          f"batch {med(one, 'batch', 'texts') / med(servers[5], 'batch', 'texts'):.2f}x")
    if args.azure:
        print(f"\n{AZURE_BATCH} texts per request: documents/s through the Azure AI Language route "
              "(sentences split, each sentence and the whole text scored) against texts/s through /v1/score\n")
        print("| server | route | texts (documents)/s | vs /v1/score | p50 ms | p99 ms | failed |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for server in servers[2:4]:
            runs = [r["azure"] for r in server.results]
            base = statistics.median(r["/v1/score"].texts for r in runs)
            for route in runs[0]:
                rate = statistics.median(r[route].texts for r in runs)
                print(f"| {server.name} | POST {route} | {rate:,.0f} | {rate / base:.2f}x | "
                      f"{statistics.median(r[route].p50 for r in runs):.2f} | {statistics.median(r[route].p99 for r in runs):.2f} | "
                      f"{sum(r[route].failures for r in runs)} |")
    reference = servers[0].results[0]["first"]
    worst = max(abs(r["first"] - reference) for server in servers for r in server.results)
    print(f"\nscore parity with the tutorial (first text): max |difference| = {worst:.2e}")
    print(f"\n| start → first score (median of {args.starts}) | s |\n|---|---:|")
    for name, seconds in start_medians.items():
        print(f"| {name} | {seconds:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
