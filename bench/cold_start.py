"""Cold-process wall time of `sentikit score "..."`, next to `python -c "import sklearn"`.

Each command runs as a fresh process several times, interleaved so that machine noise hits
both alike; the report gives medians and the ratio to the baseline.

    python bench/cold_start.py [--runs 7] [--model sentiment]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def wall_time(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--model", default=None, help="model reference (default: latest default model)")
    args = parser.parse_args()
    model = ["--model", args.model] if args.model else []
    commands = {
        'python -c "pass"': [sys.executable, "-c", "pass"],
        'python -c "import sklearn"': [sys.executable, "-c", "import sklearn"],
        'sentikit score "..."': [sys.executable, "-m", "sentikit", "score", *model, "The staff were friendly and helpful"],
        'sentikit --help': [sys.executable, "-m", "sentikit", "--help"],
    }
    for command in commands.values():  # warm the OS file cache once
        wall_time(command)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():
            samples[name].append(wall_time(command))
    baseline = statistics.median(samples['python -c "import sklearn"'])
    print(f"| command | median wall time (s) | ratio to `import sklearn` |\n|---|---|---|")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"| `{name}` | {median:.3f} | {median / baseline:.2f}× |")


if __name__ == "__main__":
    main()
