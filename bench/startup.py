"""Start-up time: `tracesql query "select 1"` against a bare DuckDB query from Python.

    .venv/bin/python bench/startup.py [--repeat 7]

Runs each command `--repeat` times as a whole process (outside any project, in a temporary
folder) and prints the median wall seconds, and the ratio of `tracesql query "select 1"` to
`python -c "import duckdb; duckdb.sql('select 1').fetchall()"` (goal: within 2.5x). Also
`tracesql --help` and `--version`, which load no duckdb, openai or pyarrow (tested in
tests/test_cli.py). Writes bench/results/startup.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from subprocess import run

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
TRACESQL = str(Path(PY).with_name("tracesql"))
COMMANDS = {
    "python + duckdb select 1": [PY, "-c", "import duckdb; duckdb.sql('select 1').fetchall()"],
    'tracesql query "select 1"': [TRACESQL, "query", "select 1"],
    "tracesql --version": [TRACESQL, "--version"],
    "tracesql --help": [TRACESQL, "--help"],
}


def seconds(cmd: list[str], cwd: str) -> float:
    start = time.perf_counter()
    done = run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    results: dict[str, list[float]] = {name: [] for name in COMMANDS}
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(args.repeat):  # interleaved, so a busy moment hits every command
            for name, cmd in COMMANDS.items():
                results[name].append(seconds(cmd, cwd))
    medians = {name: statistics.median(times) for name, times in results.items()}
    for name, value in medians.items():
        print(f"{name:30} {value:6.3f} s")
    ratio = medians['tracesql query "select 1"'] / medians["python + duckdb select 1"]
    print(f"ratio tracesql query / bare duckdb: {ratio:.2f} (goal <= 2.5)")
    out = {"repeat": args.repeat, "median_seconds": medians, "all_seconds": results, "ratio": round(ratio, 2)}
    (REPO / "bench" / "results" / "startup.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
