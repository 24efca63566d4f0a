"""Concurrent requests are scored together (sentikit.server.batching), each still getting its own scores."""

from __future__ import annotations

import asyncio
import http.client
import json
import signal
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from sentikit.model import SentimentModel
from sentikit.server.batching import ScoreBatcher


class Recorder:
    """A score function that remembers each call's texts; texts containing "boom" make it raise."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> list[float]:
        self.calls.append(list(texts))
        if any("boom" in t for t in texts):
            raise ValueError("boom")
        return [float(len(t)) for t in texts]


def test_requests_of_one_turn_are_scored_in_one_call() -> None:
    recorder = Recorder()
    batcher = ScoreBatcher(recorder, max_chars=1000)

    async def main() -> list[list[float]]:
        return await asyncio.gather(batcher.score(["a"]), batcher.score(["bb", "ccc"]), batcher.score(["dddd"]))

    assert asyncio.run(main()) == [[1.0], [2.0, 3.0], [4.0]]
    assert recorder.calls == [["a", "bb", "ccc", "dddd"]]


def test_requests_of_later_turns_make_new_batches() -> None:
    recorder = Recorder()
    batcher = ScoreBatcher(recorder, max_chars=1000)

    async def main() -> list[list[float]]:
        first = await batcher.score(["a"])
        second = await batcher.score(["bb"])
        return [first, second]

    assert asyncio.run(main()) == [[1.0], [2.0]]
    assert recorder.calls == [["a"], ["bb"]]


def test_a_batch_is_bounded_in_characters() -> None:
    recorder = Recorder()
    batcher = ScoreBatcher(recorder, max_chars=5)

    async def main() -> list[list[float]]:
        return await asyncio.gather(*(batcher.score([t]) for t in ("aa", "bb", "cc", "dddddd", "e")))

    assert asyncio.run(main()) == [[2.0], [2.0], [2.0], [6.0], [1.0]]
    # "cc" would take the first batch past 5 characters; a text longer than the bound is a batch alone
    assert recorder.calls == [["aa", "bb"], ["cc"], ["dddddd"], ["e"]]


def test_one_failing_request_fails_alone() -> None:
    recorder = Recorder()
    batcher = ScoreBatcher(recorder, max_chars=1000)

    async def main() -> list[Any]:
        return await asyncio.gather(batcher.score(["fine"]), batcher.score(["boom"]), batcher.score(["ok"]),
                                    return_exceptions=True)

    good, bad, other = asyncio.run(main())
    assert good == [4.0] and other == [2.0]
    assert isinstance(bad, ValueError)
    assert recorder.calls[0] == ["fine", "boom", "ok"]  # the merged call, then one call each
    assert sorted(map(tuple, recorder.calls[1:])) == [("boom",), ("fine",), ("ok",)]


def test_a_cancelled_request_is_not_scored() -> None:
    recorder = Recorder()
    batcher = ScoreBatcher(recorder, max_chars=1000)

    async def main() -> list[float]:
        gone = asyncio.ensure_future(batcher.score(["client went away"]))
        kept = asyncio.ensure_future(batcher.score(["kept"]))
        await asyncio.sleep(0)  # both are waiting for the batch now
        gone.cancel()
        return await kept

    assert asyncio.run(main()) == [4.0]
    assert recorder.calls == [["kept"]]


@pytest.mark.slow
def test_concurrent_requests_to_a_real_server_get_their_own_scores(
    start_server: Any, model_dir: Path, model: SentimentModel
) -> None:
    """Many connections at once: every answer is the score of its own text, as scored alone."""
    texts = [f"the host was {word} and the flat was {other}" for word in ("lovely", "rude", "late", "kind")
             for other in ("spotless", "dirty", "noisy", "fine", "cold")] * 3
    expected = [repr(float(s)) for s in (model.score([t])[0] for t in texts)]
    server = start_server(str(model_dir), "--no-access-log")
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")

    def get(i: int) -> str:
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            if i % 2:
                connection.request("GET", "/analyze?text=" + urllib.parse.quote(texts[i]))
                return connection.getresponse().read().decode()
            connection.request("POST", "/v1/score", json.dumps({"texts": [texts[i]]}), {"Content-Type": "application/json"})
            return repr(json.loads(connection.getresponse().read())["scores"][0])
        finally:
            connection.close()

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(get, range(len(texts))))
    assert answers == expected
    metrics = urllib.request.urlopen(server.url + "/metrics", timeout=10).read().decode().splitlines()
    assert f"sentikit_texts_scored_total {len(texts)}" in metrics
    code, stderr = server.stop()
    assert code == -signal.SIGTERM and "Traceback" not in stderr
