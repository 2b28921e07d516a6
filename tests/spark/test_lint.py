"""The Spark lint: each DuckDB construct Spark cannot run (or would run differently) is named
with its file, line and column and a rewrite, before anything runs. No Spark needed."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.conftest import write_files
from tracesql.cli import main
from tracesql.spark.builtins import SPARK_FUNCTIONS
from tracesql.spark.lint import lint


@pytest.mark.parametrize(
    ("sql", "construct", "advice"),
    [
        ("SELECT hash(s) FROM t", "hash()", "md5(x)"),
        ("SELECT list_aggregate(l, 'sum') FROM t", "list_aggregate()", "list functions"),
        ("SELECT unnest(l).k FROM t", "unnest(...).field", "sub-query"),
        ("SELECT epoch_ms(ts) FROM t", "epoch_ms()", "unix_millis"),
        ("SELECT 'abcdef'[2:3] FROM t", "string indexing or slicing", "substring"),
        ("SELECT lower(s)[1] FROM t", "string indexing or slicing", "substring"),
        ("SELECT * EXCLUDE (a) FROM t", "SELECT * EXCLUDE / REPLACE", "list the columns"),
        ("SELECT * REPLACE (1 AS a) FROM t", "SELECT * EXCLUDE / REPLACE", "list the columns"),
        ("SELECT unnest(a) AS x, id, unnest(b) AS y FROM t", "this query", "next to each other"),
        ("SELECT llm_struct('p', schema_column) FROM t", "this query", "string literal"),
        ("SELECT * FROM codex_traces(path := lower('X'))", "this query", "constants"),
        ("SELECT x FROM t, unnest(a, b) WITH ORDINALITY AS u(x, i)", "this query", "unnest one list"),
    ],
)
def test_each_unsupported_construct_is_named_with_a_rewrite(sql, construct, advice):
    findings = lint(sql)
    assert findings, sql
    assert findings[0].construct == construct
    assert advice in findings[0].suggestion


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT len(l), l[1], l[2:3], [x for x in l if x > 1], md5(s), message_text(m) FROM t",
        "SELECT x, i FROM t, unnest(l) WITH ORDINALITY AS u(x, i)",
        "SELECT llm('hi ' || s, model := 'm'), redact(s), anonymize(s) FROM traces('/x')",
        "SELECT * FROM trace_diagnostics()",
    ],
)
def test_what_the_rewrites_cover_passes(sql):
    assert lint(sql) == []


def test_findings_point_at_the_line_and_column_of_the_model_file(tmp_path):
    project = write_files(
        tmp_path,
        {
            "profiles.yml": """
                target: spark
                targets:
                  spark: {type: spark}
            """,
            "models/ok.sql": "select 1 as id, 'x' as s",
            "models/bad.sql": """
                select
                    id,
                    hash(s) as h,
                    epoch_ms(id) as t
                from {{ ref('ok') }}
            """,
            "models/worse.sql": "select list_aggregate([1], 'sum') as n",
        },
    )
    result = CliRunner().invoke(main, ["compile", "--project-dir", str(project)])
    assert result.exit_code == 1
    assert "models/bad.sql:3:5: Spark cannot run hash()" in result.output
    assert "models/bad.sql:4:5: Spark cannot run epoch_ms()" in result.output
    assert "and 1 more models Spark cannot run: worse" in result.output


def test_compile_on_a_spark_target_writes_spark_sql(tmp_path):
    project = write_files(
        tmp_path,
        {
            "profiles.yml": "target: spark\ntargets:\n  spark: {type: spark}\n",
            "models/firsts.sql": "select l[1] as first, len(l) as n from (select [1, 2] as l)",
        },
    )
    result = CliRunner().invoke(main, ["compile", "--project-dir", str(project)])
    assert result.exit_code == 0, result.output
    written = (project / "target" / "compiled" / "models" / "firsts.sql").read_text()
    assert "TRY_ELEMENT_AT(l, 1)" in written and "SIZE(l)" in written


def test_the_function_list_is_spark_s(spark):
    live = {row[0] for row in spark.sql("SHOW SYSTEM FUNCTIONS").collect()}
    missing = SPARK_FUNCTIONS - live
    assert not missing, f"builtins.py names functions this Spark lacks: {sorted(missing)[:10]}"
