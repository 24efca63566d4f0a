"""Input lines to records: plain text (one text a line) or JSON Lines with text, timestamp and id fields."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional, Union

from ..errors import InvalidInputError
from .events import BadLine, Record

__all__ = ["InputFormat", "LineParser", "parse_timestamp"]

# Epoch values above this are taken as milliseconds (1e11 s is the year 5138).
_EPOCH_MS_CUTOFF = 1e11
_EXCERPT_CHARS = 200
_ISO_ACCEPTS_Z = sys.version_info >= (3, 11)  # datetime.fromisoformat reads "Z" itself since 3.11


def parse_timestamp(value: Any) -> float:
    """Epoch seconds from ISO 8601 text or epoch seconds (int, float or numeric text).

    Values above 1e11 are taken as epoch milliseconds; ISO times without an offset are UTC.
    Raises ``ValueError`` for anything else.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if "-" not in text[1:] and ":" not in text:  # numeric text: epoch seconds
            seconds = float(text)
        else:
            if text[-1:] in ("Z", "z") and not _ISO_ACCEPTS_Z:
                text = text[:-1] + "+00:00"
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            seconds = moment.timestamp()
    else:
        raise ValueError(f"not a timestamp: {value!r}")
    if not math.isfinite(seconds):
        raise ValueError(f"not a timestamp: {value!r}")
    return seconds / 1000.0 if abs(seconds) > _EPOCH_MS_CUTOFF else seconds


@dataclass(frozen=True)
class InputFormat:
    """How to read lines: ``text`` (one text a line), ``jsonl``, or ``auto`` (JSON when the first line is)."""

    kind: str = "auto"
    text_field: str = "text"
    time_field: str = "timestamp"
    id_field: str = "id"

    def __post_init__(self) -> None:
        if self.kind not in ("auto", "text", "jsonl"):
            raise InvalidInputError(f"unknown input format {self.kind!r} (use auto, text or jsonl)")


class LineParser:
    """Raw lines (bytes, without the newline) to :class:`Record` or :class:`BadLine`."""

    def __init__(self, fmt: InputFormat = InputFormat()) -> None:
        self.fmt = fmt
        self.json_mode: Optional[bool] = {"auto": None, "text": False, "jsonl": True}[fmt.kind]
        self.line = 0

    def parse(self, raw: bytes, arrival: float) -> Union[Record, BadLine, None]:
        """The record on this line, a BadLine, or None for a blank line."""
        self.line += 1
        line = self.line
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return BadLine(line=line, reason=f"not valid UTF-8 (byte {exc.start + 1})", excerpt=_excerpt(raw.decode("utf-8", "replace")))
        if text.endswith("\r"):
            text = text[:-1]
        if not text.strip():
            return None
        if self.json_mode is None:
            self.json_mode = text.lstrip().startswith("{")
        if not self.json_mode:
            return Record(text=text, line=line, time=arrival)
        return self._parse_json(text, line, arrival)

    def _parse_json(self, text: str, line: int, arrival: float) -> Union[Record, BadLine]:
        fmt = self.fmt
        try:
            obj = json.loads(text)
        except ValueError as exc:
            return BadLine(line=line, reason=f"invalid JSON ({getattr(exc, 'msg', exc)})", excerpt=_excerpt(text))
        except RecursionError:
            return BadLine(line=line, reason="JSON nested too deeply to read", excerpt=_excerpt(text))
        if not isinstance(obj, dict):
            return BadLine(line=line, reason="not a JSON object", excerpt=_excerpt(text))
        value = obj.get(fmt.text_field)
        if not isinstance(value, str):
            reason = f"no '{fmt.text_field}' field" if value is None else f"'{fmt.text_field}' is not a string"
            return BadLine(line=line, reason=reason, excerpt=_excerpt(text))
        if not value.strip():
            return BadLine(line=line, reason=f"'{fmt.text_field}' is empty", excerpt=_excerpt(text))
        when, stamped = arrival, False
        raw_time = obj.get(fmt.time_field)
        if raw_time is not None:
            try:
                when, stamped = parse_timestamp(raw_time), True
            except (ValueError, OverflowError, OSError):
                return BadLine(line=line, reason=f"'{fmt.time_field}' is not ISO 8601 or epoch seconds", excerpt=_excerpt(text))
        raw_id = obj.get(fmt.id_field)
        return Record(text=value, line=line, time=when, id=None if raw_id is None else str(raw_id), timestamped=stamped)


def _excerpt(text: str) -> str:
    return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "…"
