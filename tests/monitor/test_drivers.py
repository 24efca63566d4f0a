"""What is driving it (sentikit.monitor.drivers): terms over-represented in the negative posts AND
pushing their scores down in the model's own explanation; n-grams of function words left out."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Mapping

from sentikit.monitor import MonitorConfig
from sentikit.monitor.desk import Desk, DeskOptions
from sentikit.monitor.drivers import Terms, find_drivers, is_function_words
from sentikit.monitor.store import NewPost

CALM = [
    "Lovely flight this morning, the crew were so friendly and helpful",
    "Great service at the check-in desk, quick and easy as always",
    "Thank you for the upgrade, what a wonderful surprise",
    "Clean cabin, comfortable seats and we landed early. Perfect",
    "Loved the food on board, fresh and tasty",
]
# Longer than the calm posts and full of function words ("and the", "about", "about the"): the noise
# the old lift-only ranking listed first.
TURN = [
    "My flight was delayed again and the staff were rude about it, and the refund never came",
    "Delayed for hours and the crew were rude about the whole thing, I want a refund",
    "Rude staff at the gate, a delayed flight and no refund: what about the answers you promised",
    "Still waiting for a refund after the delayed flight, and the agents were rude about it",
    "Delayed again, rude agents, and the refund form is broken. Terrible, and about the worst airline",
]


def table(terms: dict[str, Mapping[str, float]]) -> Any:
    """A text's terms and contributions from a fixed table (the seam find_drivers takes)."""
    return lambda text: terms[text]


def test_only_terms_that_push_scores_down_are_drivers_ranked_by_lift_and_weight() -> None:
    negative = {f"n{i}": {"refund": -0.3, "and the": -0.4, "about": -0.2, "flight": 0.5, "rude": -1.2,
                          "hardly": -0.01} for i in range(6)}
    negative["n0"] = {**negative["n0"], "lost": -2.0}  # in one negative text only: not a driver
    before = {f"b{i}": {"rude": -1.2, "flight": 0.5} for i in range(3)} | {f"b{i}": {"flight": 0.5} for i in range(3, 12)}
    terms = table(negative | before)
    found = find_drivers(terms, list(negative), list(before))
    # "flight" (weighed up), "hardly" (under the minimum weight), "and the"/"about" (function words), "lost" (once): out
    assert [d.term for d in found] == ["rude", "refund"]
    rude, refund = found
    assert refund.negative == 1.0 and refund.baseline == 0.0 and refund.weight == -0.3
    assert refund.lift == (6.5 / 7) / (0.5 / 13) and rude.lift == (6.5 / 7) / (3.5 / 13)
    # refund is the newer (lift 24 against 3.4), but rude pushes scores down four times harder:
    # the rank is weight x log(lift)
    assert refund.lift > rude.lift and -1.2 * math.log(rude.lift) < -0.3 * math.log(refund.lift)
    assert refund.to_dict() == {"term": "refund", "negative": 1.0, "baseline": 0.0, "lift": round(refund.lift, 3),
                                "weight": -0.3}


def test_function_words() -> None:
    assert all(is_function_words(t) for t in ("and the", "about", "about the", "the", "don't", "was not"))
    assert not any(is_function_words(t) for t in ("refund", "the refund", "rude staff", "answers"))


def test_a_delayed_flight_turn_is_driven_by_its_complaints_not_its_function_words(tmp_path: Path, trained_model: Any) -> None:
    scorer = trained_model.scorer
    desk = Desk.open(DeskOptions(str(tmp_path / "monitor.db"), MonitorConfig(alert_below=0.4, window=20)),
                     explain=scorer.explain)
    t0 = time.time() - 7200
    calm = [f"{CALM[i % len(CALM)]} #{i}" for i in range(30)]
    turn = [f"{TURN[i % len(TURN)]} #{i}" for i in range(20)]
    desk.ingest([NewPost(f"c{i}", t, t0 + i * 60, "", None) for i, t in enumerate(calm)], scorer.score(calm))
    result = desk.ingest([NewPost(f"t{i}", t, t0 + 3600 + i * 60, "", None) for i, t in enumerate(turn)], scorer.score(turn))
    assert [e.kind for e in result.events] == ["alert"]

    listed = desk.drivers(since=None, until=None, source=None)["drivers"]
    terms = [d["term"] for d in listed]
    assert {"rude", "refund"} <= set(terms), terms
    assert not {"and the", "about", "about the", "the", "and"} & set(terms), terms
    assert not any(is_function_words(t) for t in terms)
    # each weight is the mean of the model's own contributions of that term in the negative posts, below zero
    explained = Terms(scorer.explain)
    negative = [t for t, s in zip(turn, scorer.score(turn)) if s < 0.5]
    for driver in listed:
        values = [explained(text)[driver["term"]] for text in negative if driver["term"] in explained(text)]
        assert driver["weight"] == round(sum(values) / len(values), 4) < 0, driver
    # a term the model weighs up in those posts (this small model reads "flight" as positive) is no driver
    up = {term for text in negative for term, value in explained(text).items() if value > 0}
    assert "flight" in up and not up & set(terms)
    # the alert carries the same drivers
    alert = desk.alerts(limit=1, since=None, until=None)["alerts"][0]
    assert {"rude", "refund"} <= {d["term"] for d in alert["drivers"]}
    assert all(d["weight"] < 0 and not is_function_words(d["term"]) for d in alert["drivers"])
    desk.close()
