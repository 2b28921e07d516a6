"""The Python workers' daemon (tracesql/spark/daemon.py) and the session's warm-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.conftest import require_extra, write_files

PROFILES = """
    target: spark
    targets:
      spark: {type: spark, warehouse: wh}
"""

PROBE = """
import json, os, sys
from tracesql.spark.daemon import PRELOADED, preload
failed = preload()
print(json.dumps({
    "failed": failed,
    "threads": len(os.listdir(f"/proc/{os.getpid()}/task")),
    "loaded": [m for m in PRELOADED if m in sys.modules],
    "threaded": [m for m in ("pyarrow", "numpy") if m in sys.modules],
}))
"""


def test_preload_loads_everything_and_starts_no_thread() -> None:
    """What the daemon loads before it forks imports cleanly and leaves it one thread (a
    thread started before a fork is missing in every worker)."""
    require_extra("pyspark")
    if not os.path.isdir("/proc/self/task"):
        pytest.skip("counting threads needs Linux's /proc")
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    from tracesql.spark.daemon import PRELOADED

    assert report["failed"] == []
    assert report["loaded"] == list(PRELOADED)
    assert report["threads"] == 1
    assert report["threaded"] == []


def _started(pid: int) -> float:
    """When a process started (seconds since the epoch), from /proc."""
    ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    boot = next(
        float(line.split()[1])
        for line in Path("/proc/stat").read_text().splitlines()
        if line.startswith("btime")
    )
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def test_workers_fork_from_tracesql_daemon_and_warm_up_starts_them(spark: Any, tmp_path: Path) -> None:
    """The session's Python workers are children of tracesql's daemon, and after the warm-up a
    query chaining WARM_UP_STAGES Python stages on every core finds all its workers running."""
    if not os.path.isdir("/proc/self/task"):
        pytest.skip("process start times need Linux's /proc")
    from pyspark.sql.functions import arrow_udf

    from tracesql.compile.loading import load_project
    from tracesql.spark.functions import WARM_UP_STAGES, SparkFunctions

    def whoami(values: pa.Array) -> pa.Array:
        parent = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        me = json.dumps({"pid": os.getpid(), "parent": parent, "started": _started(os.getpid())})
        return pa.array([f"{v}\t{me}" for v in values.to_pylist()], type=pa.string())

    spark.udf.register("__test_whoami", arrow_udf(whoami, "string"))  # type: ignore[call-overload]
    project = write_files(tmp_path / "project", {"profiles.yml": PROFILES, "models/one.sql": "select 1 as x"})
    functions = SparkFunctions(spark, load_project(project))
    try:
        functions.warm_up()
        cores = functions.tasks
        expression = "CAST(id AS STRING)"
        for _ in range(WARM_UP_STAGES):
            expression = f"__test_whoami(concat({expression}, ''))"
        asked = time.time()
        rows = spark.range(0, cores, 1, cores).selectExpr(f"{expression} AS w").collect()
    finally:
        functions.close()
    workers = {}
    for row in rows:
        for part in row.w.split("\t")[1:]:
            worker = json.loads(part)
            workers[worker["pid"]] = worker
    assert len(workers) == cores * WARM_UP_STAGES  # a worker per stage and task
    assert all("tracesql.spark.daemon" in w["parent"] for w in workers.values())
    assert all(w["started"] < asked for w in workers.values())
