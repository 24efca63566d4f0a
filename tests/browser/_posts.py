"""A day at the desk in posts: a calm stretch, then a turn to negative (a delayed-flights story)."""

from __future__ import annotations

import random
import time
from typing import Any

POSITIVE = [
    "Lovely flight this morning, the crew were so friendly and helpful",
    "Great service at the check-in desk, quick and easy as always",
    "The new app is brilliant, booked my seat in seconds",
    "Thank you for the upgrade, what a wonderful surprise",
    "Clean cabin, comfortable seats and we landed early. Perfect",
    "Really impressed with how the staff handled my request, excellent",
    "Best airline I have flown with this year, highly recommend",
    "Smooth boarding and a very pleasant crew, great job",
    "Loved the food on board, fresh and tasty",
    "Customer support sorted my booking in five minutes, amazing",
]
NEGATIVE = [
    "Flight delayed again, three hours at the gate and no information at all",
    "Terrible customer service, nobody answers the phone and my refund never came",
    "Cancelled flight, rude staff and a useless app. Never again",
    "Lost my luggage and the desk was closed. Awful experience",
    "Delayed for the second day in a row, this is a disgrace",
    "Worst airline ever, the delay ruined our holiday",
    "Still waiting for my refund after the cancelled flight, absolutely terrible",
    "Stuck on the plane for two hours with no water, horrible",
    "The delay was bad but the rude staff made it so much worse",
    "Awful communication about the delayed flight, we were left with nothing",
    "Two hours on hold and then they hung up on me. Pathetic customer service",
    "Missed my connection because of the delay and nobody offered any help",
    "The gate changed three times and the staff just shrugged, appalling",
    "Charged twice for the same booking and still no answer from support",
    "Dirty cabin, broken seat and a very unfriendly crew on this flight",
    "Our flight was cancelled at midnight with no hotel and no explanation",
]
SOURCES = ["twitter", "facebook", "reviews"]
TAILS = ["", "", " @northwind", " #NW{n}", " (flight NW{n} to {city})", " on the {city} route"]
CITIES = ["Lisbon", "Oslo", "Dublin", "Rome", "Vienna", "Porto", "Malaga"]


def calm_then_turn(now: float | None = None, *, calm: int = 90, turn: int = 60, seed: int = 3) -> list[dict[str, Any]]:
    """``calm`` mostly positive posts over the last six hours to one hour, then ``turn`` mostly
    negative ones over the last 50 minutes; ids, timestamps (epoch seconds), sources, links."""
    rng = random.Random(seed)
    now = time.time() if now is None else now
    posts: list[tuple[float, str]] = []
    for i in range(calm):
        posts.append((now - 6 * 3600 + i * (5 * 3600 / calm), rng.choice(POSITIVE) if rng.random() < 0.85 else rng.choice(NEGATIVE)))
    for i in range(turn):
        posts.append((now - 3000 + i * (2900 / turn), rng.choice(NEGATIVE) if rng.random() < 0.9 else rng.choice(POSITIVE)))
    return [
        {"id": f"post-{i:04d}", "text": text + rng.choice(TAILS).format(n=rng.randint(100, 999), city=rng.choice(CITIES)),
         "timestamp": round(ts, 3), "source": SOURCES[i % 3], "url": f"https://social.example/{SOURCES[i % 3]}/{1000 + i}"}
        for i, (ts, text) in enumerate(posts)
    ]
