"""Peak memory of reading hostile input: an endless line must cost a bounded amount, not all of it.

Runs each command as a child process and reports its peak RSS (``wait4``'s ``ru_maxrss``), its wall
time, its exit code and the first line of its stderr, next to a baseline in the same run: scoring a
normal 10,000-row CSV. Inputs are made in a temp folder: a 1 GiB sparse file (two short lines, then
zeros with no line break) and /dev/zero; the model is trained there on 2,000 rows of the bundled corpus.

Usage:
    .venv/bin/python bench/memory.py          # prints a Markdown table
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parents[1]
SENTIKIT = [sys.executable, "-m", "sentikit"]


def run(args: list[str], cwd: Path, stdin_path: str | None = None) -> tuple[float, float, int, str]:
    """(peak RSS in MB, seconds, exit code, first stderr line) of one child process."""
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    started = time.perf_counter()
    child = subprocess.Popen(args, cwd=cwd, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert child.stderr is not None
    err = child.stderr.read().decode("utf-8", "replace")
    _pid, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if stdin_path:
        stdin.close()  # type: ignore[union-attr]
    first = next((line for line in err.splitlines() if line.strip()), "")
    return usage.ru_maxrss / 1024, seconds, child.returncode, first


def main() -> None:
    with TemporaryDirectory(prefix="sentikit-memory-") as tmp:
        work = Path(tmp)
        with gzip.open(ROOT / "src" / "sentikit" / "resources" / "corpus.tsv.gz", "rt", encoding="utf-8") as corpus:
            header = corpus.readline()
            rows = [corpus.readline() for _ in range(10_000)]
        (work / "small.tsv").write_text(header + "".join(rows[:2000]), encoding="utf-8")
        (work / "normal.tsv").write_text(header + "".join(rows), encoding="utf-8")
        sparse = work / "sparse.csv"
        with sparse.open("wb") as handle:
            handle.write(b"text,label\ngood film,1\n")
            handle.truncate(1 << 30)
        code = run([*SENTIKIT, "train", "small.tsv", "--param", "char_ngrams=null"], work)[2]
        assert code == 0, "training the bench model failed"
        cases = [
            ("score --input normal.tsv (baseline)", [*SENTIKIT, "score", "--input", "normal.tsv", "-o", "out.tsv"], None),
            ("score --input sparse.csv (1 GiB)", [*SENTIKIT, "score", "--input", str(sparse), "-o", "out.csv"], None),
            ("score --input /dev/zero", [*SENTIKIT, "score", "--input", "/dev/zero", "-o", "out.csv"], None),
            ("score < sparse.csv (stdin texts)", [*SENTIKIT, "score"], str(sparse)),
            ("score --input - < /dev/zero", [*SENTIKIT, "score", "--input", "-"], "/dev/zero"),
            ("train sparse.csv", [*SENTIKIT, "train", str(sparse)], None),
            ("monitor --input sparse.csv", [*SENTIKIT, "monitor", "--input", str(sparse), "--window", "5", "--alert-below", "0.4"], None),
            ("monitor < /dev/zero", [*SENTIKIT, "monitor", "--window", "5", "--alert-below", "0.4"], "/dev/zero"),
        ]
        print("| command | peak RSS MB | x baseline | seconds | exit | stderr |")
        print("| --- | ---: | ---: | ---: | ---: | --- |")
        baseline = 0.0
        for name, args, stdin_path in cases:
            rss, seconds, code, first = run(args, work, stdin_path)
            baseline = baseline or rss
            shown = first.replace(str(work) + "/", "").replace("|", "\\|")[:90]
            print(f"| `{name}` | {rss:.0f} | {rss / baseline:.2f} | {seconds:.2f} | {code} | {shown} |")


if __name__ == "__main__":
    main()
