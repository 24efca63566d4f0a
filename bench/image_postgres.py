"""The serving image with and without ``--postgres`` (psycopg 3 for a PostgreSQL-backed desk), built in the
same run from the same model on the same base image: size, and size above the base.

    python bench/image_postgres.py [--model DIR] [--base-image python:3.11-slim] [--keep]

Needs a running Docker engine and the base image (``sudo bash scripts/setup-test-env.sh``).
"""

from __future__ import annotations

import argparse
import tempfile
import uuid
from pathlib import Path

from sentikit.docker_engine import docker_client
from sentikit.image import build
from sentikit.model import load_model

from image import model_or_bundled  # bench/image.py: the model, or one trained on the bundled corpus

MB = 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model directory (default: train one on the bundled corpus)")
    parser.add_argument("--base-image", default="python:3.11-slim")
    parser.add_argument("--keep", action="store_true", help="keep the two images")
    args = parser.parse_args()

    client = docker_client()
    base = client.images.get(args.base_image).attrs["Size"]
    run = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="bench-image-pg-") as tmp:
        model_dir = model_or_bundled(args.model, Path(tmp))
        model = load_model(model_dir)
        built = {postgres: build(model, tag=f"sentikit-bench-{'pg' if postgres else 'plain'}:{run}",
                                 base_image=args.base_image, postgres=postgres) for postgres in (False, True)}
    print(f"base image {args.base_image}: {base / MB:.1f} MB")
    for postgres, image in built.items():
        print(f"{'sentikit build --postgres' if postgres else 'sentikit build           '}: {image.size / MB:.1f} MB, "
              f"{(image.size - base) / MB:.1f} MB above the base")
    plain, pg = built[False].size - base, built[True].size - base
    print(f"--postgres adds {(pg - plain) / MB:.1f} MB ({pg / plain:.2f}x the default image's size above the base)")
    if not args.keep:
        for image in built.values():
            client.images.remove(image.tag, force=True)


if __name__ == "__main__":
    main()
