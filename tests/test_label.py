"""sentikit label: least-certain-first with diversity, answers saved atomically and resumable, a real terminal."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from sentikit.label import LabelSession, order_posts, state_path


def read_labels(path: Path) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return [(row["text"], row["label"]) for row in csv.DictReader(handle)]


def test_uncertain_order_puts_near_duplicates_last() -> None:
    texts = ["rt great flight thanks", "rt great flight thanks!", "lost my bag again", "fine", "best crew ever"]
    scores = [0.50, 0.51, 0.45, 0.9, 0.99]
    assert order_posts(texts, scores) == [0, 2, 3, 4, 1]
    assert sorted(order_posts(texts, scores, "random")) == list(range(5))
    assert order_posts(texts, scores, "file") == list(range(5))


def test_session_saves_every_answer_undoes_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "labelled.csv"
    texts = ["good", "bad", "meh", "great"]
    session = LabelSession.start(texts, [0.62, 0.4, 0.5, 0.9], out)
    assert texts[session.current()] == "meh"  # type: ignore[index]
    session.answer("skip")
    session.answer("negative")  # "bad" (0.4) is less certain than "good" (0.62)
    session.answer("positive")
    assert read_labels(out) == [("bad", "negative"), ("good", "positive")]
    assert session.undo() and read_labels(out) == [("bad", "negative")]
    resumed = LabelSession.start(texts, [0.62, 0.4, 0.5, 0.9], out)
    assert resumed.counts() == {"positive": 0, "negative": 1, "skip": 1}
    assert texts[resumed.current()] == "good"  # type: ignore[index]
    # without the state file, the labelled CSV alone resumes too
    state_path(out).unlink()
    assert LabelSession.start(texts, [0.62, 0.4, 0.5, 0.9], out).counts() == {"positive": 0, "negative": 1, "skip": 0}
    assert not list(tmp_path.glob("*.tmp*"))


def test_label_refuses_a_non_interactive_stdin(cli: Any, tmp_path: Path, trained_model_dir: Path) -> None:
    posts = tmp_path / "posts.txt"
    posts.write_text("great stay\nawful host\n", encoding="utf-8")
    result = cli("label", str(posts), "-m", str(trained_model_dir))
    assert result.exit_code == 2 and "interactive" in result.stderr and "Traceback" not in result.stderr


def _screen(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-t", session, "-p"], capture_output=True, text=True, check=True).stdout


def _wait_for(session: str, text: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _screen(session)
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared on the terminal; it shows:\n{screen}")


@pytest.mark.slow
def test_label_in_a_real_80x24_terminal(tmp_path: Path, trained_model_dir: Path) -> None:
    if shutil.which("tmux") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is missing (scripts/setup-test-env.sh installs it)")
        pytest.skip("tmux is not installed")
    posts = tmp_path / "posts.csv"
    long_post = "The check-in was slow and " + "the corridor smelled of smoke and " * 40 + "that is all."
    with open(posts, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["text"], ["Great stay, lovely host!"], ["Never again. Dirty room."], [long_post], ["ok I guess"]])
    out = tmp_path / "labelled.csv"
    session = f"sentikit-label-{uuid.uuid4().hex[:8]}"
    command = f"{sys.executable} -m sentikit label {posts} -m {trained_model_dir} -o {out} --order file; sleep 60"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", "sh", "-c", command], check=True)
    try:
        screen = _wait_for(session, "Great stay, lovely host!")
        assert "0/4 answered" in screen and "[p]ositive" in screen and "model " in screen
        assert all(len(line) <= 80 for line in screen.splitlines()) and len(screen.splitlines()) <= 24
        subprocess.run(["tmux", "send-keys", "-t", session, "p"], check=True)
        _wait_for(session, "Never again. Dirty room.")
        assert read_labels(out) == [("Great stay, lovely host!", "positive")]  # saved before the next post
        subprocess.run(["tmux", "send-keys", "-t", session, "n"], check=True)
        screen = _wait_for(session, "2/4 answered")
        assert "…" in screen and "[p]ositive" in screen  # the long post is cut to fit, keys still on screen
        subprocess.run(["tmux", "send-keys", "-t", session, "u"], check=True)
        _wait_for(session, "undone")
        subprocess.run(["tmux", "send-keys", "-t", session, "n"], check=True)
        _wait_for(session, "2/4 answered")
        subprocess.run(["tmux", "send-keys", "-t", session, "s"], check=True)
        _wait_for(session, "ok I guess")
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        _wait_for(session, "saved 2 labels (1 positive, 1 negative)")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert read_labels(out) == [("Great stay, lovely host!", "positive"), ("Never again. Dirty room.", "negative")]
