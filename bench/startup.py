"""Start-up time: `tracesql query "select 1"` against a bare DuckDB query from Python.

    .venv/bin/python bench/startup.py [--repeat 11] [--no-bytecode] [--python PY]

Runs each command `--repeat` times as a whole process (outside any project, in a temporary
folder), interleaved so that a busy moment hits every command, and prints the median wall
seconds and the median CPU seconds (user + system, of the process and its threads), and the
ratios of `tracesql query "select 1"` to `python -c "import duckdb;
duckdb.sql('select 1').fetchall()"` (goal: within 2.5x). Also `tracesql --help` and
`--version`, which load no duckdb, openai or pyarrow (tested in tests/test_cli.py).

Bytecode: an installed package has its modules compiled (pip compiles a wheel's at install,
Python caches an editable checkout's in __pycache__), so by default the commands run with
a private bytecode cache (PYTHONPYCACHEPREFIX in a temporary folder, filled by one
unmeasured run of each command) even where PYTHONDONTWRITEBYTECODE is set. `--no-bytecode`
measures every tracesql module compiled from source at each start instead (site-packages
keep their own bytecode either way). `--python` measures another virtualenv's tracesql.
Writes bench/results/startup.json (or startup-no-bytecode.json).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from subprocess import run

REPO = Path(__file__).resolve().parents[1]
BARE = "python + duckdb select 1"
QUERY = 'tracesql query "select 1"'


def commands(python: str) -> dict[str, list[str]]:
    tracesql = str(Path(python).with_name("tracesql"))
    return {
        BARE: [python, "-c", "import duckdb; duckdb.sql('select 1').fetchall()"],
        QUERY: [tracesql, "query", "select 1"],
        "tracesql --version": [tracesql, "--version"],
        "tracesql --help": [tracesql, "--help"],
    }


def measure(cmd: list[str], cwd: str, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of `cmd`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument("--no-bytecode", action="store_true", help="tracesql's modules compiled at every start")
    ap.add_argument("--python", default=sys.executable, help="the Python of the virtualenv to measure")
    args = ap.parse_args()
    cmds = commands(args.python)
    wall: dict[str, list[float]] = {name: [] for name in cmds}
    cpu: dict[str, list[float]] = {name: [] for name in cmds}
    with tempfile.TemporaryDirectory() as cwd:
        env = dict(os.environ)
        if args.no_bytecode:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = os.path.join(cwd, "pycache")
            for cmd in cmds.values():  # fills the bytecode cache; not measured
                measure(cmd, cwd, env)
        for _ in range(args.repeat):  # interleaved, so a busy moment hits every command
            for name, cmd in cmds.items():
                seconds, cpu_seconds = measure(cmd, cwd, env)
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
    medians = {name: statistics.median(times) for name, times in wall.items()}
    cpu_medians = {name: statistics.median(times) for name, times in cpu.items()}
    print(
        f"{'':30} {'wall s':>7} {'CPU s':>7}   ({'no bytecode' if args.no_bytecode else 'bytecode cached'})"
    )
    for name in cmds:
        print(f"{name:30} {medians[name]:7.3f} {cpu_medians[name]:7.3f}")
    ratio = medians[QUERY] / medians[BARE]
    cpu_ratio = cpu_medians[QUERY] / cpu_medians[BARE]
    print(f"ratio tracesql query / bare duckdb: wall {ratio:.2f}, CPU {cpu_ratio:.2f} (goal <= 2.5)")
    out = {
        "repeat": args.repeat,
        "bytecode": not args.no_bytecode,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "median_seconds": medians,
        "median_cpu_seconds": cpu_medians,
        "ratio": round(ratio, 2),
        "cpu_ratio": round(cpu_ratio, 2),
        "all_seconds": wall,
        "all_cpu_seconds": cpu,
    }
    name = "startup-no-bytecode.json" if args.no_bytecode else "startup.json"
    (REPO / "bench" / "results" / name).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
