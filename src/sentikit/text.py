"""Tokenising shared by training (inside scikit-learn's vectoriser) and the scoring engine.

Pure Python and importable without scikit-learn, so that the engine reproduces training exactly
by calling the very same code.
"""

from __future__ import annotations

import re
from typing import Any

# Words, keeping apostrophes inside them ("don't", "n't"), plus the punctuation that carries
# sentiment (! ?) or ends a negation's reach (. , ; :).
TOKEN_PATTERN = r"(?u)\b\w[\w']*\b|[!?.,;:]"
NEGATIONS = frozenset(
    "not no never nothing nobody none neither nor cannot without hardly n't".split()
)
_KEPT_PUNCTUATION = frozenset("!?")
_CLAUSE_ENDS = frozenset("!?.,;:")
NEGATED_PREFIX = "NOT_"  # upper case: never collides with the (lower-cased) tokens


class NegationTokenizer:
    """Split text into tokens and mark up to ``scope`` words after a negation with ``NOT_``.

    "this is not good, but fine" -> ["this", "is", "not", "NOT_good", "but", "fine"]: "good" after
    "not" then means something else than "good", which a bag of n-grams cannot see otherwise.
    The reach ends at clause punctuation. ``!`` and ``?`` are kept as tokens, other punctuation dropped.
    """

    def __init__(self, scope: int = 3, pattern: str = TOKEN_PATTERN) -> None:
        self.scope = scope
        self.pattern = pattern
        self._findall = re.compile(pattern).findall

    def __call__(self, text: str) -> list[str]:
        tokens: list[str] = []
        left = 0
        scope = self.scope
        for token in self._findall(text):
            if token in _CLAUSE_ENDS:
                left = 0
                if token in _KEPT_PUNCTUATION:
                    tokens.append(token)
                continue
            if left:
                tokens.append(NEGATED_PREFIX + token)
                left -= 1
            else:
                tokens.append(token)
            if token in NEGATIONS or token.endswith("n't"):
                left = scope
        return tokens

    def to_spec(self) -> dict[str, Any]:
        """The exported form the engine rebuilds this tokenizer from."""
        return {"kind": "negation", "scope": self.scope, "pattern": self.pattern}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "NegationTokenizer":
        if spec.get("kind") != "negation":
            raise ValueError(f"unknown tokenizer kind {spec.get('kind')!r}")
        return cls(int(spec["scope"]), str(spec["pattern"]))

    # Pickle the settings, not the compiled regex method.
    def __getstate__(self) -> dict[str, Any]:
        return {"scope": self.scope, "pattern": self.pattern}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["scope"], state["pattern"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"NegationTokenizer(scope={self.scope})"
