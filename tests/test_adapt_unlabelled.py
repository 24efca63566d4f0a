"""sentikit adapt --unlabelled: readers, near-duplicates, pseudo-labels, the CLI end to end, bad input, label's order."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest

from sentikit.label import order_posts
from sentikit.model import load_model
from sentikit.selftrain import SelfTrainParams, pseudo_labels
from sentikit.unlabelled import FileSource, collect, dedup_key

from _datasets import corpus_rows


@pytest.fixture(scope="module")
def yelp() -> list[tuple[str, int]]:
    """Restaurant reviews the session model (trained on the first 200 of each UCI file) has not seen."""
    rows = corpus_rows("uci-yelp")[200:]
    random.Random(7).shuffle(rows)
    return rows


def write_jsonl(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    return path


def test_near_duplicates_share_a_key_and_different_posts_do_not() -> None:
    post = "Lost my bag AGAIN @united https://t.co/abc123 !!!"
    for copy in ["RT @jane: lost my bag again @delta http://x.co/zz", "rt @a: RT @b: Lost my bag again!! @united www.t.co/q",
                 "lost   my bag again @United https://t.co/other", "LOST MY BAG AGAIN"]:
        assert dedup_key(copy) == dedup_key(post)
    for other in ["Lost my bag", "Found my bag again", "lost my bag again 😡", "lost my bag again 😀"]:
        assert dedup_key(other) != dedup_key(post)
    assert dedup_key("lost my bag again 😡") != dedup_key("lost my bag again 😀")


@pytest.mark.parametrize("name, content, fmt, column", [
    ("posts.csv", "id,text\n1,Great crew\n2,\"Late, again\"\n3,\n", "csv", "text"),
    ("posts.jsonl", '{"text": "Great crew"}\n{"text": "Late, again"}\n{"text": null}\n', "jsonl", "text"),
    ("posts.tsv", "Great crew\t1\nLate, again\t0\n", "tsv-headerless", "0"),
    ("posts.txt", "Great crew\nLate, again\n\n", "lines", None),
])
def test_file_source_reads_every_format_with_its_lineage(tmp_path: Path, name: str, content: str, fmt: str, column: Any) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    posts = collect([FileSource(path)])
    assert posts.texts == ["Great crew", "Late, again"]
    (lineage,) = posts.sources
    assert lineage["format"] == fmt and lineage["text_column"] == column
    assert lineage["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    gz = tmp_path / (name + ".gz")
    gz.write_bytes(gzip.compress(content.encode("utf-8")))
    again = collect([FileSource(gz)])
    assert again.texts == posts.texts and again.sources[0]["sha256"] == hashlib.sha256(gz.read_bytes()).hexdigest()


def test_collect_counts_blanks_and_duplicates_across_sources(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", ["Great crew", "", "RT @x: great crew!", "Late again"])
    b = tmp_path / "b.txt"
    b.write_text("late again\nNo legroom\n", encoding="utf-8")
    posts = collect([FileSource(a), FileSource(b)])
    assert posts.texts == ["Great crew", "Late again", "No legroom"] and posts.copies == [2, 2, 1]
    assert (posts.read, posts.blank, posts.duplicates) == (6, 1, 2)
    assert [s["rows"] for s in posts.sources] == [4, 2]


def test_pseudo_labels_keep_the_class_balance_the_model_sees() -> None:
    scores = [0.99, 0.97, 0.95, 0.93, 0.91, 0.05, 0.5, 0.4, 0.6, 0.45]  # 6 of 10 scored positive
    rows, labels = pseudo_labels(scores, 0.9, "none")
    assert rows.tolist() == [0, 1, 2, 3, 4, 5] and labels.tolist() == [1, 1, 1, 1, 1, 0]
    rows, labels = pseudo_labels(scores, 0.9, "prior")  # 1 negative: 0.6/0.4 of it -> 2 positives, the most confident
    assert rows.tolist() == [0, 1, 5] and labels.tolist() == [1, 1, 0]
    rows, labels = pseudo_labels(scores, 0.9, "equal")
    assert rows.tolist() == [0, 5] and labels.tolist() == [1, 0]
    assert pseudo_labels([0.5, 0.6], 0.9, "prior")[0].tolist() == []


def test_adapt_order_asks_first_what_self_training_cannot_learn() -> None:
    texts = ["sure thing", "fine I guess", "rt fine i guess", "meh ok", "loved it", "hated it", "so so"]
    scores = [0.97, 0.55, 0.56, 0.7, 0.99, 0.02, 0.52]
    copies = [1, 40, 1, 1, 1, 1, 1]
    # inside the cut-off: uncertainty x log(1 + copies) -> 1 (40 copies) before 6 (0.52), then 3; near-duplicate 2 after them;
    # the pseudo-labelled ones (0, 4, 5) last, least certain first
    assert order_posts(texts, scores, "adapt", copies=copies) == [1, 6, 3, 0, 5, 4, 2]


def test_unlabelled_only_is_refused_without_force_and_registered_with_lineage(
        cli: Any, tmp_path: Path, trained_model_dir: Path, small_training_file: Path, yelp: list[tuple[str, int]]) -> None:
    texts = [t for t, _ in yelp[:300]]
    posts = write_jsonl(tmp_path / "posts.jsonl", texts + ["RT @crew: " + t.upper() for t in texts[:40]])
    distinct = len({dedup_key(t) for t in texts})  # Yelp repeats a review or two itself
    workspace = tmp_path / "models"
    args = ["adapt", "--unlabelled", str(posts), "--base", str(trained_model_dir), "--corpus", str(small_training_file),
            "--workspace", str(workspace)]
    refused = cli(*args)
    assert refused.exit_code == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1] == (
        "error: no labelled posts, so nothing proves the adapted model better: not registered (--force registers it; "
        "label 50 posts with `sentikit label FILE --order adapt` to prove it)")
    assert f"{distinct} distinct posts (340 read, {340 - distinct} near-duplicates, 0 blank)" in refused.stderr
    assert not (workspace / "sentiment").exists()

    forced = cli(*args, "--force", "--json")
    assert forced.exit_code == 0, forced.stderr
    out = forced.json
    d = out["diagnostics"]
    assert out["registered"] and out["forced"] and out["proof"] is None and out["model"] == "sentiment:1"
    assert (d["posts_read"], d["posts_used"], d["duplicates"]) == (340, distinct, 340 - distinct)
    assert 0 < d["rounds"][0]["pseudo_labelled"] <= 300 and 0 < d["agreement"] <= 1 and d["mean_shift"] > 0
    manifest = load_model(Path(out["path"])).manifest
    lineage = manifest["lineage"]
    base = load_model(trained_model_dir)
    assert lineage["base"] == {"reference": base.reference, "checksum": base.checksum, "path": str(base.path)}
    source = lineage["unlabelled"]["sources"][0]
    assert source["sha256"] == hashlib.sha256(posts.read_bytes()).hexdigest() and source["rows"] == 340
    assert lineage["unlabelled"]["used"] == distinct and lineage["selftrain"] == SelfTrainParams().to_dict()
    assert lineage["pseudo_labels"] == d["rounds"] and manifest["adaptation"]["proof"] is None
    assert manifest["adaptation"]["diagnostics"] == d


@pytest.mark.slow
def test_labelled_and_unlabelled_compare_three_models_on_held_out_posts(
        cli: Any, tmp_path: Path, trained_model_dir: Path, small_training_file: Path, yelp: list[tuple[str, int]]) -> None:
    labelled = tmp_path / "labelled.tsv"
    labelled.write_text("".join(f"{t}\t{y}\n" for t, y in yelp[:150]), encoding="utf-8")
    posts = tmp_path / "posts.txt"
    posts.write_text("".join(t + "\n" for t, _ in yelp[:600]), encoding="utf-8")  # the labelled ones among them
    result = cli("adapt", str(labelled), "--unlabelled", str(posts), "--base", str(trained_model_dir), "--corpus",
                 str(small_training_file), "--workspace", str(tmp_path / "models"), "--json", "--force")
    assert result.exit_code == 0, result.stderr
    out = result.json
    c = out["comparison"]
    assert c["method"] == "holdout" and c["rows"] == 45
    for side in ("before", "labelled_alone", "after"):
        assert 0.5 <= c[side]["accuracy"]["value"] <= 1.0
    st = out["selftrain"]
    assert st["pseudo_labels"][0]["pseudo_labelled"] > 0 and isinstance(st["pseudo_labels"][0]["kept"], bool)
    if not st["pseudo_labels"][0]["kept"]:  # then the registered model is the labelled-alone one
        assert c["after"] == c["labelled_alone"]
    lineage = load_model(Path(out["path"])).manifest["lineage"]
    # every labelled post is in the unlabelled file too: used only with its label
    assert 145 <= st["labelled_overlap"] <= 150 and st["posts"] + st["labelled_overlap"] == lineage["unlabelled"]["used"]
    assert lineage["adapted_on"][0]["rows"] == 150 and lineage["unlabelled"]["sources"][0]["format"] == "lines"


def test_unlabelled_from_stdin(cli: Any, tmp_path: Path, trained_model_dir: Path, small_training_file: Path,
                               yelp: list[tuple[str, int]]) -> None:
    stdin = "".join(t + "\n" for t, _ in yelp[:60])
    result = cli("adapt", "-u", "-", "--base", str(trained_model_dir), "--corpus", str(small_training_file),
                 "--workspace", str(tmp_path / "models"), "--json", "--force", stdin=stdin)
    assert result.exit_code == 0, result.stderr
    assert result.json["diagnostics"]["posts_read"] == 60


@pytest.mark.parametrize("content, args, message", [
    ("", [], "empty.csv: empty file"),
    ("id,comment\n1,great\n", [], "no text column (found: 'id', 'comment'); name it with --text-column"),
    ("\n\n   \n", [], "empty file"),
    ("RT @a: same post\nsame post!\nSAME POST\n", [], "too few distinct unlabelled posts: 1 (need at least 20)"),
    ("great\n", ["--cutoff", "0.4"], "confidence cut-off must be between 0.5 and 1, got 0.4"),
    ("great\n", ["--balance", "tilted"], "class balance must be one of prior, equal, none, got 'tilted'"),
])
def test_bad_unlabelled_input_is_one_line_and_exit_2(cli: Any, tmp_path: Path, trained_model_dir: Path,
                                                     small_training_file: Path, content: str, args: list[str], message: str) -> None:
    path = tmp_path / ("empty.csv" if "comment" in content or not content else "posts.txt")
    path.write_text(content, encoding="utf-8")
    result = cli("adapt", "--unlabelled", str(path), *args, "--base", str(trained_model_dir), "--corpus", str(small_training_file),
                 "--workspace", str(tmp_path / "models"))
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_adapt_needs_some_posts(cli: Any, tmp_path: Path) -> None:
    result = cli("adapt", "--workspace", str(tmp_path))
    assert result.exit_code == 2 and result.stderr.strip() == "error: give your labelled posts (FILES), --unlabelled posts, or both"


def test_a_desk_store_is_a_source_for_a_period(cli: Any, tmp_path: Path, trained_model_dir: Path, small_training_file: Path,
                                               yelp: list[tuple[str, int]]) -> None:
    from sentikit.monitor.store import StoredPost, open_store
    from sentikit.unlabelled import parse_time

    day = parse_time("2026-11-02", "--since")
    assert day is not None
    store_path = tmp_path / "monitor.db"
    store = open_store(store_path)
    with store.transaction() as tx:  # 30 posts a day over three days
        tx.insert_posts(StoredPost(i + 1, f"p{i}", text, 0.5, 1, day + (i // 30 - 1) * 86400 + i, day, "", None)
                        for i, (text, _) in enumerate(yelp[:90]))
    store.close()
    args = ["adapt", "-u", str(store_path), "--base", str(trained_model_dir), "--corpus", str(small_training_file),
            "--workspace", str(tmp_path / "models"), "--force", "--json"]
    result = cli(*args, "--since", "2026-11-02", "--until", "2026-11-03T00:00:00+00:00")
    assert result.exit_code == 0, result.stderr
    assert result.json["diagnostics"]["posts_read"] == 30
    source = load_model(Path(result.json["path"])).manifest["lineage"]["unlabelled"]["sources"][0]
    assert source["kind"] == "store" and source["rows"] == 30 and source["since"] == "2026-11-02T00:00:00+00:00"
    assert source["until"] == "2026-11-03T00:00:00+00:00" and len(source["sha256"]) == 64
    assert cli(*args).json["diagnostics"]["posts_read"] == 90  # no period: every post
    posts = tmp_path / "posts.txt"
    posts.write_text("great\n", encoding="utf-8")
    for extra, message in [(["--since", "yesterday"], "--since must be an ISO 8601 date or time"),
                           (["--since", "2026-11-03", "--until", "2026-11-02"], "--since (2026-11-03) must be before --until"),
                           (["-u", "postgresql://db/desk"], "a PostgreSQL store cannot be read yet")]:
        bad = cli(*args, *extra)
        assert bad.exit_code == 2 and message in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    no_store = cli("adapt", "-u", str(posts), "--since", "2026-11-02", "--base", str(trained_model_dir), "--workspace", str(tmp_path))
    assert no_store.exit_code == 2 and "no store was given" in no_store.stderr
