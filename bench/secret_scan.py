"""Secret-scanning engines on real Claude Code JSONL: which one tracesql uses, and why.

    .venv/bin/python bench/secret_scan.py [--mb 40]

Scans the benchmark corpus (../shared/tools/make_bench_corpus.py, 960 real Claude Code
sessions) with the same rules (tracesql/secrets/rules.py) run by:

  python re     the rules as one alternation in Python's `re` (on a 4 MB sample: it is slow)
  re2           google-re2 on each file's UTF-8 bytes (what redact() does)
  re2 joined    google-re2's boundary-free PREFILTER over many texts at once (redact_array)
  duckdb        DuckDB's own RE2, `regexp_matches(line, PREFILTER)` per JSONL line, 1 and 2 threads

and redact_arrow over every string of the `traces` table built from the same corpus (the
work an export of that table adds). Prints MB/s; writes bench/results/secret_scan.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TRACESQL_SHARED", REPO.parent / "shared"))
WORK = REPO / "bench" / ".work"
RESULTS = REPO / "bench" / "results"
sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402

from tracesql.connection import open_connection  # noqa: E402
from tracesql.secrets import rules  # noqa: E402
from tracesql.secrets.columns import redact_arrow  # noqa: E402
from tracesql.secrets.detector import PATTERN, PREFILTER, candidate_spans, redact_bytes  # noqa: E402
from tracesql.sqltext import string_literal  # noqa: E402


def best_of(repeat: int, fn) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=int, default=40, help="MB of JSONL to scan (default 40)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    corpus = WORK / "bench-corpus"
    subprocess.run(
        [
            sys.executable,
            str(SHARED / "tools" / "make_bench_corpus.py"),
            str(SHARED / "corpus"),
            str(corpus),
            "40",
        ],
        check=True,
    )
    files, size = [], 0
    for path in sorted(corpus.rglob("*.jsonl")):
        files.append(path.read_bytes())
        size += len(files[-1])
        if size >= args.mb * 1e6:
            break
    data = b"".join(files)
    mb = len(data) / 1e6
    results: dict[str, float] = {}

    sample = data[:4_000_000].decode("utf-8", "replace")
    python_re = re.compile(PATTERN)
    seconds = best_of(1, lambda: list(python_re.finditer(sample)))
    results["python re (one alternation)"] = len(sample.encode()) / 1e6 / seconds
    results["re2, per file (redact)"] = mb / best_of(args.repeat, lambda: [redact_bytes(f) for f in files])
    results["re2 joined (PREFILTER)"] = mb / best_of(args.repeat, lambda: candidate_spans(data))

    con = duckdb.connect()
    lines = data.decode("utf-8", "replace").splitlines()
    con.execute("CREATE TABLE t AS SELECT unnest(?::VARCHAR[]) AS line", [lines])
    query = f"SELECT count(*) FROM t WHERE regexp_matches(line, {string_literal(PREFILTER)})"
    for threads in (1, 2):
        con.execute(f"SET threads = {threads}")
        results[f"duckdb regexp_matches, {threads} thread(s)"] = mb / best_of(
            args.repeat, lambda: con.execute(query).fetchall()
        )

    db = WORK / "secrets-traces.duckdb"
    if not db.exists():
        with open_connection(str(db), wal=False) as tcon:
            tcon.execute(
                f"CREATE TABLE traces AS SELECT * FROM claude_code_traces({string_literal(str(corpus))})"
            )
            tcon.execute("CHECKPOINT")
    con = duckdb.connect(str(db), read_only=True)
    table = con.sql("SELECT * FROM traces").to_arrow_table()
    text_mb = (
        con.execute(
            "SELECT sum(strlen(coalesce(b.text, '')) + strlen(coalesce(b.data, ''))) FROM "
            "(SELECT unnest(messages) AS m FROM traces), unnest(m.content) AS u(b)"
        ).fetchall()[0][0]
        / 1e6
    )
    to_arrow = best_of(args.repeat, lambda: con.sql("SELECT * FROM traces").to_arrow_table())
    redact_table = best_of(
        args.repeat, lambda: pa.table([redact_arrow(c) for c in table.columns], names=table.column_names)
    )
    out = {
        "mb_scanned": round(mb, 1),
        "rules": len(rules.RULES),
        "mb_per_second": {k: round(v, 1) for k, v in results.items()},
        "traces_table": {
            "rows": table.num_rows,
            "message_block_text_mb": round(text_mb, 1),
            "to_arrow_seconds": round(to_arrow, 3),
            "redact_arrow_seconds": round(redact_table, 3),
        },
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, DuckDB {duckdb.__version__}",
        "load_average": os.getloadavg(),
    }
    for name, speed in results.items():
        print(f"{name:42s} {speed:8.1f} MB/s")
    print(
        f"traces table ({table.num_rows} rows, {text_mb:.0f} MB of block text): to Arrow {to_arrow:.3f} s, redact_arrow {redact_table:.3f} s"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "secret_scan.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
