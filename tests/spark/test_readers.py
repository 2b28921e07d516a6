"""The trace readers as a Spark Python Data Source: the same rows as DuckDB's table functions,
for every option, and the same diagnostics (queryable on Spark too)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import tracesql
from tests.conftest import write_files
from tests.spark.test_example_project import normal
from tracesql.compile.loading import load_project
from tracesql.errors import ReaderError
from tracesql.spark.engine import SparkConnection

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def on_spark(spark: Any, tmp_path: Path):
    project = write_files(
        tmp_path / "project",
        {
            "profiles.yml": "target: spark\ntargets:\n  spark: {type: spark}\n",
            "models/one.sql": "select 1 as x",
        },
    )
    con = SparkConnection.open(load_project(project))
    yield con
    con.close()


def rows(table: Any) -> list[str]:
    return sorted(json.dumps(normal(r), sort_keys=True) for r in table.to_pylist())


def duckdb_rows(sql: str) -> list[str]:
    with tracesql.connect(project=False) as con:
        table = con.sql(sql).arrow()
        return rows(table.read_all() if hasattr(table, "read_all") else table)


@pytest.mark.parametrize(
    "call",
    [
        f"claude_code_traces('{FIXTURES}/claude_code')",
        f"codex_traces('{FIXTURES}/codex', file_pattern := '*.jsonl')",
        f"traces('{FIXTURES}')",
        f"traces('{FIXTURES}', max_traces := 3, shuffle := true, seed := 7)",
        f"traces('{FIXTURES}', partition_index := 1, partition_count := 3)",
        f"claude_code_traces('{FIXTURES}/claude_code', recursive := false, follow_symlinks := true)",
        f"claude_code_traces('{FIXTURES}/claude_code', max_line_bytes := 4096, off_path_warning := 0.5)",
        f"atif_traces('{FIXTURES}/atif', redact := true)",
    ],
)
def test_rows_equal_duckdb_for_every_option(on_spark, call):
    ours = rows(on_spark.arrow(f"SELECT * FROM {call}"))
    theirs = duckdb_rows(f"SELECT * REPLACE (source_meta::VARCHAR AS source_meta) FROM {call}")
    assert ours and ours == theirs


def test_diagnostics_are_queryable_on_spark(on_spark):
    sql = f"SELECT count(*) AS n FROM claude_code_traces('{FIXTURES}/claude_code')"
    on_spark.arrow(sql)
    ours = on_spark.arrow("SELECT path, line, severity, reason FROM trace_diagnostics()").to_pylist()
    with tracesql.connect(project=False) as con:
        con.sql(sql).fetchall()
        theirs = con.sql("SELECT path, line, severity, reason FROM trace_diagnostics()").arrow()
        theirs = (theirs.read_all() if hasattr(theirs, "read_all") else theirs).to_pylist()
    key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
    assert ours and sorted(ours, key=key) == sorted(theirs, key=key)


def test_strict_mode_fails_with_the_file_and_line(on_spark):
    with pytest.raises(ReaderError) as raised:
        on_spark.arrow(f"SELECT * FROM claude_code_traces('{FIXTURES}/claude_code', strict := true)")
    assert raised.value.message.startswith("strict mode:")
    assert raised.value.path and raised.value.path.startswith(str(FIXTURES / "claude_code"))


def test_a_bad_option_is_the_duckdb_error(on_spark):
    with pytest.raises(ReaderError, match="partition_index must be in 0..partition_count-1"):
        on_spark.arrow(f"SELECT * FROM traces('{FIXTURES}', partition_index := 5, partition_count := 2)")
