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


class LexiconFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """The lexicon prior (``sentikit.engine.lexicon``) as three columns: lexicon_sum, lexicon_pos, lexicon_neg.

    ``preprocessor`` is the vectorizers' own (a ``SocialNormalizer``), so the lexicon sees the same
    words they do; ``scope`` is the negation reach. The lexicon is copied in at fit time, so the
    pickled pipeline and the exported scorer do not depend on the installed resource file.
    """

    def __init__(self, preprocessor: Any = None, scope: int = 5) -> None:
        self.preprocessor = preprocessor
        self.scope = scope

    def fit(self, X: Any, y: Any = None) -> "LexiconFeatures":
        from .lexicon import vader_lexicon

        self.lexicon_ = dict(vader_lexicon())
        self.n_features_in_ = 1
        return self

    def prior(self) -> Any:
        from .lexicon import LexiconPrior

        prior = getattr(self, "_prior", None)
        if prior is None:
            prior = self._prior = LexiconPrior(self.lexicon_, self.scope)
        return prior

    def preprocess(self, text: str) -> str:
        return self.preprocessor(text) if self.preprocessor is not None else text.lower()

    def transform(self, X: Any) -> Any:
        import scipy.sparse

        prior = self.prior()
        rows = [prior.features(self.preprocess(text)) for text in X]
        return scipy.sparse.csr_matrix(numpy.asarray(rows, dtype=numpy.float64).reshape(len(rows), 3))

    def get_feature_names_out(self, input_features: Any = None) -> Any:
        from .lexicon import FEATURE_NAMES

        return numpy.asarray(FEATURE_NAMES, dtype=object)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_prior", None)
        return state
