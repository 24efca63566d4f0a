"""What verifying a model costs when it is loaded (issue 18: digest, checksums, optional HMAC).

Loads the same model directory many times in one process and prints the best time of:

* ``read_manifest`` (the baseline: what loading did before verification),
* ``load_model`` (digest + the SHA-256 of every listed file present),
* ``load_model`` with ``SENTIKIT_MODEL_KEY`` set on a signed copy (digest + HMAC + checksums),
* ``load_model(...).score([...])`` once (a cold ``sentikit score``'s library work),

and verification's share of the cold score.

Usage:
    python bench/integrity.py [MODEL] [--repeat 20]

MODEL is a model directory, NAME or NAME:VERSION in ./models (default: the latest ``sentiment``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from sentikit.config import MODEL_KEY_ENV_VAR
from sentikit.model import MANIFEST_FILE, load_model, read_manifest, resolve_model_dir, seal_manifest


def best(repeat: int, work: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("model", nargs="?", default=None)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    source = resolve_model_dir(args.model, Path("models"), "sentiment")
    sizes = {p.name: p.stat().st_size for p in sorted(source.iterdir())}
    with tempfile.TemporaryDirectory() as tmp:
        signed = Path(tmp) / "signed"
        shutil.copytree(source, signed)
        key = b"bench-key"
        manifest = json.loads((signed / MANIFEST_FILE).read_text(encoding="utf-8"))
        (signed / MANIFEST_FILE).write_text(json.dumps(seal_manifest(manifest, key)), encoding="utf-8")

        baseline = best(args.repeat, lambda: read_manifest(source))
        verified = best(args.repeat, lambda: load_model(source))
        os.environ[MODEL_KEY_ENV_VAR] = key.decode()
        try:
            hmac_verified = best(args.repeat, lambda: load_model(signed))
        finally:
            del os.environ[MODEL_KEY_ENV_VAR]
        cold = best(max(3, args.repeat // 4), lambda: load_model(source).score(["what a lovely day"]))

    print(f"model {source} ({', '.join(f'{n} {s / 1e6:.1f} MB' for n, s in sizes.items())})")
    print(f"read_manifest (baseline)     {baseline * 1e3:8.2f} ms")
    print(f"load_model (verified)        {verified * 1e3:8.2f} ms   {verified / baseline:8.0f}x baseline")
    print(f"load_model (signed, key set) {hmac_verified * 1e3:8.2f} ms   {hmac_verified / baseline:8.0f}x baseline")
    print(f"load + first score           {cold * 1e3:8.2f} ms   verification is {verified / cold:.1%} of it")


if __name__ == "__main__":
    main()
