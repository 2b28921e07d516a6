"""Run the repo's distillation models (digest -> SFT record -> judge) against any
OpenAI-compatible URL and report the time spent in the LLM steps.

    .venv/bin/python bench/llm_pipeline.py --base-url http://127.0.0.1:8000/v1 --traces DIR \
        [--max-parallel 16] [--num-records 100] [--work DIR] [--allow-nulls] [--json OUT] [--no-redact] \
        [--target spark]

With `--target spark` the same models run on Spark in local mode (`--spark-master`, default
local[2]); the session's start-up is timed on its own (`spark_session_seconds`), before the run.

The project is this repository's; a profiles.yml written under --work points the `bench`
model alias at --base-url, and the database and LLM cache live there too (reuse --work for
a warm run). Exits 0 only when every trace has all three LLM columns (with --allow-nulls:
when every trace has a row and every NULL has its error in the call log).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STEPS = ("trace_digests", "sft_records", "sft_judgements")

PROFILES = """
target: bench
targets:
  bench: {{database: {work}/bench.duckdb}}
  spark: {{type: spark, master: "{master}", warehouse: {work}/spark-warehouse}}
providers:
  bench: {{base_url: "{base_url}", api_key_env: TRACESQL_BENCH_KEY}}
models:
  bench: {{provider: bench, model: fake-model, max_parallel_requests: {parallel}, timeout: {timeout}}}
llm: {{cache_path: {work}/llm_cache.sqlite, max_retries: 6, backoff_initial: 0.2, backoff_max: 5.0}}
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-url", required=True)
    ap.add_argument(
        "--traces", required=True, help="a folder of Claude Code sessions (or any format with --format)"
    )
    ap.add_argument("--format", default="claude_code")
    ap.add_argument("--max-parallel", type=int, default=16)
    ap.add_argument("--num-records", type=int, default=100, help="at most this many traces (0: all)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP attempt")
    ap.add_argument(
        "--work", default=None, help="folder for the database, cache and profiles (default: a new temp dir)"
    )
    ap.add_argument(
        "--allow-nulls", action="store_true", help="a NULL with a logged error counts as done (fault runs)"
    )
    ap.add_argument("--json", dest="json_out", help="write the numbers here")
    ap.add_argument(
        "--no-redact", action="store_true", help="secrets: {redact: false} (to measure what redaction costs)"
    )
    ap.add_argument("--target", choices=("duckdb", "spark"), default="duckdb")
    ap.add_argument("--spark-master", default="local[2]")
    args = ap.parse_args()

    work = Path(args.work or tempfile.mkdtemp(prefix="tracesql-llm-bench-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    (work / "profiles.yml").write_text(
        PROFILES.format(
            work=work,
            base_url=args.base_url,
            parallel=args.max_parallel,
            timeout=args.timeout,
            master=args.spark_master,
        )
        + ("secrets: {redact: false}\n" if args.no_redact else "")
    )
    os.environ.setdefault("TRACESQL_BENCH_KEY", "bench-key")

    import tracesql
    from tracesql.execution.runner import RunRequest
    from tracesql.execution.runner import run as run_project

    project = tracesql.load_project(
        str(REPO),
        profiles_dir=str(work),
        target="spark" if args.target == "spark" else None,
        vars={
            "trace_format": args.format,
            "trace_path": str(Path(args.traces).resolve()),
            "num_records": args.num_records or None,
            "llm_model": "bench",
        },
    )
    session_seconds = warm_up_seconds = None
    if args.target == "spark":
        from tracesql.spark.session import start_session

        session_started = time.perf_counter()
        start_session(project.profile.spark)  # the run below shares this session
        session_seconds = round(time.perf_counter() - session_started, 3)
        from tracesql.spark.engine import SparkConnection

        warm_started = time.perf_counter()
        SparkConnection.open(project, warm_up=True).close()  # Python workers started, clients loaded
        warm_up_seconds = round(time.perf_counter() - warm_started, 3)
    started = time.perf_counter()
    results = run_project(project, RunRequest(select=("+sft_dataset",)))
    total = time.perf_counter() - started
    step_seconds = {r.name: r.seconds for r in results.results if r.name in STEPS}
    failed = [f"{r.name}: {r.message}" for r in results.results if r.status != "success"]

    queries = [
        "SELECT count(*) FROM traces",
        "SELECT count(*) FROM sft_dataset WHERE trace_digest IS NOT NULL AND sft_instruction IS NOT NULL "
        "AND judgement IS NOT NULL",
        "SELECT count(*) FROM sft_dataset",
        # each trace left with a NULL needs at least one request that failed for good in the log
        "SELECT count(DISTINCT request_hash) FROM llm_calls WHERE error IS NOT NULL AND NOT cache_hit",
    ]
    if args.target == "spark":
        from tracesql.spark.engine import SparkConnection

        with SparkConnection.open(project) as spark:
            traces, complete, rows_out, errors = (spark.arrow(q).column(0)[0].as_py() for q in queries)
    else:
        con = tracesql.connect(str(work / "bench.duckdb"), project=False)
        try:
            traces, complete, rows_out, errors = (con.execute(q).fetchone()[0] for q in queries)
        finally:
            con.close()
    nulls = traces - complete
    unexplained = max(0, nulls - errors)

    out = {
        "traces": traces,
        "rows_out": rows_out,
        "complete": complete,
        "nulls": nulls,
        "logged_errors": errors,
        "llm_step_seconds": round(sum(step_seconds.values()), 3),
        "steps": {k: round(v, 3) for k, v in step_seconds.items()},
        "run_seconds": round(total, 3),
        "target": args.target,
        "spark_session_seconds": session_seconds,
        "spark_warm_up_seconds": warm_up_seconds,
        "llm": results.llm,
        "failed_models": failed,
    }
    print(json.dumps(out))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(out, indent=2))
    ok = not failed and rows_out == traces and (complete == traces or (args.allow_nulls and unexplained == 0))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
