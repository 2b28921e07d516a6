"""Export benchmark: `tracesql export` of the bench corpus' traces table to JSONL and Parquet.

    .venv/bin/python bench/export.py [--copies 40] [--repeat 3] [--before DIR]

Builds the benchmark corpus with ../shared/tools/make_bench_corpus.py (960 real Claude Code
sessions, 228 MB), a project under bench/.work/export-project whose model `traces` reads it
(960 wide rows), `messages` unnests its messages (28,160 narrow rows) and `messages_x4`
repeats those 4 times (how memory grows with rows), builds them once
with `tracesql run` (untimed), then times `tracesql export MODEL --format jsonl|parquet` as
whole processes: seconds (median of the
repeats), CPU seconds and peak memory (RSS summed over the process tree), and the size of
the file written. `--before DIR` also times the `tracesql` package found in DIR (say,
`git archive <commit> tracesql | tar -x -C DIR`), each of its repeats interleaved with this
checkout's, so both see the same load. Writes bench/results/export.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import Measured, run  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TRACESQL_SHARED", REPO.parent / "shared"))
WORK = REPO / "bench" / ".work"
RESULTS = REPO / "bench" / "results"
TRACESQL = str(Path(sys.executable).parent / "tracesql")
# `-c` puts the working folder first on sys.path: each version runs from its own folder.
CLI = [sys.executable, "-c", "from tracesql.cli import main; main()"]


def build_project(copies: int) -> Path:
    corpus = WORK / f"claude-x{copies}"
    subprocess.run(
        [
            sys.executable,
            str(SHARED / "tools" / "make_bench_corpus.py"),
            str(SHARED / "corpus"),
            str(corpus),
            str(copies),
        ],
        check=True,
    )
    project = WORK / "export-project"
    (project / "models").mkdir(parents=True, exist_ok=True)
    (project / "profiles.yml").write_text("target: dev\ntargets:\n  dev: {database: bench.duckdb}\n")
    (project / "models" / "traces.sql").write_text(
        f"{{{{ config(materialized='table') }}}}\nselect * from claude_code_traces('{corpus}')\n"
    )
    (project / "models" / "messages.sql").write_text(
        "{{ config(materialized='table') }}\n"
        "select trace_id, unnest(messages) as message from {{ ref('traces') }}\n"
    )
    (project / "models" / "messages_x4.sql").write_text(
        "{{ config(materialized='table') }}\n"
        "select m.*, copy from {{ ref('messages') }} m, range(4) c(copy)\n"
    )
    subprocess.run([TRACESQL, "run", "--project-dir", str(project)], check=True)
    return project


def output(model: str, label: str, fmt: str) -> Path:
    return WORK / f"{model}-{'before' if label == 'before' else 'now'}.{fmt}"


def time_exports(project: Path, model: str, fmt: str, repeat: int, before: Path | None) -> list[dict]:
    """Rows for this checkout (and the one in `before`), their repeats interleaved."""
    sources = {"this checkout": REPO} | ({"before": before} if before else {})
    runs: dict[str, list[Measured]] = {label: [] for label in sources}
    for _ in range(repeat):
        for label, src in sources.items():
            out = output(model, label, fmt)
            out.unlink(missing_ok=True)
            command = [
                *CLI,
                "export",
                model,
                "--format",
                fmt,
                "-o",
                str(out),
                "--project-dir",
                str(project),
            ]
            measured = run(command, env={**os.environ, "PYTHONPATH": str(src)}, cwd=str(src))
            if measured.returncode != 0:
                raise SystemExit(f"export {fmt} ({label}) failed:\n{measured.stderr}")
            runs[label].append(measured)
    return [summary(model, label, fmt, runs[label], output(model, label, fmt)) for label in sources]


def summary(model: str, label: str, fmt: str, runs: list[Measured], out: Path) -> dict:
    return {
        "model": model,
        "code": label,
        "format": fmt,
        "seconds": round(statistics.median(r.seconds for r in runs), 3),
        "cpu_seconds": round(statistics.median(r.cpu_seconds for r in runs), 3),
        "peak_rss_mib": round(statistics.median(r.peak_rss_mib for r in runs), 1),
        "output_mb": round(out.stat().st_size / 1e6, 1),
        "all_seconds": [round(r.seconds, 3) for r in runs],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--before", type=Path, help="a folder holding another version's tracesql package")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    project = build_project(args.copies)
    load_before = os.getloadavg()
    rows = [
        r
        for model in ("traces", "messages", "messages_x4")
        for fmt in ("jsonl", "parquet")
        for r in time_exports(project, model, fmt, args.repeat, args.before)
    ]
    print(f"{'model':12} {'code':14} {'format':8} {'seconds':>8} {'CPU s':>7} {'peak MiB':>9} {'MB out':>7}")
    for r in rows:
        print(
            f"{r['model']:12} {r['code']:14} {r['format']:8} {r['seconds']:8.2f} {r['cpu_seconds']:7.2f}"
            f" {r['peak_rss_mib']:9.0f} {r['output_mb']:7.1f}"
        )
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "exports": rows,
    }
    (RESULTS / "export.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
