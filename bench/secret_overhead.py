"""What redaction costs where it is on by default: the LLM pipeline and exports.

    .venv/bin/python bench/secret_overhead.py [--repeat 3] [--latency-ms 200] [--skip-llm]

1. The LLM pipeline benchmark (bench/llm_pipeline.py: 100 real Claude Code traces, digest ->
   SFT record -> judge, against ../shared/tools/fake_openai_server.py), cold each time,
   with redaction on (the default) and off (`--no-redact`).
2. `tracesql export traces --format jsonl|parquet` of the benchmark corpus' `traces` table
   (bench/export.py's project, 960 sessions), with redaction on and off
   (`secrets: {redact: false}` in its profiles.yml).

Whole processes, CPU seconds of the process tree (user + system; the steadier number on a
shared machine) and wall seconds; on and off interleaved, median of --repeat. Writes
bench/results/secret_overhead.json (with --skip-llm: secret_overhead_exports.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export import CLI, build_project  # noqa: E402
from llm_driver import FakeServer, first_traces  # noqa: E402
from measure import Measured, run  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "bench" / ".work"
RESULTS = REPO / "bench" / "results"


def pipeline(traces: Path, latency: float, redact: bool, index: int) -> Measured:
    server = FakeServer(latency)
    work = WORK / f"overhead-llm-{'on' if redact else 'off'}-{index}"
    shutil.rmtree(work, ignore_errors=True)
    command = [sys.executable, str(REPO / "bench" / "llm_pipeline.py"), "--base-url", server.url]
    command += ["--traces", str(traces), "--num-records", "0", "--work", str(work)]
    measured = run(command + ([] if redact else ["--no-redact"]))
    stats = server.stop()
    if measured.returncode != 0:
        raise SystemExit(f"pipeline failed:\n{measured.stderr[-3000:]}")
    if stats.get("requests") != 300:
        raise SystemExit(f"expected 300 requests, the server saw {stats}")
    return measured


def export(project: Path, fmt: str, redact: bool) -> Measured:
    profiles = project / "profiles.yml"
    base = "target: dev\ntargets:\n  dev: {database: bench.duckdb}\n"
    profiles.write_text(base + ("" if redact else "secrets: {redact: false}\n"))
    out = WORK / f"overhead-traces.{fmt}"
    out.unlink(missing_ok=True)
    measured = run([*CLI, "export", "traces", "--format", fmt, "-o", str(out), "--project-dir", str(project)])
    if measured.returncode != 0:
        raise SystemExit(f"export failed:\n{measured.stderr[-3000:]}")
    return measured


def compare(name: str, runs: dict[bool, list[Measured]]) -> dict:
    def median(flag: bool, attr: str) -> float:
        return round(statistics.median(getattr(m, attr) for m in runs[flag]), 3)

    row = {
        "what": name,
        "cpu_on": median(True, "cpu_seconds"),
        "cpu_off": median(False, "cpu_seconds"),
        "wall_on": median(True, "seconds"),
        "wall_off": median(False, "seconds"),
        "all_cpu_on": [round(m.cpu_seconds, 3) for m in runs[True]],
        "all_cpu_off": [round(m.cpu_seconds, 3) for m in runs[False]],
    }
    row["cpu_overhead_pct"] = round(100 * (row["cpu_on"] / row["cpu_off"] - 1), 1)
    row["wall_overhead_pct"] = round(100 * (row["wall_on"] / row["wall_off"] - 1), 1)
    print(
        f"{name:32s} CPU {row['cpu_off']:6.2f} s -> {row['cpu_on']:6.2f} s ({row['cpu_overhead_pct']:+.1f} %)"
        f"   wall {row['wall_off']:6.2f} s -> {row['wall_on']:6.2f} s ({row['wall_overhead_pct']:+.1f} %)"
    )
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--latency-ms", type=float, default=200.0)
    ap.add_argument("--skip-llm", action="store_true", help="only the exports")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    rows = []
    runs: dict[bool, list[Measured]] = {True: [], False: []}
    if not args.skip_llm:
        traces = first_traces(100)
        for i in range(args.repeat):
            for redact in (True, False):
                runs[redact].append(pipeline(traces, args.latency_ms, redact, i))
        rows.append(compare("LLM pipeline (100 traces, c16)", runs))
    project = build_project(40)
    for fmt in ("jsonl", "parquet"):
        runs = {True: [], False: []}
        for _ in range(args.repeat):
            for redact in (True, False):
                runs[redact].append(export(project, fmt, redact))
        rows.append(compare(f"export traces --format {fmt}", runs))
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "secret_overhead_exports.json" if args.skip_llm else "secret_overhead.json"
    (RESULTS / name).write_text(
        json.dumps(
            {
                "rows": rows,
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
                "load_average": os.getloadavg(),
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
