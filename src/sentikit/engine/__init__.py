"""The scoring engine: what runs in the container.

``scorer`` builds the pure-Python scorer from a ``scorer.json`` spec, ``scorer_file`` reads and
writes that file, ``ngrams`` and ``text`` are the tokenising rules training and scoring share,
``lexicon`` the VADER prior. Two modules serve training only and need scikit-learn, so they are
not imported here: ``features`` (the pipeline's own transformers) and ``export`` (fitted
pipeline -> ``scorer.json``).
"""

from __future__ import annotations

from ..errors import UnsupportedPipelineError
from .scorer import Calibration, Explanation, Scorer, load_scorer, read_scorer
from .scorer_file import FORMAT, FORMAT_VERSION, MAGIC, READABLE_VERSIONS, SortedTerms, scorer_spec_from_bytes

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MAGIC",
    "READABLE_VERSIONS",
    "Calibration",
    "Explanation",
    "Scorer",
    "SortedTerms",
    "UnsupportedPipelineError",
    "load_scorer",
    "read_scorer",
    "scorer_spec_from_bytes",
]
