"""The example project on `target: spark` (local mode) against the test server: every
model's rows equal the DuckDB target's, value for value (types may widen), LLM columns
included; the LLM cache is shared both ways (0 requests); one new trace file costs
exactly its calls on Spark too."""

from __future__ import annotations

import json
import math
import shutil
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.llm.fake_server import FakeLLMServer
from tests.test_example_project import (
    LLM_MODELS,
    PROJECT_FILES,
    REPO,
    USAGE_MODELS,
    add_trace_file,
    cli,
    explain,
    generous,
)
from tracesql.compile.loading import load_project
from tracesql.execution.runner import RunRequest, run
from tracesql.spark.engine import SparkConnection

MODELS = (
    "traces",
    "tool_interactions",
    *LLM_MODELS,
    "sft_dataset",
    "sft_chat",
    *USAGE_MODELS,
)
VARS = ("--vars", "{llm_model: local}")


def copy_project(root: Path) -> Path:
    root.mkdir()
    for name in PROJECT_FILES:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    return root


def normal(value: Any) -> Any:
    """A value as both engines must agree on it: integers of any width alike, instants in UTC."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normal(v) for v in value]
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return int(value)
    return value


def duckdb_rows(project: Path, model: str) -> tuple[list[str], list[str]]:
    con = duckdb.connect(str(project / "tracesql.duckdb"), read_only=True)
    try:
        table = con.sql(f'SELECT * FROM "{model}"').arrow()
    finally:
        con.close()
    if hasattr(table, "read_all"):
        table = table.read_all()
    return table.column_names, sorted(json.dumps(normal(r), sort_keys=True) for r in table.to_pylist())


def spark_rows(con: SparkConnection, model: str) -> tuple[list[str], list[str]]:
    table = con.spark.table(f"`{model}`").toArrow()
    return table.column_names, sorted(json.dumps(normal(r), sort_keys=True) for r in table.to_pylist())


def assert_same_rows(project: Path) -> None:
    loaded = load_project(project, target="spark", vars={"llm_model": "local"})
    with SparkConnection.open(loaded) as con:
        for model in MODELS:
            duck_columns, duck = duckdb_rows(project, model)
            spark_columns, ours = spark_rows(con, model)
            assert spark_columns == duck_columns, model
            assert len(ours) == len(duck) and len(duck) > 0, model
            for mine, theirs in zip(ours, duck, strict=True):
                assert mine == theirs, (
                    f"{model}: first difference\nspark:  {mine[:600]}\nduckdb: {theirs[:600]}"
                )


def bodies(requests: list[Any]) -> list[str]:
    return sorted(json.dumps(r.body, sort_keys=True) for r in requests)


@pytest.mark.slow
def test_the_example_project_on_spark_equals_duckdb_and_shares_the_llm_cache(spark, tmp_path, monkeypatch):
    with FakeLLMServer(default=generous) as server:
        monkeypatch.setenv("TRACESQL_LLM_BASE_URL", server.url)
        monkeypatch.setenv("TRACESQL_LLM_API_KEY", "test-key-not-a-secret")
        project = copy_project(tmp_path / "project")
        first = cli(project, "run", *VARS)
        assert first.exit_code == 0, first.output
        asked = len(server.requests)
        assert asked > 0
        # what one new trace file costs on DuckDB (then the project is put back as it was):
        # the reference for the Spark run below (same folder, so the same trace keys)
        saved = tmp_path / "saved"
        shutil.copytree(project / "target", saved / "target")
        shutil.copy(project / "tracesql.duckdb", saved / "tracesql.duckdb")
        add_trace_file(project)
        assert cli(project, "run", *VARS).exit_code == 0
        duckdb_new = bodies(server.requests[asked:])
        assert duckdb_new
        shutil.rmtree(project / "examples" / "traces" / "codex" / "new")
        shutil.rmtree(project / "target")
        shutil.copytree(saved / "target", project / "target")
        shutil.copy(saved / "tracesql.duckdb", project / "tracesql.duckdb")
        asked = len(server.requests)

        on_spark = cli(project, "run", *VARS, "--target", "spark")
        assert on_spark.exit_code == 0, on_spark.output
        assert f"{9 + len(USAGE_MODELS)} ok" in on_spark.output, on_spark.output
        assert len(server.requests) == asked, explain(server.requests[asked:])  # every answer a cache hit
        assert_same_rows(project)

        # one new trace file costs exactly its calls on Spark: the requests DuckDB made for it
        add_trace_file(project)
        again = cli(project, "run", *VARS, "--target", "spark")
        assert again.exit_code == 0, again.output
        spark_new = server.requests[asked:]
        assert bodies(spark_new) == duckdb_new, explain(spark_new)
        # the DuckDB target then asks nothing: the Spark run's answers are in the shared cache
        duck_again = cli(project, "run", *VARS)
        assert duck_again.exit_code == 0, duck_again.output
        assert len(server.requests) == asked + len(spark_new), explain(
            server.requests[asked + len(spark_new) :]
        )
        assert_same_rows(project)
        con = duckdb.connect(str(project / "tracesql.duckdb"), read_only=True)
        (count,) = con.execute(
            "SELECT count(*) FROM sft_dataset WHERE trace_id = '99999999-1111-4111-8111-111111111111'"
        ).fetchone() or (0,)
        con.close()
        assert count == 1


@pytest.mark.slow
def test_a_spark_run_first_leaves_nothing_for_duckdb_to_ask(spark, tmp_path, monkeypatch):
    project = copy_project(tmp_path / "project")
    with FakeLLMServer(default=generous) as server:
        monkeypatch.setenv("TRACESQL_LLM_BASE_URL", server.url)
        monkeypatch.setenv("TRACESQL_LLM_API_KEY", "test-key-not-a-secret")
        on_spark = cli(project, "run", *VARS, "--target", "spark", "-s", "+sft_dataset")
        assert on_spark.exit_code == 0, on_spark.output
        asked = len(server.requests)
        assert asked > 0
        bodies = [json.dumps(r.body, sort_keys=True) for r in server.requests]
        assert len(bodies) == len(set(bodies)), explain(server.requests)  # no request sent twice
        # query, show and export read the Spark tables
        query = cli(
            project, "query", "--target", "spark", "SELECT count(*) AS n FROM sft_dataset", "--format", "csv"
        )
        assert query.exit_code == 0 and query.output.strip().splitlines()[-1] == "15", query.output
        record = cli(project, "show", "sft_dataset", "--target", "spark", "--record", "1")
        assert record.exit_code == 0 and "sft_instruction" in record.output, record.output
        spark_export = tmp_path / "spark.jsonl"
        exported = cli(project, "export", "sft_dataset", "--target", "spark", "-o", str(spark_export))
        assert exported.exit_code == 0, exported.output
        on_duckdb = cli(project, "run", *VARS, "-s", "+sft_dataset")
        assert on_duckdb.exit_code == 0, on_duckdb.output
        assert len(server.requests) == asked, explain(server.requests[asked:])
        duck_export = tmp_path / "duckdb.jsonl"
        assert cli(project, "export", "sft_dataset", "-o", str(duck_export)).exit_code == 0
        lines = [sorted(p.read_text().splitlines()) for p in (spark_export, duck_export)]
        assert lines[0] == lines[1] and len(lines[0]) == 15  # the same file from either target
        calls = (
            duckdb.connect(str(project / "tracesql.duckdb"), read_only=True)
            .execute(
                "SELECT count(*) FILTER (WHERE cache_hit), count(*) FILTER (WHERE attempt >= 1) FROM llm_calls"
            )
            .fetchone()
        )
        assert calls is not None and calls[0] > 0 and calls[1] == asked  # the Spark run's calls are logged


@pytest.mark.slow
def test_a_stop_cancels_the_spark_job_and_keeps_what_was_answered(spark, tmp_path, monkeypatch):
    import hashlib
    import threading

    from tests.llm.fake_server import Reply
    from tracesql.llm import interrupts
    from tracesql.llm.cache import LLMStore

    project = copy_project(tmp_path / "project")
    slow = threading.Event()
    slow.set()

    def some_hang(request: Any) -> Any:
        # a third of the requests hang (until the stop) while the others are answered at once
        if slow.is_set() and int(hashlib.md5(request.prompt.encode()).hexdigest(), 16) % 3 == 0:
            return Reply.hang(60)
        return generous(request)

    with FakeLLMServer(default=some_hang) as server:
        monkeypatch.setenv("TRACESQL_LLM_BASE_URL", server.url)
        monkeypatch.setenv("TRACESQL_LLM_API_KEY", "test-key-not-a-secret")

        def stop_once_all_were_asked() -> None:
            server.wait_for_requests(15, timeout=120)
            time.sleep(2)  # the quick answers arrive and are kept in the workers' shards
            interrupts.request_stop("SIGINT")

        stopper = threading.Thread(target=stop_once_all_were_asked, daemon=True)
        stopper.start()
        loaded = load_project(project, target="spark", vars={"llm_model": "local"})
        try:  # the library side of `tracesql run` (the CLI exits the process on a stop)
            results = run(loaded, RunRequest(select=("+trace_digests",)))
        finally:
            stopper.join(timeout=130)
            interrupts.reset()
        slow.clear()
        assert results.interrupted == "SIGINT"
        assert [r.status for r in results.results if r.name == "trace_digests"] != ["success"]
        asked = len(server.requests)
        store = LLMStore(project / "target" / "llm_cache.sqlite", project / "target" / "llm_calls.sqlite")
        try:
            answered = {r.request_hash for r in store.calls() if r.attempt and r.status_code == 200}
        finally:
            store.close()
        assert 0 < len(answered) < 15  # the quick answers were merged into the shared cache and log
        resumed = cli(project, "run", *VARS, "--target", "spark", "-s", "+trace_digests")
        assert resumed.exit_code == 0, resumed.output
        assert len(server.requests) - asked == 15 - len(answered)  # only what had no answer is asked


@pytest.mark.slow
def test_max_calls_is_the_drivers_count_across_workers(spark, tmp_path, monkeypatch):
    from tracesql.spark import engine

    monkeypatch.setattr(engine, "FEW_ROWS", 0)  # the 15 traces are spread over every task
    project = copy_project(tmp_path / "project")
    with FakeLLMServer(default=generous) as server:
        monkeypatch.setenv("TRACESQL_LLM_BASE_URL", server.url)
        monkeypatch.setenv("TRACESQL_LLM_API_KEY", "test-key-not-a-secret")
        limited = cli(project, "run", *VARS, "--target", "spark", "-s", "+trace_digests", "--max-calls", "7")
        assert limited.exit_code in (0, 1), limited.output
        assert len(server.requests) == 7  # the rows were spread over two tasks; the driver admitted 7
        assert "8 not asked (budget)" in limited.output, limited.output
