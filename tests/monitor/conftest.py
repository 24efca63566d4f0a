"""Fixtures for `sentikit monitor`: real texts, a deterministic scorer, a real local webhook receiver."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from _datasets import corpus_rows


def _uci_rows() -> list[tuple[str, int]]:
    """Real labelled sentences, without duplicates (a text never appears with two labels)."""
    rows: dict[str, int] = {}
    for source in ("uci-yelp", "uci-amazon", "uci-imdb"):
        for text, label in corpus_rows(source):
            text = text.strip()
            if text and text not in rows:
                rows[text] = label
    return list(rows.items())


class LabelScorer:
    """Scores real UCI sentences by their human label (0.9 positive, 0.1 negative).

    A scorer is a parameter production code takes (any object with ``score``), so this is
    the same seam a RemoteScorer or a model uses; it makes positions exactly predictable.
    """

    def __init__(self, rows: list[tuple[str, int]]) -> None:
        self.table = {text: (0.9 if label else 0.1) for text, label in rows}
        self.calls: list[int] = []

    def score(self, texts: list[str]) -> list[float]:
        self.calls.append(len(texts))
        return [self.table[text] for text in texts]


@pytest.fixture(scope="session")
def uci_texts() -> tuple[list[str], list[str]]:
    """(positive, negative) real sentences from the UCI data."""
    rows = _uci_rows()
    positives = [t for t, label in rows[600:] if label == 1]
    negatives = [t for t, label in rows[600:] if label == 0]
    return positives, negatives


@pytest.fixture
def label_scorer() -> LabelScorer:
    return LabelScorer(_uci_rows())


@pytest.fixture(scope="session")
def model_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's trained model; until the scoring engine exists, a real pipeline-only model."""
    import importlib.util

    if importlib.util.find_spec("sentikit.engine") is not None:
        return Path(request.getfixturevalue("trained_model_dir"))
    return _pipeline_only_model(tmp_path_factory.mktemp("monitor-workspace"))


def _pipeline_only_model(workspace: Path) -> Path:
    import joblib
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from sentikit.model import register_model

    rows = _uci_rows()[:1500]
    pipeline = Pipeline([("tfidf", TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2))), ("clf", LogisticRegression(C=4.0))])
    pipeline.fit([t for t, _ in rows], [label for _, label in rows])

    def write(directory: Path) -> dict[str, Any]:
        joblib.dump(pipeline, directory / "pipeline.joblib")
        return {"metrics": {}}

    return register_model(workspace, "sentiment", write).path


@pytest.fixture(scope="session")
def clear_texts(model_dir: Path) -> tuple[list[str], list[str]]:
    """Real sentences the real model scores clearly (>0.75 / <0.25), 60 of each."""
    from sentikit.model import load_model

    model = load_model(model_dir)
    rows = _uci_rows()[600:]
    scores = model.score([t for t, _ in rows])
    positives = [t for (t, label), s in zip(rows, scores) if label == 1 and s > 0.75 and "\n" not in t]
    negatives = [t for (t, label), s in zip(rows, scores) if label == 0 and s < 0.25 and "\n" not in t]
    assert len(positives) >= 60 and len(negatives) >= 60, (len(positives), len(negatives))
    return positives[:60], negatives[:60]


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records POSTed JSON and answers with ``statuses`` in turn."""

    url: str
    bodies: list[Any] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers to give, then 200s
    delay: float = 0.0
    received: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            state.bodies.append(json.loads(body))
            state.headers.append(dict(self.headers))
            if state.delay:
                threading.Event().wait(state.delay)
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
            state.received.set()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/T0123/secret-token"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (the port was just released)."""
    from conftest import free_port

    return f"http://127.0.0.1:{free_port()}/hook"
