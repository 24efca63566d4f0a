"""sentikit's image against a tutorial-style image of the same model, on the same base image.

Baseline (the original tutorial's way): Flask and scikit-learn installed with pip in one stage,
the pipeline pickled next to ``app.py``, ``python app.py`` (Flask's server). The wheels come from
a host-built wheelhouse served on 127.0.0.1 during the build (the build uses the host network),
so nothing but the installed packages lands in the image, exactly as with ``pip install`` from PyPI.

Measured per image: size; wall time from ``docker run`` (create + start) to the first successful
``GET /predict`` (median of --runs); container memory (usage minus inactive page cache, as
``docker stats`` shows it) after --requests sequential ``GET /predict`` requests.

    python bench/image.py [--model DIR] [--runs 5] [--requests 1000] [--base-image python:3.11-slim]

Needs a running Docker engine and the base image (``sudo bash scripts/setup-test-env.sh``).
Targets (issue 5): size <= 60 % of the baseline, ready <= 2 s, memory <= the baseline.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import io
import pickle
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from importlib import metadata
from pathlib import Path
from typing import Any

import docker

from sentikit.docker_engine import docker_client
from sentikit.image import build
from sentikit.model import load_model

ROOT = Path(__file__).resolve().parents[1]

BASELINE_APP = '''\
import pickle
from flask import Flask, request

app = Flask(__name__)
model = pickle.load(open("model.pkl", "rb"))


@app.route("/predict")
def predict():
    return str(model.predict_proba([request.args.get("text", "")])[0][1])


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=8000)
'''

BASELINE_DOCKERFILE = '''\
FROM {base}
WORKDIR /app
COPY requirements.txt .
RUN python3 -m venv /venv && /venv/bin/pip install --no-cache-dir --no-index \\
    --find-links {index} -r requirements.txt
COPY app.py model.pkl ./
COPY sentikit ./sentikit
EXPOSE 8000
CMD ["/venv/bin/python", "app.py"]
'''

TEXTS = [
    "The host was lovely and the flat spotless",
    "Never again, the room was dirty and the staff rude",
    "Decent value for money, nothing special",
    "Absolutely fantastic food and a warm welcome",
]


def _tar(files: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def build_baseline(client: Any, model_dir: Path, base: str, tag: str) -> Any:
    """The tutorial-style image, with pinned wheels from a host wheelhouse served on 127.0.0.1."""
    pins = [f"{name}=={metadata.version(name)}" for name in ("flask", "scikit-learn")]
    with tempfile.TemporaryDirectory(prefix="bench-wheels-") as wheels:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "-w", wheels, *pins], check=True)
        handler = functools.partial(_QuietHandler, directory=wheels)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            index = f"http://127.0.0.1:{server.server_address[1]}/"
            context = _tar({
                "Dockerfile": BASELINE_DOCKERFILE.format(base=base, index=index).encode(),
                "requirements.txt": ("\n".join(pins) + "\n").encode(),
                "app.py": BASELINE_APP.encode(),
                "model.pkl": pickle.dumps(load_model(model_dir).pipeline),
                # the pickled pipeline refers to sentikit's normaliser, tokenizer and lexicon features,
                # which the app must ship to unpickle it (the modules and the lexicon files they read)
                "sentikit/__init__.py": b"",
                "sentikit/engine/__init__.py": b"",
                **{f"sentikit/{name}": (ROOT / "src" / "sentikit" / name).read_bytes()
                   for name in ("engine/text.py", "engine/lexicon.py", "engine/features.py",
                                "resources/vader_lexicon.txt", "resources/emoji_utf8_lexicon.txt")},
            })
            for chunk in client.api.build(fileobj=context, custom_context=True, tag=tag, rm=True, decode=True,
                                          network_mode="host"):
                if "error" in chunk:
                    raise RuntimeError(chunk["error"])
        finally:
            server.shutdown()
    return client.images.get(tag)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


def time_to_first_score(client: Any, tag: str) -> float:
    started = time.perf_counter()
    container = client.containers.run(tag, detach=True, ports={"8000/tcp": ("127.0.0.1", None)})
    try:
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"]
        url = f"http://127.0.0.1:{port}/predict?text=" + urllib.parse.quote(TEXTS[0])
        while time.perf_counter() - started < 60:
            try:
                float(_get(url))
                return time.perf_counter() - started
            except (OSError, ValueError):
                time.sleep(0.01)
        raise RuntimeError(f"{tag} did not answer within 60 s")
    finally:
        container.remove(force=True)


def memory_after_requests(client: Any, tag: str, requests: int) -> tuple[float, float]:
    """(MiB after the requests, seconds the requests took)."""
    container = client.containers.run(tag, detach=True, ports={"8000/tcp": ("127.0.0.1", None)})
    try:
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"]
        base = f"http://127.0.0.1:{port}/predict?text="
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(base + "ready")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        started = time.perf_counter()
        for i in range(requests):
            float(_get(base + urllib.parse.quote(f"{TEXTS[i % len(TEXTS)]} {i}")))
        seconds = time.perf_counter() - started
        stats = container.stats(stream=False)["memory_stats"]
        detail = stats.get("stats", {})
        cache = detail.get("total_inactive_file", detail.get("inactive_file", 0))
        return (stats["usage"] - cache) / 2**20, seconds
    finally:
        container.remove(force=True)



def model_or_bundled(model_dir: Path | None, workspace: Path) -> Path:
    """``model_dir``, or a model trained on the bundled corpus (seed 42) in ``workspace``."""
    if model_dir is not None:
        return model_dir
    from sentikit.data import default_training_files, load_dataset
    from sentikit.train import train_model

    print("training a model on the bundled corpus ...", file=sys.stderr)
    return train_model(load_dataset(default_training_files()), workspace=workspace, name="sentiment", seed=42).model.path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model directory (default: train one on the bundled corpus)")
    parser.add_argument("--base-image", default="python:3.11-slim")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the two images")
    args = parser.parse_args()

    client = docker_client()
    with tempfile.TemporaryDirectory(prefix="bench-image-") as tmp:
        model_dir = model_or_bundled(args.model, Path(tmp))
        print("building the baseline image ...", file=sys.stderr)
        t = time.perf_counter()
        baseline = build_baseline(client, model_dir, args.base_image, "sentikit-bench-baseline:latest")
        baseline_build = time.perf_counter() - t
        print("building the sentikit image ...", file=sys.stderr)
        t = time.perf_counter()
        ours = build(load_model(model_dir), tag="sentikit-bench-image:latest", base_image=args.base_image)
        ours_build = time.perf_counter() - t

    images = {"baseline (Flask + scikit-learn, pickle)": baseline.tags[0], "sentikit": ours.tag}
    sizes = {name: client.images.get(tag).attrs["Size"] / 1e6 for name, tag in images.items()}
    base_size = client.images.get(args.base_image).attrs["Size"] / 1e6
    ready: dict[str, list[float]] = {name: [] for name in images}
    for _ in range(args.runs):  # interleaved, so machine noise hits both alike
        for name, tag in images.items():
            ready[name].append(time_to_first_score(client, tag))
    memory = {name: memory_after_requests(client, tag, args.requests) for name, tag in images.items()}

    print(f"\nbase image {args.base_image}: {base_size:.1f} MB; builds: baseline {baseline_build:.0f} s, "
          f"sentikit {ours_build:.0f} s (wheelhouse cached)\n")
    print(f"| image | size (MB) | added to base (MB) | run → first score, median of {args.runs} (s) "
          f"| memory after {args.requests:,} requests (MiB) | {args.requests:,} requests (s) |")
    print("|---|---|---|---|---|---|")
    for name in images:
        print(f"| {name} | {sizes[name]:.1f} | {sizes[name] - base_size:.1f} | {statistics.median(ready[name]):.2f} "
              f"| {memory[name][0]:.1f} | {memory[name][1]:.1f} |")
    b, s = images
    print(f"\nsentikit/baseline: size {sizes[s] / sizes[b]:.0%} (target ≤ 60%), "
          f"ready {statistics.median(ready[s]):.2f} s (target ≤ 2 s), "
          f"memory {memory[s][0] / memory[b][0]:.0%} of the baseline (target ≤ 100%)")
    if not args.keep:
        for tag in images.values():
            client.images.remove(tag, force=True)
        client.images.prune(filters={"dangling": True, "label": "sentikit.stage=deps"})


if __name__ == "__main__":
    try:
        main()
    except docker.errors.DockerException as exc:
        sys.exit(f"error: {exc}")
