"""Scoring inside Apache Spark: the same model, exactly the same scores, where the data lives.

``score(df)`` adds a score and a label column to a Spark DataFrame, batch or streaming;
``score_files(...)`` is what ``sentikit score --spark`` runs (read files, score, write a folder).
PySpark is the optional extra ``sentikit[spark]``: importing this package imports no PySpark;
each function imports it when called and raises :class:`~sentikit.errors.EnvironmentNotReadyError`
(exit 3) when PySpark, pyarrow/pandas or a Java runtime is missing.
"""

from __future__ import annotations

from .files import SparkScoreSummary, score_files
from .runtime import build_session, require_pyspark
from .scoring import score

__all__ = ["score", "score_files", "SparkScoreSummary", "build_session", "require_pyspark"]
