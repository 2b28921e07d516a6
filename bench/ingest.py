"""Ingestion benchmark: tracesql vs the reference (Data Designer 0.9.7) vs DuckDB's raw scan.

    .venv/bin/python bench/ingest.py [--copies 40] [--repeat 3] [--skip-reference]

Builds the benchmark corpus with ../shared/tools/make_bench_corpus.py (960 real Claude Code
sessions, 228 MB) and a mixed-format corpus (every shared corpus file, copied N times), then
times, as whole processes in the same run:

  tracesql   materialize every normalized column into a table of a DuckDB database file,
             as `tracesql run` builds a table (no WAL writes, then a CHECKPOINT); also
             with one process, through a plain connection (commit via the WAL), into an
             in-memory database, and import + connect alone
  reference  Data Designer's AgentRolloutSeedSource reader (its own virtualenv, installed
             by the first, untimed call; skipped with a message if that fails)
  raw scan   DuckDB's read_ndjson_objects over the same bytes (the physical floor)

and prints rows, seconds, CPU seconds, MB/s, peak memory (RSS summed over the whole
process tree) and the ratios; writes bench/results/ingest.json with every repeat and the
load average (other jobs on the machine skew wall times; CPU seconds much less). Each
timing is the median of --repeat runs.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import run  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TRACESQL_SHARED", REPO.parent / "shared"))
WORK = REPO / "bench" / ".work"
RESULTS = REPO / "bench" / "results"
PY = sys.executable

# How `tracesql run` builds a table model: the database attached without WAL writes, the
# table created, then a CHECKPOINT that makes it durable (runner.py, connection.py).
TRACESQL_SNIPPET = """
import sys, tracesql
from tracesql.connection import open_connection
con = open_connection(sys.argv[1], wal=False)
con.execute(f"CREATE OR REPLACE TABLE traces AS SELECT * FROM {sys.argv[3]}('{sys.argv[2]}')")
con.execute("CHECKPOINT")
n = con.execute("SELECT count(*), sum(message_count) FROM traces").fetchone()
print(n[0], n[1])
con.close()
"""

# A plain connection (tracesql.connect("file.duckdb")): the commit goes through the WAL.
WAL_SNIPPET = TRACESQL_SNIPPET.replace(", wal=False", "").replace('con.execute("CHECKPOINT")\n', "")

IMPORT_SNIPPET = """
import tracesql
from tracesql.connection import open_connection
con = open_connection(":memory:")
con.close()
print(0)
"""

RAW_SNIPPET = """
import sys, duckdb
con = duckdb.connect()
n = con.execute(f"SELECT count(*) FROM read_ndjson_objects('{sys.argv[1]}/**/*.jsonl')").fetchone()[0]
print(n)
con.close()
"""


@dataclass
class Timing:
    what: str
    rows: int
    unit: str
    runs: list = field(default_factory=list)  # measure.Measured of every repeat

    @property
    def median(self):
        return sorted(self.runs, key=lambda r: r.seconds)[len(self.runs) // 2]

    def summary(self, mb: float | None) -> dict:
        best = self.median
        return {
            "what": self.what,
            "rows": self.rows,
            "unit": self.unit,
            "seconds": round(best.seconds, 3),
            "cpu_seconds": round(best.cpu_seconds, 3),
            "mb_per_s": round(mb / best.seconds, 1) if mb else None,
            "peak_rss_mib": round(statistics.median(r.peak_rss_mib for r in self.runs), 1),
            "all_seconds": [round(r.seconds, 3) for r in self.runs],
            "all_peak_rss_mib": [round(r.peak_rss_mib, 1) for r in self.runs],
        }


def corpus_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def build_corpora(copies: int) -> tuple[Path, Path]:
    claude = WORK / f"claude-x{copies}"
    subprocess.run(
        [
            PY,
            str(SHARED / "tools" / "make_bench_corpus.py"),
            str(SHARED / "corpus"),
            str(claude),
            str(copies),
        ],
        check=True,
    )
    mixed = WORK / "mixed-x10"
    if not (mixed / ".complete").exists():
        shutil.rmtree(mixed, ignore_errors=True)
        for i in range(10):
            shutil.copytree(SHARED / "corpus", mixed / f"copy-{i:02d}", ignore=shutil.ignore_patterns("*.md"))
        (mixed / ".complete").touch()
    return claude, mixed


def timed(what: str, unit: str, cmd: list[str], repeat: int, env: dict | None = None, before=None) -> Timing:
    """Run `cmd` `repeat` times (calling `before()` ahead of each run); rows are the first
    number it prints, if any."""
    timing = Timing(what, 0, unit)
    for _ in range(repeat):
        if before is not None:
            before()
        r = run(cmd, env=env)
        if r.returncode != 0:
            raise SystemExit(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-3000:]}")
        timing.runs.append(r)
    printed = timing.median.stdout.split()
    timing.rows = int(printed[0]) if printed else 0
    return timing


def time_tracesql(
    what: str,
    folder: Path,
    function: str,
    repeat: int,
    workers: str | None = None,
    database: str | None = None,
    snippet: str = TRACESQL_SNIPPET,
) -> Timing:
    db = database or str(WORK / "ingest.duckdb")
    env = dict(os.environ)
    if workers:
        env["TRACESQL_WORKERS"] = workers

    def fresh_database() -> None:
        for suffix in ("", ".wal"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)

    cmd = [PY, "-c", snippet, db, str(folder), function]
    return timed(what, "traces", cmd, repeat, env=env, before=None if db == ":memory:" else fresh_database)


def time_reference(folder: Path, repeat: int) -> Timing | None:
    """The reference's rows of `folder`, or None (with the reason) when it cannot be installed."""
    script = SHARED / "tools" / "reference" / "run-reference.sh"
    out = WORK / "reference-rows.jsonl"
    # The first call installs the reference virtualenv if needed (from the package
    # registry); it reads a small folder and is not timed.
    warm = subprocess.run(
        [
            "bash",
            str(script),
            "claude_code",
            str(SHARED / "corpus" / "claude_code" / "agent-sessions"),
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    if warm.returncode != 0:
        print(
            f"reference skipped: its virtualenv could not be set up or run:\n{warm.stderr[-1500:]}",
            file=sys.stderr,
        )
        return None
    timing = timed(
        "reference (Data Designer 0.9.7)",
        "traces",
        ["bash", str(script), "claude_code", str(folder), str(out)],
        repeat,
    )
    with open(out, "rb") as fh:
        timing.rows = sum(1 for _ in fh)
    return timing


def machine() -> dict:
    cpu = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "arch": platform.machine(),
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "duckdb": importlib.metadata.version("duckdb"),
        "pyarrow": importlib.metadata.version("pyarrow"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-reference", action="store_true")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    claude, mixed = build_corpora(args.copies)
    mb = corpus_bytes(claude) / 1e6
    load_before = os.getloadavg()
    main_run = time_tracesql(
        "tracesql (claude_code_traces -> table, as run)", claude, "claude_code_traces", args.repeat
    )
    timings = [
        main_run,
        time_tracesql(
            "tracesql, one process (TRACESQL_WORKERS=1)",
            claude,
            "claude_code_traces",
            args.repeat,
            workers="1",
        ),
        time_tracesql(
            "tracesql -> in-memory database", claude, "claude_code_traces", args.repeat, database=":memory:"
        ),
        time_tracesql(
            "tracesql, plain connect() (commit through the WAL)",
            claude,
            "claude_code_traces",
            args.repeat,
            snippet=WAL_SNIPPET,
        ),
        timed("tracesql import + connect only", "-", [PY, "-c", IMPORT_SNIPPET], args.repeat),
    ]
    reference = None if args.skip_reference else time_reference(claude, args.repeat)
    if reference is not None:
        timings.append(reference)
    raw = timed(
        "DuckDB read_ndjson_objects (raw scan)", "records", [PY, "-c", RAW_SNIPPET, str(claude)], args.repeat
    )
    timings.append(raw)
    mixed_run = time_tracesql("tracesql traces() on the mixed corpus", mixed, "traces", args.repeat)
    load_after = os.getloadavg()

    rows = [t.summary(None if t.unit == "-" else mb) for t in timings]
    print(f"corpus: {claude} ({mb:.0f} MB, {len(list(claude.rglob('*.jsonl')))} files)")
    info = machine()
    print(
        f"machine: {info['cpu']} ({info['arch']}), {info['cores']} cores, {info['memory_gib']} GiB, Python "
        f"{info['python']}, DuckDB {info['duckdb']}; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    print(f"{'what':46} {'rows':>7} {'seconds':>8} {'CPU s':>6} {'MB/s':>6} {'peak MiB':>9}")
    for r in rows:
        rate = f"{r['mb_per_s']:>6.0f}" if r["mb_per_s"] else f"{'':>6}"
        print(
            f"{r['what']:46} {r['rows']:>7} {r['seconds']:>8.2f} {r['cpu_seconds']:>6.2f} {rate} {r['peak_rss_mib']:>9.0f}"
        )
    main_row, raw_row = rows[0], next(r for r in rows if r["unit"] == "records")
    ratios = {}
    if reference is not None:
        ref_row = next(r for r in rows if r["what"] == reference.what)
        ratios["speedup_vs_reference"] = round(ref_row["seconds"] / main_row["seconds"], 2)
        ratios["memory_vs_reference"] = round(main_row["peak_rss_mib"] / ref_row["peak_rss_mib"], 2)
    ratios["slowdown_vs_raw_scan"] = round(main_row["seconds"] / raw_row["seconds"], 2)
    print("ratios:", ", ".join(f"{k} {v}" for k, v in ratios.items()))
    mixed_row = mixed_run.summary(corpus_bytes(mixed) / 1e6)
    print(
        f"mixed corpus (traces(), all five formats, {corpus_bytes(mixed) / 1e6:.0f} MB): {mixed_row['rows']} traces in "
        f"{mixed_row['seconds']:.2f} s, peak {mixed_row['peak_rss_mib']:.0f} MiB"
    )
    result = {
        "machine": info,
        "load_average": {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in load_after],
        },
        "repeat": args.repeat,
        "corpus": {"path": str(claude), "bytes": corpus_bytes(claude)},
        "results": rows,
        "ratios": ratios,
        "mixed": {**mixed_row, "bytes": corpus_bytes(mixed)},
    }
    (RESULTS / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
