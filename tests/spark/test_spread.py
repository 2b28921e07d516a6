"""The rows of an LLM call spread over the tasks (spark/spread.py): the shuffle carries what the
call's arguments compute from the relation, not the columns they compute it from."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow as pa

from tracesql.secrets.keys import project_key
from tracesql.spark.dialect import parse_duckdb, rewrite
from tracesql.spark.spread import spread_llm_rows

ECHO = "__test_echo"  # stands in for the LLM call: the rewrite only needs its name
# redact() runs in Python after the shuffle: the parts around it are moved, not the whole
QUERY = f"""
SELECT id, {ECHO}(to_json({{'first': redact(array_to_string(l[1:2], ',')), 'n': len(l),
                            'ratio': CASE WHEN k <> 0 THEN 100 // k ELSE length(redact(s)) END,
                            'big': coalesce(redact(s), cast(k + 1 AS VARCHAR))}})) AS answer
FROM t
"""


def spark_sql(query: str, call: str = ECHO) -> str:
    tree = rewrite(parse_duckdb(query), query)
    spread_llm_rows(tree, 2, call)
    return tree.sql("spark")


def test_relation_only_arguments_are_computed_before_the_shuffle() -> None:
    sql = spark_sql(QUERY)
    inner = sql[sql.index("REPARTITION") :]
    outer = sql[: sql.index("REPARTITION")]
    assert not re.search(r"\bl\b", outer) and "FILTER(l," in inner and "SIZE(l) AS __pre" in inner
    # a guarded branch stays behind its guard (moved, 100 DIV 0 would run for k = 0), so does
    # a COALESCE's fallback; their conditions and first values are moved
    assert "100 DIV k" in outer and "k <> 0 AS __pre" in inner
    assert "CAST(k + 1 AS STRING)" in outer


def test_a_select_of_star_keeps_its_arguments() -> None:
    sql = spark_sql(f"SELECT *, {ECHO}(to_json({{'first': l[1:2]}})) AS answer FROM t")
    assert "REPARTITION" in sql and "__pre" not in sql


def test_the_shuffle_carries_the_computed_values_and_they_are_the_same(spark: Any, tmp_path: Path) -> None:
    from pyspark.sql.functions import arrow_udf

    from tracesql.spark.functions import register_text_functions

    spark.udf.register(ECHO, arrow_udf(lambda a: a, "string"))  # type: ignore[call-overload]
    register_text_functions(spark, project_key(tmp_path))
    spark.createDataFrame(
        pa.table(
            {
                "id": [1, 2, 3],
                "l": [list(range(50)), [7], None],
                "k": [2, 0, None],
                "s": ["ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8", None, "x"],
            }
        )
    ).createOrReplaceTempView("t")
    spread = spark.sql(spark_sql(QUERY))
    plain = spark.sql(spark_sql(QUERY, call="__not_called"))  # no rewrite: the query as it was
    assert sorted(spread.collect()) == sorted(plain.collect())
    plan = spread._jdf.queryExecution().executedPlan()
    exchange = _find(plan.inputPlan() if "Adaptive" in plan.nodeName() else plan, "Exchange")
    carried = {a.name() for a in _items(exchange.output())}
    assert "l" not in carried and {"id", "k"} <= carried and any(n.startswith("__pre") for n in carried)


def _items(seq: Any) -> list[Any]:
    return [seq.apply(i) for i in range(seq.size())]


def _find(plan: Any, name: str) -> Any:
    if name in plan.nodeName():
        return plan
    for child in _items(plan.children()):
        if (found := _find(child, name)) is not None:
            return found
    return None


def test_one_task_reads_the_relation_without_a_shuffle(spark: Any) -> None:
    """With one task (few rows) the relation is coalesced, not shuffled: same rows, no Exchange."""
    from pyspark.sql.functions import arrow_udf

    spark.udf.register(ECHO, arrow_udf(lambda a: a, "string"))  # type: ignore[call-overload]
    spark.createDataFrame(pa.table({"id": [1, 2, 3], "s": ["a", None, "c"]})).createOrReplaceTempView("few")
    query = f"SELECT id, {ECHO}(upper(s)) AS answer FROM few"
    tree = rewrite(parse_duckdb(query), query)
    spread_llm_rows(tree, 1, ECHO)
    sql = tree.sql("spark")
    assert "COALESCE(1)" in sql and "REPARTITION" not in sql
    frame = spark.sql(sql)
    assert sorted(frame.collect()) == [(1, "A"), (2, None), (3, "C")]
    plan = frame._jdf.queryExecution().executedPlan()
    assert _find(plan.inputPlan() if "Adaptive" in plan.nodeName() else plan, "Exchange") is None
    assert spark.table("few").rdd.getNumPartitions() > 1 and frame.rdd.getNumPartitions() == 1


FEW = {
    "profiles.yml": """
        target: spark
        targets:
          spark: {type: spark, warehouse: wh}
    """,
    "models/numbers.sql": "{{ config(materialized='table') }} select id from range(1, 4) as r(id)",
    "models/asked.sql": "select id, llm('say ' || id) as a from {{ ref('numbers') }}",
}


def test_a_model_over_few_rows_calls_the_llm_in_one_task_with_the_whole_cap(
    spark: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from click.testing import CliRunner

    from tests.conftest import write_files
    from tracesql.cli import main
    from tracesql.compile.loading import load_project
    from tracesql.spark import engine
    from tracesql.spark.engine import SparkConnection

    project = write_files(tmp_path / "project", FEW)
    built = CliRunner().invoke(main, ["run", "-s", "numbers", "--project-dir", str(project)])
    assert built.exit_code == 0, built.output
    loaded = load_project(project)
    assert loaded.graph is not None
    model = loaded.graph.nodes["model.asked"]
    sql = "select id, llm('say ' || id) as a from numbers"
    with SparkConnection.open(loaded) as con:
        tasks = con.functions.tasks
        assert tasks > 1  # local[2]
        assert "COALESCE(1)" in con.translate(sql, model=model).sql
        plan = con.functions._plan
        assert plan is not None and plan.tasks == 1
        assert all(
            m.max_parallel_requests == plan.config.models[a].max_parallel_requests
            for a, m in plan.worker_config(plan.tasks).models.items()
        )
        monkeypatch.setattr(engine, "FEW_ROWS", 2)  # 3 rows: spread over every task again
        assert f"REPARTITION({tasks})" in con.translate(sql, model=model).sql
        plan = con.functions._plan
        assert plan is not None and plan.tasks == tasks
        assert "REPARTITION" in con.translate(sql).sql  # a query of no model: rows unknown
