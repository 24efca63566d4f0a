"""Build src/sentikit/resources/corpus.tsv.gz (data/corpus.tsv.gz links to it), the bundled training corpus, from the shared datasets.

Usage (from the repository root):
    .venv/bin/python scripts/make_corpus.py [--datasets ../shared/datasets] [--output src/sentikit/resources/corpus.tsv.gz]

Only *train* files go in: no dev.tsv (SST-2 dev is the quality benchmark; the multi-domain dev
sets are held out too). Rows keep their original text and order, source by source, so the output
is byte-for-byte reproducible for the same inputs and zlib (gzip header mtime is 0). Reading uses
sentikit's own loader, and the result is read back and compared before it replaces the old file.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import os
import sys
from pathlib import Path

from sentikit.data import load_dataset

ROOT = Path(__file__).resolve().parents[1]

# (source name, path under the datasets folder), in output order.
SOURCES = [
    ("sst2", "sst2/train.tsv"),
    ("books", "multi-domain/books/train.tsv"),
    ("dvd", "multi-domain/dvd/train.tsv"),
    ("electronics", "multi-domain/electronics/train.tsv"),
    ("kitchen", "multi-domain/kitchen/train.tsv"),
    ("uci-amazon", "uci-sentences/amazon_cells_labelled.txt"),
    ("uci-imdb", "uci-sentences/imdb_labelled.txt"),
    ("uci-yelp", "uci-sentences/yelp_labelled.txt"),
]


NEUTRAL_BAND = 0.5  # VADER ground truth: |mean rating| below this is neutral and left out


def read_vader_ground_truth(path: Path, band: float = NEUTRAL_BAND) -> list[tuple[str, int]]:
    """(text, label) from a VADER ground-truth file (``id<TAB>mean rating<TAB>text``, -4..+4).

    Ratings at or above ``band`` are positive, at or below ``-band`` negative, the rest dropped.
    """
    rows = []
    with open(path, encoding="utf-8", newline="") as handle:
        for number, line in enumerate(handle, 1):
            parts = line.rstrip("\r\n").split("\t", 2)
            if len(parts) != 3:
                raise SystemExit(f"{path}:{number}: expected id<TAB>rating<TAB>text")
            rating, text = float(parts[1]), parts[2].strip()
            if abs(rating) >= band and text:
                rows.append((text, int(rating > 0)))
    return rows


def build(datasets: Path, output: Path) -> list[tuple[str, int, int, int, str]]:
    """Write the corpus to ``output`` atomically; return (source, rows, negatives, positives, sha256) per source."""
    rows: list[tuple[str, int, str]] = []
    summary = []
    for source, relative in SOURCES:
        if relative.startswith("vader-ground-truth/"):
            pairs = read_vader_ground_truth(datasets / relative)
            rows.extend((text, label, source) for text, label in pairs)
            negatives = sum(1 for _, label in pairs if label == 0)
            sha = hashlib.sha256((datasets / relative).read_bytes()).hexdigest()
            summary.append((source, len(pairs), negatives, len(pairs) - negatives, sha))
            continue
        dataset = load_dataset([datasets / relative], min_rows=1)
        rows.extend((text, label, source) for text, label in zip(dataset.texts, dataset.labels))
        counts = dataset.counts()
        summary.append((source, len(dataset), counts[0], counts[1], dataset.files[0].sha256))

    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    with open(tmp, "wb") as raw:
        # filename and mtime fixed so the gzip header does not depend on where or when we ran
        with gzip.GzipFile(filename="corpus.tsv", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as packed:
            with io.TextIOWrapper(packed, encoding="utf-8", newline="") as text:
                writer = csv.writer(text, delimiter="\t", lineterminator="\n")
                writer.writerow(["text", "label", "source"])
                for text_value, label, source in rows:
                    writer.writerow([text_value, label, source])

    check = load_dataset([tmp], min_rows=1)
    if check.texts != [r[0] for r in rows] or check.labels != [r[1] for r in rows]:
        tmp.unlink()
        raise SystemExit("round trip failed: the written corpus does not read back identically")
    os.replace(tmp, output)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--output", type=Path, default=ROOT / "src" / "sentikit" / "resources" / "corpus.tsv.gz")
    args = parser.parse_args()
    summary = build(args.datasets, args.output)
    print("| source | rows | negative | positive | input SHA-256 |")
    print("| --- | ---: | ---: | ---: | --- |")
    for source, total, negatives, positives, sha in summary:
        print(f"| {source} | {total:,} | {negatives:,} | {positives:,} | `{sha[:16]}…` |")
    total = sum(s[1] for s in summary)
    digest = hashlib.sha256(args.output.read_bytes()).hexdigest()
    print(f"\n{args.output}: {total:,} rows, {args.output.stat().st_size:,} bytes, sha256 {digest}", file=sys.stderr)


if __name__ == "__main__":
    main()
