"""Real labelled text for tests, wherever the repository is cloned.

The bundled corpus (data/corpus.tsv.gz) holds the UCI sentences and the multi-domain train splits
exactly as ../shared/datasets has them (same texts, labels and order; data/README.md), so fixtures
read them from there. Only tests about the shared files themselves, or the dev splits the corpus
leaves out, need ../shared: they are marked ``needs_shared``.
"""

from __future__ import annotations

import csv
import functools
import gzip
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "corpus.tsv.gz"
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"
needs_shared = pytest.mark.skipif(not SHARED_DATASETS.is_dir(), reason="no ../shared/datasets next to this clone")


@functools.cache
def _corpus_by_source() -> dict[str, list[tuple[str, int]]]:
    csv.field_size_limit(1 << 24)  # multi-domain reviews can be long
    rows: dict[str, list[tuple[str, int]]] = {}
    with gzip.open(CORPUS, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            rows.setdefault(row["source"], []).append((row["text"], int(row["label"])))
    return rows


def corpus_rows(source: str) -> list[tuple[str, int]]:
    """(text, label) rows of one source of the bundled corpus: "uci-amazon", "kitchen", "sst2", ..."""
    return _corpus_by_source()[source]
