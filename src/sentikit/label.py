"""Labelling a team's own posts: which post to ask about next, and answers saved at once.

:class:`LabelSession` holds the posts in the order to ask them, the answers so far, and writes
both after every answer (temp file + rename, so an interrupted session loses nothing and never
leaves a half-written file): the labelled CSV (``text,label`` with ``positive``/``negative``,
what ``sentikit adapt`` and ``train`` read) and a small state file beside it that also remembers
skipped posts and the answer order (for undo, and to resume where you stopped).

Order ``uncertain`` (default): the posts the model is least sure about first (score nearest 0.5),
skipping near-duplicates of posts already queued (word-set Jaccard >= 0.6) until the end, so fifty
copies of one retweet do not crowd out everything else. ``random``: a seeded shuffle, for an
unbiased test sample. ``file``: as in the file. ``adapt``: the posts that help ``sentikit adapt
--unlabelled`` most: those self-training cannot pseudo-label (scored inside its confidence cut-off)
first, the least certain first and a post with many copies (retweets) before a lone one as uncertain,
with the same near-duplicate rule; the posts it pseudo-labels anyway come last.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from ._atomic import atomic_output
from .errors import DataError, InvalidInputError

ORDERS = ("uncertain", "adapt", "random", "file")
LABELS = ("positive", "negative")
SKIP = "skip"
NEAR_DUPLICATE = 0.6
_DIVERSITY_WINDOW = 300  # compare a candidate with this many most recently queued posts
_WORDS = re.compile(r"\w+")


def state_path(output: Path) -> Path:
    """Where a session's state (answers in order, skips) lives, next to the labelled file."""
    return output.with_name(f".{output.name}.label-state.json")


def _words(text: str) -> frozenset[str]:
    return frozenset(w.lower() for w in _WORDS.findall(text))


def order_posts(texts: Sequence[str], scores: Sequence[float], order: str = "uncertain", seed: int = 42,
                copies: Optional[Sequence[int]] = None) -> list[int]:
    """Indices of ``texts`` in the order to ask (see the module docstring); ``copies``: of each post, for ``adapt``."""
    if order not in ORDERS:
        raise InvalidInputError(f"order must be one of {', '.join(ORDERS)}, got '{order}'")
    indices = list(range(len(texts)))
    if order == "file":
        return indices
    if order == "random":
        random.Random(seed).shuffle(indices)
        return indices
    if order == "adapt":
        from .selftrain import SelfTrainParams

        cutoff = SelfTrainParams().cutoff
        many = copies or [1] * len(texts)

        def need(i: int) -> tuple[bool, float, int]:
            certainty = abs(2.0 * scores[i] - 1.0)
            return (not 1.0 - cutoff < scores[i] < cutoff, -(1.0 - certainty) * math.log1p(many[i]), i)

        indices.sort(key=need)
    else:
        indices.sort(key=lambda i: (abs(scores[i] - 0.5), i))
    queued: list[int] = []
    recent: list[frozenset[str]] = []
    later: list[int] = []
    for i in indices:
        words = _words(texts[i])
        if words and any(len(words & w) / len(words | w) >= NEAR_DUPLICATE for w in recent[-_DIVERSITY_WINDOW:]):
            later.append(i)
            continue
        queued.append(i)
        recent.append(words)
    return queued + later


@dataclass
class LabelSession:
    """Posts to label, in order, and the answers so far (saved after each change)."""

    texts: list[str]
    scores: list[float]
    queue: list[int]
    output: Path
    answers: list[tuple[int, str]] = field(default_factory=list)  # (post index, positive/negative/skip)

    @classmethod
    def start(cls, texts: Sequence[str], scores: Sequence[float], output: Path, *, order: str = "uncertain", seed: int = 42,
              copies: Optional[Sequence[int]] = None) -> "LabelSession":
        """A session over ``texts``; resumes the answers already saved for ``output``."""
        session = cls(list(texts), list(scores), order_posts(texts, scores, order, seed, copies), Path(output))
        session._resume()
        return session

    def _resume(self) -> None:
        where: dict[str, int] = {}
        for i, text in enumerate(self.texts):
            where.setdefault(text, i)
        saved: list[tuple[str, str]] = []
        state = state_path(self.output)
        if state.is_file():
            try:
                saved = [(str(t), str(a)) for t, a in json.loads(state.read_text(encoding="utf-8"))["answers"]]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise DataError(f"{state}: unreadable label state ({exc}); delete it to start over") from None
        elif self.output.is_file():
            with open(self.output, encoding="utf-8", newline="") as handle:
                saved = [(row.get("text", ""), row.get("label", "")) for row in csv.DictReader(handle)]
        for text, answer in saved:
            if text in where and answer in (*LABELS, SKIP):
                self.answers.append((where[text], answer))

    @property
    def answered(self) -> set[int]:
        return {i for i, _ in self.answers}

    def current(self) -> Optional[int]:
        """The next post to ask about, or None when every post has an answer."""
        done = self.answered
        return next((i for i in self.queue if i not in done), None)

    def answer(self, label: str) -> None:
        """Record ``positive``, ``negative`` or ``skip`` for the current post, and save."""
        if label not in (*LABELS, SKIP):
            raise InvalidInputError(f"answer must be positive, negative or skip, got '{label}'")
        index = self.current()
        if index is None:
            raise InvalidInputError("every post is answered")
        self.answers.append((index, label))
        self.save()

    def undo(self) -> bool:
        """Take back the last answer (it becomes the current post again); False when there is none."""
        if not self.answers:
            return False
        self.answers.pop()
        self.save()
        return True

    def counts(self) -> dict[str, int]:
        out = {"positive": 0, "negative": 0, "skip": 0}
        for _, label in self.answers:
            out[label] += 1
        return out

    def save(self) -> None:
        """Write the labelled CSV and the state file, each atomically."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["text", "label"])
        for index, label in self.answers:
            if label != SKIP:
                writer.writerow([self.texts[index], label])
        with atomic_output(self.output, newline="") as handle:
            handle.write(buffer.getvalue())
        state = {"answers": [[self.texts[i], label] for i, label in self.answers]}
        with atomic_output(state_path(self.output)) as handle:
            handle.write(json.dumps(state, ensure_ascii=False) + "\n")
