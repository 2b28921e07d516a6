"""Ingestion benchmark: reading and materializing traces, at 1x and 4x the bench corpus.

    .venv/bin/python bench/ingest.py [--work DIR] [--repeat 1] [--skip-reference]

Builds the benchmark corpora with ../shared/tools/make_bench_corpus.py under --work
(default: /tmp/tracesql-bench, outside the repo): 1x (40 copies: 960 real Claude Code
sessions, 228 MB) and 4x (160 copies, 914 MB). Then times, as whole processes in one run,
with peak memory (RSS summed over the process tree, workers included) for each:

  query path      `tracesql query` over claude_code_traces(): read, no table (1x, 4x)
  run, cold       `tracesql run -s traces` of the example project's traces model (by
                  file, in pieces) into a new database, empty parse cache (1x, 4x)
  run, unchanged  the same again: nothing changed, nothing is read (1x, 4x)
  run, grown      after one file is appended to and one added (4x): only those are read
  reference       Data Designer 0.9.7's reader over the same folder (1x, 4x; its own
                  virtualenv, installed by the first, untimed call; skipped if that fails)

Writes bench/results/ingest.json (every repeat, the machine, the load average); paths in
it are relative to the repo or to --work, never this machine's.
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
from measure import Measured, run  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TRACESQL_SHARED", REPO.parent / "shared"))
RESULTS = REPO / "bench" / "results"
PY = sys.executable
TRACESQL = str(Path(PY).with_name("tracesql"))
PROFILE = """target: bench
targets:
  bench: {database: bench.duckdb}
vars:
  trace_format: claude_code
"""


@dataclass
class Timing:
    what: str
    corpus: str
    runs: list[Measured] = field(default_factory=list)

    @property
    def median(self) -> Measured:
        return sorted(self.runs, key=lambda r: r.seconds)[len(self.runs) // 2]

    def summary(self, mb: float) -> dict:
        best = self.median
        return {
            "what": self.what,
            "corpus": self.corpus,
            "seconds": round(best.seconds, 2),
            "cpu_seconds": round(best.cpu_seconds, 2),
            "mb_per_s": round(mb / best.seconds, 1),
            "peak_rss_mib": round(statistics.median(r.peak_rss_mib for r in self.runs), 1),
            "all_seconds": [round(r.seconds, 2) for r in self.runs],
            "all_peak_rss_mib": [round(r.peak_rss_mib, 1) for r in self.runs],
            "output": best.stdout.strip().splitlines()[-1:] if best.stdout.strip() else [],
        }


def build_corpus(work: Path, copies: int) -> Path:
    folder = work / f"claude-x{copies}"
    tool = SHARED / "tools" / "make_bench_corpus.py"
    subprocess.run([PY, str(tool), str(SHARED / "corpus"), str(folder), str(copies)], check=True)
    return folder


def corpus_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def project(work: Path, name: str) -> Path:
    """A project with the example project's traces model and macros, and nothing else."""
    folder = work / name
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "models").mkdir(parents=True)
    shutil.copy(REPO / "models" / "traces.sql", folder / "models" / "traces.sql")
    shutil.copytree(REPO / "macros", folder / "macros")
    (folder / "profiles.yml").write_text(PROFILE)
    return folder


def timed(
    what: str, corpus: str, cmd: list[str], repeat: int, cwd: Path | None = None, before=None
) -> Timing:
    timing = Timing(what, corpus)
    for _ in range(repeat):
        if before is not None:
            before()
        r = run(cmd, cwd=str(cwd) if cwd else None)
        if r.returncode != 0:
            raise SystemExit(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-3000:]}")
        timing.runs.append(r)
    return timing


def run_model(folder: Path, corpus: Path) -> list[str]:
    return [TRACESQL, "run", "-s", "traces", "--vars", json.dumps({"trace_path": str(corpus)})]


def fresh(folder: Path):
    def clear() -> None:
        shutil.rmtree(folder / "target", ignore_errors=True)
        for name in ("bench.duckdb", "bench.duckdb.wal"):
            (folder / name).unlink(missing_ok=True)

    return clear


def query(corpus: Path) -> list[str]:
    sql = f"SELECT count(*) AS traces, sum(message_count) AS messages FROM claude_code_traces('{corpus}')"
    return [TRACESQL, "query", sql, "--format", "jsonl"]


def reference(corpus: Path, label: str, repeat: int, work: Path) -> Timing | None:
    script = SHARED / "tools" / "reference" / "run-reference.sh"
    out = work / "reference-rows.jsonl"
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
    return timed(
        "reference (Data Designer 0.9.7)",
        label,
        ["bash", str(script), "claude_code", str(corpus), str(out)],
        repeat,
    )


def grow(corpus: Path) -> None:
    """One session appended to (its last line again) and one new session (a copy)."""
    first = sorted(corpus.rglob("*.jsonl"))[0]
    lines = first.read_bytes().rstrip(b"\n").split(b"\n")
    with open(first, "ab") as fh:
        fh.write(lines[-1] + b"\n")
    shutil.copy(first, first.with_name("grown-copy.jsonl"))


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
    ap.add_argument("--work", type=Path, default=Path("/tmp/tracesql-bench"))
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--skip-reference", action="store_true")
    args = ap.parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    corpora = {"1x": build_corpus(work, 40), "4x": build_corpus(work, 160)}
    sizes = {label: corpus_bytes(folder) / 1e6 for label, folder in corpora.items()}
    load_before = os.getloadavg()
    timings: list[Timing] = []
    for label, corpus in corpora.items():
        timings.append(timed("query path (tracesql query, no table)", label, query(corpus), args.repeat))
        folder = project(work, f"project-{label}")
        timings.append(
            timed("tracesql run, cold", label, run_model(folder, corpus), args.repeat, folder, fresh(folder))
        )
        timings.append(
            timed("tracesql run, unchanged re-run", label, run_model(folder, corpus), args.repeat, folder)
        )
    grown = work / "claude-x160-grown"
    shutil.rmtree(grown, ignore_errors=True)
    shutil.copytree(corpora["4x"], grown)
    folder = work / "project-4x"
    timings.append(timed("tracesql run, re-run after growth", "4x", run_model(folder, grown), 1, folder))
    # (the first run over the copied folder reads every file: new paths; the second is the growth)
    grow(grown)
    timings.append(
        timed("tracesql run, grown (1 appended, 1 new)", "4x", run_model(folder, grown), 1, folder)
    )
    shutil.rmtree(grown, ignore_errors=True)
    if not args.skip_reference:
        for label, corpus in corpora.items():
            ref = reference(corpus, label, args.repeat, work)
            if ref is not None:
                timings.append(ref)
    load_after = os.getloadavg()
    rows = [t.summary(sizes[t.corpus]) for t in timings]
    info = machine()
    print(", ".join(f"{label}: {sizes[label]:.0f} MB" for label in corpora))
    print(
        f"machine: {info['cpu']} ({info['arch']}), {info['cores']} cores, {info['memory_gib']} GiB, Python "
        f"{info['python']}, DuckDB {info['duckdb']}; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    print(f"{'what':44} {'corpus':>6} {'seconds':>8} {'CPU s':>6} {'peak MiB':>9}")
    for r in rows:
        print(
            f"{r['what']:44} {r['corpus']:>6} {r['seconds']:>8.2f} {r['cpu_seconds']:>6.2f} {r['peak_rss_mib']:>9.0f}"
        )
    by = {(r["what"], r["corpus"]): r for r in rows}
    cold1, cold4 = by[("tracesql run, cold", "1x")], by[("tracesql run, cold", "4x")]
    rerun4 = by[("tracesql run, unchanged re-run", "4x")]
    ratios = {
        "run_peak_growth_1x_to_4x": round(cold4["peak_rss_mib"] / cold1["peak_rss_mib"] - 1, 3),
        "unchanged_rerun_share_of_cold_4x": round(rerun4["seconds"] / cold4["seconds"], 3),
    }
    ref4 = by.get(("reference (Data Designer 0.9.7)", "4x"))
    if ref4:
        ratios["run_memory_vs_reference_4x"] = round(cold4["peak_rss_mib"] / ref4["peak_rss_mib"], 2)
        ratios["run_speedup_vs_reference_4x"] = round(ref4["seconds"] / cold4["seconds"], 2)
    print("ratios:", ", ".join(f"{k} {v}" for k, v in ratios.items()))
    result = {
        "machine": info,
        "load_average": {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in load_after],
        },
        "repeat": args.repeat,
        "corpora": {
            label: {"path": folder.name, "megabytes": round(sizes[label], 1)}
            for label, folder in corpora.items()
        },
        "results": rows,
        "ratios": ratios,
    }
    (RESULTS / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
