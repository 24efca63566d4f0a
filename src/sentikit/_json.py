"""The one conversion of sentikit's results to plain JSON values (CLI --json, the server, monitor events)."""

from __future__ import annotations

import dataclasses
from pathlib import PurePath
from typing import Any, Optional


def to_jsonable(value: Any, *, float_digits: Optional[int] = None) -> Any:
    """``value`` as JSON-ready data: objects with ``to_dict()``, dataclasses (fields starting with ``_``
    left out), mappings, lists and tuples, paths as strings, numpy scalars as Python numbers.

    ``float_digits`` rounds every float (monitor events use 6), ``None`` keeps them as they are.
    """
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and not isinstance(value, type):
        return to_jsonable(to_dict(), float_digits=float_digits)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name), float_digits=float_digits)
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")
        }
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, float_digits=float_digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, float_digits=float_digits) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if not isinstance(value, (str, bytes, int, float, bool)) and callable(getattr(value, "item", None)):
        value = value.item()  # numpy scalars
    if float_digits is not None and isinstance(value, float):
        return round(value, float_digits)
    return value
