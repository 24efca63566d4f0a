"""Moved to :mod:`sentikit.remote`; this name stays importable for existing code."""

from .remote import DEFAULT_BATCH as DEFAULT_BATCH
from .remote import RemoteScorer as RemoteScorer

__all__ = ["RemoteScorer", "DEFAULT_BATCH"]
