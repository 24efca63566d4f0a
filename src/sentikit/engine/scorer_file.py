"""The exported scorer's file (``scorer.json``): its format versions, reading and writing format 3,
and the sorted-terms view a progressive load scores with. Standard library only: the serving image
reads it; :mod:`sentikit.engine.export` writes it; :mod:`sentikit.engine.scorer` turns the spec into a scorer."""

from __future__ import annotations

import base64
import bisect
import json
import sys
from array import array
from collections.abc import Mapping as MappingABC
from typing import Any, Iterator, cast

from ..errors import ModelIntegrityError

FORMAT = "sentikit-linear-text"
# 3: format 2's spec in a binary file (see scorer_spec_from_bytes): a JSON header, then each vectorizer's terms
# (UTF-8) and values (float64) as raw bytes, so loading parses no large JSON, base64 or gzip.
# 2: each vectorizer's terms as one "\n"-joined string (a list when a term holds a line break) and
# its "values" (norm weight, logit weight per term) precomputed; 1: "idf" and "coef" per term.
FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
# A format-3 file starts with MAGIC, then the header's length (4 bytes, little-endian), the header
# (UTF-8 JSON: the spec, each large field replaced by {"blob": i}, and "blobs": their byte lengths),
# then the blobs, back to back.
MAGIC = FORMAT.encode("ascii") + b"\x00"
BLOB_FIELDS = ("terms", "values", "order")


def decode_floats(encoded: str | bytes | memoryview) -> array[float]:
    """Little-endian float64s, as raw bytes (format 3) or base64 (the JSON formats)."""
    data = array("d")
    data.frombytes(base64.b64decode(encoded) if isinstance(encoded, str) else encoded)
    if sys.byteorder != "little":
        data.byteswap()
    return data


class SortedTerms(MappingABC[str, complex]):
    """A vocabulary read-only view answering by binary search over its terms in sorted order.

    What a progressive load scores with until the vocabulary dict is built (a few µs per lookup
    instead of ~50 ns, but no 157k-entry dict to build first). ``index`` is a term's place in the
    exported ``terms``, so feature numbers agree with the dict's."""

    __slots__ = ("terms", "norms", "logits", "order")

    def __init__(self, terms: list[str], norms: array[float], logits: array[float], order: array[int]) -> None:
        # no sorted copy of the terms: building one touches 157k strings in random order (~20-40 ms)
        self.terms, self.norms, self.logits, self.order = terms, norms, logits, order

    def index(self, term: str) -> int:
        """``term``'s place in ``terms``; ``KeyError`` if it is not one."""
        order, terms = self.order, self.terms
        k = bisect.bisect_left(order, term, key=terms.__getitem__)
        if k < len(order) and terms[order[k]] == term:
            return order[k]
        raise KeyError(term)

    def value_at(self, index: int) -> complex:
        return complex(self.norms[index], self.logits[index])

    def __getitem__(self, term: str) -> complex:
        return self.value_at(self.index(term))

    def get(self, term: str, default: Any = None) -> Any:
        try:
            return self.value_at(self.index(term))
        except KeyError:
            return default

    def __contains__(self, term: object) -> bool:
        if not isinstance(term, str):
            return False
        order, terms = self.order, self.terms
        k = bisect.bisect_left(order, term, key=terms.__getitem__)
        return k < len(order) and terms[order[k]] == term

    def __len__(self) -> int:
        return len(self.terms)

    def __iter__(self) -> Iterator[str]:
        return iter(self.terms)


def decode_order(encoded: str | bytes | memoryview, count: int) -> array[int]:
    """A permutation of ``range(count)`` as little-endian uint32s (format 3's "order")."""
    order = array("I")
    if order.itemsize != 4:
        order = array("L")
        if order.itemsize != 4:
            raise ModelIntegrityError("scorer: this platform has no 4-byte array type")
    order.frombytes(base64.b64decode(encoded) if isinstance(encoded, str) else encoded)
    if sys.byteorder != "little":
        order.byteswap()
    if len(order) != count or (count and max(order) >= count):
        raise ModelIntegrityError("scorer: a vectorizer's term order does not match its terms")
    return order


def scorer_spec_from_bytes(data: bytes) -> dict[str, Any]:
    """The spec an exported file holds; format 3's blobs become ``memoryview`` slices of ``data``.

    Raises ``ValueError`` (or ``EOFError`` for truncated gzip) on anything malformed."""
    if not data.startswith(MAGIC):
        if data[:2] == b"\x1f\x8b":
            import gzip  # formats 1 and 2 only
            import zlib

            try:
                data = gzip.decompress(data)
            except (OSError, zlib.error) as exc:
                raise ValueError(f"corrupt gzip data: {exc}") from None
        return cast(dict[str, Any], json.loads(data))
    start = len(MAGIC) + 4
    header_length = int.from_bytes(data[len(MAGIC) : start], "little")
    if len(data) < start + header_length:
        raise ValueError("truncated header")
    spec = json.loads(data[start : start + header_length])
    lengths = spec.pop("blobs", None) if isinstance(spec, dict) else None
    if not isinstance(lengths, list) or not all(type(n) is int and n >= 0 for n in lengths):
        raise ValueError("no valid blob lengths in the header")
    if start + header_length + sum(lengths) != len(data):
        raise ValueError(f"{len(data)} bytes, but the header describes {start + header_length + sum(lengths)}")
    view = memoryview(data)
    blobs, offset = [], start + header_length
    for length in lengths:
        blobs.append(view[offset : offset + length])
        offset += length
    for vectorizer in spec.get("vectorizers", ()):
        for name in BLOB_FIELDS:
            reference = vectorizer.get(name) if isinstance(vectorizer, dict) else None
            if isinstance(reference, dict):
                index = reference.get("blob")
                if type(index) is not int or not 0 <= index < len(blobs):
                    raise ValueError(f"{name}: no blob {index!r}")
                vectorizer[name] = blobs[index]
    return cast(dict[str, Any], spec)


def encode_scorer(spec: dict[str, Any]) -> bytes:
    """A spec (as :func:`scorer_spec` makes it) as a format-3 file: ``MAGIC``, the header's
    length, the JSON header, then each vectorizer's terms, values and terms' sorted order as raw bytes.

    Uncompressed on purpose: gzip, JSON and base64 were ~60% of the time to load the default model,
    and the registry compresses image layers anyway (bench/README.md). The same spec always gives
    the same bytes, hence the same manifest checksum."""
    header = {key: value for key, value in spec.items() if key != "vectorizers"}
    header["format_version"] = FORMAT_VERSION
    blobs: list[bytes] = []
    vectorizers = []
    for vectorizer in spec["vectorizers"]:
        vectorizer = dict(vectorizer)
        terms = vectorizer.get("terms")
        if terms is not None and "values" in vectorizer:
            # the terms' sorted order, for a progressive load's binary search (engine.SortedTerms)
            listed = terms.split("\n") if isinstance(terms, str) and terms else terms if isinstance(terms, list) else []
            order = array("I", sorted(range(len(listed)), key=listed.__getitem__))
            if sys.byteorder != "little":
                order.byteswap()
            vectorizer["order"] = base64.b64encode(order.tobytes()).decode("ascii")
        for name in BLOB_FIELDS:
            value = vectorizer.get(name)
            if isinstance(value, str):
                blob = value.encode("utf-8") if name == "terms" else base64.b64decode(value)
                vectorizer[name] = {"blob": len(blobs)}
                blobs.append(blob)
        vectorizers.append(vectorizer)
    header["vectorizers"] = vectorizers
    header["blobs"] = [len(blob) for blob in blobs]
    encoded = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return b"".join([MAGIC, len(encoded).to_bytes(4, "little"), encoded, *blobs])
