"""`query`, `show`, `export` and `show --record` on a Spark target.

A query runs on Spark (translated like a model). `show`, `export` and `--record` read a
built model's rows from the warehouse through Spark into an in-memory DuckDB table of the
same name, then go the DuckDB way (the same redaction, JSON encoding and COPY): the rows
come to the machine that runs the command, which suits what is exported (distilled data
sets), not whole corpora: for those, read the Parquet under the warehouse directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracesql.errors import ProjectError
from tracesql.sqltext import quote

if TYPE_CHECKING:
    from tracesql.connection import Connection
    from tracesql.llm.options import RunOptions
    from tracesql.project.nodes import Model
    from tracesql.project.project import Project
    from tracesql.spark.engine import SparkConnection

# Columns that are JSON on DuckDB and text on Spark: made JSON again in the DuckDB copy
JSON_COLUMNS = ("source_meta",)


def on_spark(project: Project | None) -> bool:
    return project is not None and project.profile.target_type == "spark"


def spark_rows(
    project: Project, sql: str, limit: int | None, run_options: RunOptions | None = None
) -> tuple[list[str], list[tuple[Any, ...]], bool]:
    """(columns, rows, more) of one DuckDB query run on Spark."""
    from tracesql.spark.engine import SparkConnection  # pyspark's side: only for a Spark target

    limited = sql if limit is None else f"SELECT * FROM (\n{sql}\n) LIMIT {int(limit) + 1}"
    with SparkConnection.open(project, run_options) as con:
        table = con.arrow(limited)
    rows = [tuple(r.values()) for r in table.to_pylist()]
    more = limit is not None and len(rows) > limit
    return table.column_names, rows[:limit] if limit is not None else rows, more


def mirrored(project: Project, names: list[str], run_options: RunOptions | None = None) -> Connection:
    """An in-memory DuckDB connection (tracesql's functions registered) holding the built
    Spark models `names` as tables; a model not built is left out."""
    from tracesql.spark.engine import SparkConnection

    con = project.connect(":memory:", run_options=run_options)
    try:
        with SparkConnection.open(project, run_options) as spark:
            for name in names:
                model = project.models.get(name)
                if model is None:
                    raise ProjectError(f"no model named '{name}'{project.suggest(name)}")
                if spark.relation_type(model.relation) is not None:
                    _copy(con, spark, model)
    except BaseException:
        con.close()
        raise
    return con


def _copy(con: Connection, spark: SparkConnection, model: Model) -> None:
    from tracesql.spark.dialect import spark_name

    table = spark.guard(lambda: spark.spark.table(spark_name(model.relation)).toArrow(), model)
    relation = model.relation
    if relation.schema:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(relation.schema)}")
    con.duckdb.register("__tracesql_spark_rows", table)
    try:
        columns = ", ".join(
            f"{quote(c)}::JSON AS {quote(c)}" if c in JSON_COLUMNS else quote(c) for c in table.column_names
        )
        con.execute(f"CREATE TABLE {relation} AS SELECT {columns} FROM __tracesql_spark_rows")
    finally:
        con.duckdb.unregister("__tracesql_spark_rows")
