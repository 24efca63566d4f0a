"""Wall time of `sentikit adapt --unlabelled` on 10,000 posts, next to `sentikit train` in the same run.

Issue 26's target: under 3 minutes on this machine. The posts are 10,000 distinct texts of the VADER
ground-truth sets (tweets, product-review snippets, New York Times editorial snippets; labels not
read), written as JSON Lines; the base is a model `sentikit train` fits on the bundled corpus, in a
temporary workspace, and that training run is the baseline of the ratio.

    .venv/bin/python bench/adapt_unlabelled.py [--posts 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = next((p / "shared" / "datasets" for p in ROOT.parents if (p / "shared" / "datasets").is_dir()), ROOT.parent / "shared" / "datasets")
FILES = ("tweets_GroundTruth.txt", "amazonReviewSnippets_GroundTruth.txt", "nytEditorialSnippets_GroundTruth.txt")


def posts(limit: int) -> list[str]:
    sys.path.insert(0, str(ROOT / "src"))
    from sentikit.unlabelled import dedup_key

    seen: dict[str, str] = {}
    for name in FILES:
        with open(SHARED / "vader-ground-truth" / name, encoding="utf-8") as handle:
            for line in handle:
                text = line.rstrip("\r\n").split("\t", 2)[-1].strip()
                if text:
                    seen.setdefault(dedup_key(text), text)
    texts = list(seen.values())
    if len(texts) < limit:
        raise SystemExit(f"only {len(texts)} distinct posts in {SHARED / 'vader-ground-truth'}")
    return texts[:limit]


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10_000)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NO_COLOR": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "posts.jsonl"
        path.write_text("".join(json.dumps({"text": t}) + "\n" for t in posts(args.posts)), encoding="utf-8")
        workspace = ["--workspace", str(Path(tmp) / "models")]
        sentikit = [sys.executable, "-m", "sentikit"]
        train_s, _ = timed([*sentikit, "train", *workspace, "--json"], env)
        adapt_s, out = timed([*sentikit, "adapt", "--unlabelled", str(path), "--force", "--json", *workspace], env)
        report = json.loads(out)
    d = report["diagnostics"]
    lines = ["| command | posts | seconds | × train | target |", "| --- | ---: | ---: | ---: | --- |",
             f"| `sentikit train` (bundled corpus, baseline) | | {train_s:.0f} | 1.00 | |",
             f"| `sentikit adapt --unlabelled posts.jsonl --force` | {d['posts_used']:,} used of {d['posts_read']:,} | {adapt_s:.0f} | "
             f"{adapt_s / train_s:.2f} | < 180 s: {'met' if adapt_s < 180 else 'NOT met'} |",
             "", f"{d['rounds'][-1]['pseudo_labelled']:,} pseudo-labelled; {os.cpu_count()} cores; wall time of each process."]
    text = "\n".join(lines)
    print(text)
    (ROOT / "bench" / "out").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "out" / "adapt-unlabelled.md").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
