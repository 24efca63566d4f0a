"""Unlabelled posts for adaptation: sources of texts with a lineage, and near-duplicates collapsed.

A source is anything with :meth:`UnlabelledSource.texts` (an iterable of posts) and
:meth:`UnlabelledSource.lineage` (what to record in the manifest, asked once the texts are read),
so a store of monitored posts is a few lines beside :class:`FileSource`: :class:`StoreSource` reads
the desk's store (``monitor.db``, :mod:`sentikit.monitor.store`), the posts of a period.

:class:`FileSource` reads with the data readers (:mod:`sentikit.data`: gzip by magic bytes, ``-``
for stdin, UTF-8/UTF-16, bounded lines, SHA-256 of the raw bytes): CSV, TSV or JSON Lines with a
text column (auto-detected, or ``text_column``), headerless ``text<TAB>label`` files (the label is
ignored), or plain lines, one post each. A file that is not ``.csv``/``.tsv``/``.jsonl`` and whose
first line names no text column is read as plain lines.

:func:`collect` keeps one copy of each post under :func:`dedup_key`: lower case, URLs and
mentions dropped, ``RT @name:`` prefixes and punctuation dropped, blanks collapsed. Fifty retweets of one complaint are one post, so they weigh once.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Protocol, Sequence, TextIO, Union

from .data import detect_format
from .data.formats import open_table, scoring_records
from .data.labels import TEXT_COLUMNS
from .data.sources import Source, decode_head
from .errors import DataError, InvalidInputError

__all__ = ["FileSource", "StoreSource", "UnlabelledPosts", "UnlabelledSource", "collect", "dedup_key", "open_sources",
           "parse_time"]

_STRUCTURED = (".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".json")
_RETWEET = re.compile(r"^(?:rt\s+xxuser\s*:?\s*)+")
_ENTITIES = re.compile(r"\b(?:xxuser|xxurl)\b")
_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]+")  # ASCII punctuation; emoji and letters stay
_BLANKS = re.compile(r"\s+")
_normalizer: list[Any] = []
_SQLITE_MAGIC = b"SQLite format 3\x00"
MAX_STORE_POSTS = 1_000_000  # newest first: a store of more posts in the period gives its newest million


class UnlabelledSource(Protocol):
    """Posts without labels, and the description of where they came from."""

    def texts(self) -> Iterator[str]:
        """Every post, in order (blank ones included; :func:`collect` drops them)."""
        ...

    def lineage(self) -> dict[str, Any]:
        """What the manifest records about this source (asked after :meth:`texts` is exhausted)."""
        ...


class FileSource:
    """A file of posts (or ``-``, standard input), read with the data readers."""

    def __init__(self, path: Union[str, Path], *, text_column: Optional[str] = None, stdin: Optional[TextIO] = None) -> None:
        self.path = str(path)
        self.text_column = text_column
        self.stdin = stdin
        self._lineage: dict[str, Any] = {"kind": "file", "path": self.path}

    def texts(self) -> Iterator[str]:
        rows = 0
        with Source(self.path, self.stdin) as source:
            fmt = detect_format(Path(source.name), source.head)
            if self._plain(source, fmt):
                fmt, column = "lines", None
                records: Iterator[str] = (line.rstrip("\r\n") for line in source.lines())
            else:
                table = open_table(source)
                fmt = table.format
                column, rows_iter = scoring_records(table, self.text_column)
                records = (text for _, _, text in rows_iter)
            for text in records:
                rows += 1
                yield text
            self._lineage = {"kind": "file", "path": self.path, "sha256": source.sha256(), "rows": rows,
                             "format": fmt, "text_column": column}

    def lineage(self) -> dict[str, Any]:
        return dict(self._lineage)

    def _plain(self, source: Source, fmt: str) -> bool:
        """One post per line: not a structured file name, and a first line that names no text column."""
        if fmt != "csv" or self.text_column is not None:
            return False
        suffixes = [s.lower() for s in Path(source.name).suffixes if s.lower() != ".gz"]
        if suffixes and suffixes[-1] in _STRUCTURED:
            return False
        first = next((line for line in decode_head(source.head).lstrip("\ufeff").splitlines() if line.strip()), "")
        header = next(csv.reader([first]), [])
        return not any(name.strip().casefold() in TEXT_COLUMNS for name in header)


class StoreSource:
    """The posts a desk store (``sentikit serve --monitor``) holds with event time in ``[since, until)``."""

    def __init__(self, path: Union[str, Path], *, since: Optional[float] = None, until: Optional[float] = None) -> None:
        self.path, self.since, self.until = str(path), since, until
        self._lineage: dict[str, Any] = {"kind": "store", "path": self.path}

    def texts(self) -> Iterator[str]:
        from .monitor.store import open_store

        store = open_store(self.path)
        try:
            rows = store.texts_between(self.since, self.until, None, MAX_STORE_POSTS)
        finally:
            store.close()
        digest = hashlib.sha256()
        for text, _ in reversed(rows):  # oldest first
            digest.update(text.encode("utf-8") + b"\n")
            yield text
        self._lineage = {"kind": "store", "path": self.path, "since": _iso(self.since), "until": _iso(self.until),
                         "rows": len(rows), "sha256": digest.hexdigest(), "format": "store", "text_column": "text"}

    def lineage(self) -> dict[str, Any]:
        return dict(self._lineage)


def parse_time(text: Optional[str], flag: str) -> Optional[float]:
    """Seconds since the epoch from an ISO 8601 date or time (UTC unless it says otherwise)."""
    from datetime import datetime, timezone

    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(f"{flag} must be an ISO 8601 date or time such as 2026-12-01 or 2026-12-01T09:00Z, got '{text}'") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _iso(ts: Optional[float]) -> Optional[str]:
    from datetime import datetime, timezone

    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


def _is_store(path: str) -> bool:
    if path.startswith(("postgresql://", "postgres://")):
        raise InvalidInputError("a PostgreSQL store cannot be read yet: the desk's store here is SQLite (monitor.db)")
    try:
        with open(path, "rb") as handle:
            return handle.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False  # FileSource reports it


def open_sources(paths: Sequence[str], *, text_column: Optional[str] = None, stdin: Optional[TextIO] = None,
                 since: Optional[str] = None, until: Optional[str] = None) -> list[UnlabelledSource]:
    """A source per path: a desk store (an SQLite file) or a file of posts (``-`` at most once).

    ``since``/``until`` (ISO 8601) choose the period of a store's posts; they are an error without one.
    """
    if not paths:
        raise InvalidInputError("no unlabelled files given")
    if list(paths).count("-") > 1:
        raise InvalidInputError("standard input (-) can be read only once")
    start, end = parse_time(since, "--since"), parse_time(until, "--until")
    if start is not None and end is not None and start >= end:
        raise InvalidInputError(f"--since ({since}) must be before --until ({until})")
    stores = [p != "-" and _is_store(p) for p in paths]
    if (start is not None or end is not None) and not any(stores):
        raise InvalidInputError("--since and --until choose the posts of a monitor store (monitor.db); no store was given")
    return [StoreSource(p, since=start, until=end) if store else FileSource(p, text_column=text_column, stdin=stdin)
            for p, store in zip(paths, stores)]


def dedup_key(text: str) -> str:
    """The hash two near-duplicate posts (retweets, case, links, mentions, punctuation) share."""
    if not _normalizer:
        from .engine.text import SocialNormalizer

        _normalizer.append(SocialNormalizer(["entities", "urls", "mentions", "elongation"], lowercase=True, strip_accents="unicode"))
    normal = _ENTITIES.sub(" ", _RETWEET.sub("", _normalizer[0](text).strip()))
    normal = _BLANKS.sub(" ", _PUNCTUATION.sub(" ", normal)).strip()
    return hashlib.blake2b(normal.encode("utf-8"), digest_size=12).hexdigest()


@dataclass
class UnlabelledPosts:
    """The distinct posts of one or more sources, with how many copies each had."""

    texts: list[str]
    copies: list[int]
    read: int  # posts read, blanks included
    blank: int
    sources: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def duplicates(self) -> int:
        """Posts collapsed into an earlier near-duplicate."""
        return self.read - self.blank - len(self.texts)

    def lineage(self) -> dict[str, Any]:
        return {"sources": self.sources, "read": self.read, "blank": self.blank, "duplicates": self.duplicates,
                "used": len(self.texts)}


def collect(sources: Sequence[UnlabelledSource], *, min_posts: int = 1,
            progress: Optional[Callable[[int], None]] = None) -> UnlabelledPosts:
    """Read every source, drop blank posts, keep the first of each near-duplicate group.

    Raises:
        DataError: a source is unreadable, or fewer than ``min_posts`` usable posts remain.
    """
    where: dict[str, int] = {}
    texts: list[str] = []
    copies: list[int] = []
    read = blank = 0
    lineages = []
    for source in sources:
        for text in source.texts():
            read += 1
            if progress is not None and read % 1000 == 0:
                progress(1000)
            text = text.strip()
            if not text:
                blank += 1
                continue
            key = dedup_key(text)
            index = where.get(key)
            if index is None:
                where[key] = len(texts)
                texts.append(text)
                copies.append(1)
            else:
                copies[index] += 1
        lineages.append(source.lineage())
    posts = UnlabelledPosts(texts, copies, read, blank, lineages)
    if len(posts) < min_posts:
        names = ", ".join(str(s.get("path", s.get("kind", "?"))) for s in lineages)
        detail = f"{read} read, {blank} blank, {posts.duplicates} near-duplicates"
        raise DataError(f"too few usable unlabelled posts in {names}: {len(posts)} ({detail}; need at least {min_posts})")
    return posts
