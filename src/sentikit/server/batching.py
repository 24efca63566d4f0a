"""Score the texts of concurrent requests together: one engine call per event-loop turn.

Under load many requests are ready in the same turn of the event loop (with 16 connections,
6-7 on average). Scored one by one, each request's texts run the whole engine (normaliser,
tokeniser, two vocabularies, the lexicon) between the network code of the others, and miss the
CPU caches every time: a text then cost twice what it costs in a loop. :class:`ScoreBatcher`
collects what the requests of one turn want scored and scores it in one
``Scorer.score`` call (one vectoriser at a time over the batch) at the end of the turn, then
hands each request its own scores. Measured with ``bench/serve.py``: see bench/README.md.

Nothing waits for a batch to fill: a request alone in its turn is scored in that same turn.
"""

from __future__ import annotations

import asyncio
from typing import Callable

ScoreFunction = Callable[[list[str]], list[float]]


class ScoreBatcher:
    """Merges the ``score(texts)`` calls made in one event-loop turn into one call of ``score_all``.

    ``max_chars`` bounds one batch's texts (in characters): past it, a new batch starts, scored
    right after the first, so one turn never blocks on an unbounded amount of work at once.
    A failure of the merged call is retried request by request, so that one request's bad
    input fails that request alone. Lives on one event loop's thread (no locks).
    """

    def __init__(self, score_all: ScoreFunction, max_chars: int) -> None:
        self._score_all = score_all
        self.max_chars = max_chars
        self._batch: list[tuple[list[str], asyncio.Future[list[float]]]] | None = None
        self._batch_chars = 0

    async def score(self, texts: list[str]) -> list[float]:
        """``score_all(texts)``, scored together with the other requests of this turn."""
        loop = asyncio.get_running_loop()
        chars = sum(map(len, texts))
        if self._batch is None or self._batch_chars + chars > self.max_chars:
            self._batch, self._batch_chars = [], 0
            loop.call_soon(self._flush, self._batch)
        future: asyncio.Future[list[float]] = loop.create_future()
        self._batch.append((texts, future))
        self._batch_chars += chars
        return await future

    def _flush(self, batch: list[tuple[list[str], asyncio.Future[list[float]]]]) -> None:
        if batch is self._batch:
            self._batch = None
        live = [(texts, future) for texts, future in batch if not future.done()]  # cancelled: client gone
        if not live:
            return
        if len(live) == 1:
            self._settle(*live[0])
            return
        try:
            scores = self._score_all([text for texts, _ in live for text in texts])
        except Exception:  # noqa: BLE001 - each request gets its own outcome below
            for texts, future in live:
                self._settle(texts, future)
            return
        start = 0
        for texts, future in live:
            future.set_result(scores[start : start + len(texts)])
            start += len(texts)

    def _settle(self, texts: list[str], future: asyncio.Future[list[float]]) -> None:
        try:
            future.set_result(self._score_all(texts))
        except Exception as exc:  # noqa: BLE001 - raised where the request awaits it
            future.set_exception(exc)
