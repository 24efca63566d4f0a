"""Feature transformers of our own for the training pipeline (imported only when training or unpickling).

``NBWeighting`` is the naive-Bayes feature scaling of NBSVM (Wang & Manning, ACL 2012): each
feature is multiplied by its log-count ratio ``r = log((p / |p|1) / (q / |q|1))``, where ``p`` and
``q`` are ``alpha`` plus the number of positive / negative training texts that contain the feature.
It is a fixed diagonal scaling, so the scoring engine folds it into the classifier's coefficients.
bench/quality.py measures what it buys (better cross-domain accuracy and calibration).
"""

from __future__ import annotations

from typing import Any

import numpy
from sklearn.base import BaseEstimator, TransformerMixin


class NBWeighting(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Scale features by their naive-Bayes log-count ratio (binary labels 0/1)."""

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def fit(self, X: Any, y: Any) -> "NBWeighting":
        labels = numpy.asarray(y)
        present = (X > 0).astype(numpy.float64)
        p = self.alpha + numpy.asarray(present[labels == 1].sum(axis=0)).ravel()
        q = self.alpha + numpy.asarray(present[labels == 0].sum(axis=0)).ravel()
        self.ratio_ = numpy.log((p / p.sum()) / (q / q.sum()))
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: Any) -> Any:
        return X.multiply(self.ratio_).tocsr() if hasattr(X, "multiply") else X * self.ratio_
