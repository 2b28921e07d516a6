"""Materializations on Spark: view, table (atomic replace), incremental (append, merge on
unique_key), ephemeral; data tests; tables that outlive the session's catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import write_files
from tracesql.cli import main
from tracesql.compile.loading import load_project
from tracesql.spark.engine import SparkConnection

PROJECT = {
    "profiles.yml": """
        target: spark
        targets:
          spark: {type: spark, warehouse: wh, conf: {spark.sql.shuffle.partitions: 2}}
        vars: {upto: 3, start: 1}
    """,
    "models/numbers.sql": """
        {{ config(materialized='table') }}
        select id, 'n' || id as name from range({{ var('start') }}, {{ var('upto') }} + 1) as r(id)
    """,
    "models/doubled.sql": """
        {{ config(materialized='ephemeral') }}
        select id, id * 2 as twice from {{ ref('numbers') }}
    """,
    "models/recent.sql": """
        select id, twice from {{ ref('doubled') }} where id > 1
    """,
    "models/log.sql": """
        {{ config(materialized='incremental') }}
        select id, name from {{ ref('numbers') }}
        {% if is_incremental() %} where id > (select max(id) from {{ this }}) {% endif %}
    """,
    "models/latest.sql": """
        {{ config(materialized='incremental', unique_key='id') }}
        select id, name || '-v{{ var('upto') }}' as name from {{ ref('numbers') }}
        {% if is_incremental() %} where id >= {{ var('upto') }} - 2 {% endif %}
    """,
    "models/schema.yml": """
        version: 2
        models:
          - name: recent
            columns:
              - name: id
                data_tests: [not_null, unique]
              - name: twice
                data_tests:
                  - accepted_values: {values: [4, 6]}
    """,
}


def cli(project: Path, *args: str) -> Any:
    return CliRunner().invoke(main, [*args, "--project-dir", str(project)], catch_exceptions=False)


def spark_rows(project: Path, sql: str, **vars_: Any) -> list[tuple[Any, ...]]:
    with SparkConnection.open(load_project(project, vars=vars_ or None)) as con:
        return [tuple(r.values()) for r in con.arrow(sql).to_pylist()]


@pytest.fixture
def project(spark: Any, tmp_path: Path) -> Path:
    return write_files(tmp_path / "project", dict(PROJECT))


def versions(project: Path, model: str) -> list[str]:
    return sorted(p.name for p in (project / "wh" / "main" / model).iterdir() if p.name.startswith("v-"))


def test_models_build_and_grow_incrementally(project):
    first = cli(project, "build")
    assert first.exit_code == 0, first.output
    assert "PASS" in first.output or "pass" in first.output.lower()
    assert spark_rows(project, "SELECT id, twice FROM recent ORDER BY id") == [(2, 4), (3, 6)]
    assert spark_rows(project, "SELECT count(*) FROM log") == [(3,)]

    again = cli(project, "run", "--vars", "{upto: 5}")
    assert again.exit_code == 0, again.output
    assert "inserted 2 rows" in again.output  # log: append of the new ids only
    assert "merged 3 rows (1 replaced)" in again.output  # latest: ids 4..5 new, 3 replaced... see below
    assert spark_rows(project, "SELECT id FROM log ORDER BY id", upto=5) == [(1,), (2,), (3,), (4,), (5,)]
    assert spark_rows(project, "SELECT id, name FROM latest ORDER BY id", upto=5) == [
        (1, "n1-v3"),
        (2, "n2-v3"),
        (3, "n3-v5"),
        (4, "n4-v5"),
        (5, "n5-v5"),
    ]
    assert len(versions(project, "numbers")) == 1  # the old version is gone once replaced


def test_a_failed_table_build_leaves_the_old_table(project):
    assert cli(project, "run", "-s", "numbers").exit_code == 0
    before = versions(project, "numbers")
    (project / "models" / "numbers.sql").write_text(
        "{{ config(materialized='table') }}\nselect id, 1 / (id - id) as boom from range(1, 3) as r(id)\n"
    )
    failed = cli(project, "run", "-s", "numbers")
    assert failed.exit_code == 1
    assert "DIVIDE_BY_ZERO" in failed.output
    assert versions(project, "numbers") == before
    assert spark_rows(project, "SELECT count(*) FROM numbers") == [(3,)]


def test_a_rebuilt_table_has_the_new_columns(project):
    """The table is declared with the columns its new version was written with (from the
    Parquet footers), not the ones the session's catalog had."""
    assert cli(project, "run", "-s", "numbers").exit_code == 0
    (project / "models" / "numbers.sql").write_text(
        "{{ config(materialized='table') }}\nselect id, id * 10 as tens, 'n' || id as name from range(1, 3) as r(id)\n"
    )
    assert cli(project, "run", "-s", "numbers").exit_code == 0
    assert spark_rows(project, "SELECT id, tens, name FROM numbers ORDER BY id") == [
        (1, 10, "n1"),
        (2, 20, "n2"),
    ]


def test_a_failing_data_test_is_reported(project):
    (project / "models" / "schema.yml").write_text(
        PROJECT["models/schema.yml"].replace("values: [4, 6]", "values: [4]")
    )
    result = cli(project, "build")
    assert result.exit_code == 1
    assert "1 failing row" in result.output


def test_tables_and_views_outlive_the_session_catalog(project, spark):
    assert cli(project, "run").exit_code == 0
    # a new session knows nothing of them: drop this one's catalog entries
    for name in ("numbers", "log", "latest"):
        spark.sql(f"DROP TABLE IF EXISTS `{name}`")
    spark.sql("DROP VIEW IF EXISTS `recent`")
    assert spark_rows(project, "SELECT count(*) FROM recent") == [(2,)]
    assert spark_rows(project, "SELECT count(*) FROM numbers") == [(3,)]


def test_spark_keys_on_a_duckdb_target_are_an_error(tmp_path):
    project = write_files(
        tmp_path,
        {
            "profiles.yml": "targets:\n  dev: {database: x.duckdb, master: 'local[2]'}\n",
            "models/a.sql": "select 1",
        },
    )
    result = cli(project, "compile")
    assert result.exit_code == 1
    assert "targets.dev.master: only a `type: spark` target takes master" in result.output


def test_speculation_cannot_be_turned_on(tmp_path):
    from tracesql.errors import ConfigError
    from tracesql.project.settings import SparkTarget
    from tracesql.spark.session import spark_conf

    with pytest.raises(ConfigError, match="spark.speculation"):
        spark_conf(SparkTarget("local[1]", str(tmp_path), {"spark.speculation": "true"}))
    assert spark_conf(SparkTarget("local[1]", str(tmp_path), {}))["spark.speculation"] == "false"
