"""Ad-hoc reads of a project's database: `tracesql show` and `tracesql query`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb

from tracesql.commands.on_spark import mirrored, on_spark, spark_rows
from tracesql.connection import Connection, ConnectionOptions, open_connection
from tracesql.errors import ExecutionError, ProjectError
from tracesql.llm.options import RunOptions
from tracesql.project.locate import no_project_message
from tracesql.rows import read_rows
from tracesql.sqltext import strip_trailing_semicolon

if TYPE_CHECKING:
    from tracesql.project.project import Project


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    more: bool  # rows beyond the limit exist


def show(
    project: Project | None, model_or_sql: str, limit: int, run_options: RunOptions | None = None
) -> QueryResult:
    """The first rows of a model (its table or view if built, else its compiled SQL) or of a
    query; read-only, so it works beside an open notebook. Outside a project: a query on an
    in-memory database."""
    model = project.models.get(model_or_sql) if project is not None else None
    if model is None and re.fullmatch(r"[\w.]+", model_or_sql.strip()):
        if project is None:
            raise ProjectError(f"no model named '{model_or_sql}': {no_project_message()}")
        raise ProjectError(
            f"no model named '{model_or_sql}'{project.suggest(model_or_sql)}; give a model name or a SELECT query"
        )
    if on_spark(project) and model is None:
        assert project is not None
        columns, rows, more = spark_rows(project, render_inline(project, model_or_sql), limit, run_options)
        if not columns:
            raise ExecutionError(f"{model_or_sql!r} returns no rows to show")
        return QueryResult(columns, rows, more)
    with _connect(project, writes=False, run_options=run_options, models=[model_or_sql]) as con:
        if model is not None and project is not None:
            from tracesql.compile.compiler import Compiler
            from tracesql.execution.materialize import relation_type

            if model.materialized != "ephemeral" and relation_type(con.duckdb, model.relation):
                sql = f"SELECT * FROM {model.relation}"
            else:
                sql = Compiler(project).compile(model).sql
        else:
            sql = render_inline(project, model_or_sql)
        limited = f"SELECT * FROM (\n{sql}\n) LIMIT {int(limit) + 1}"
        result = fetch(con, limited, limit, model=model.name if model else None)
        if result is None:
            raise ExecutionError(f"{model_or_sql!r} returns no rows to show")
        return result


def query(
    project: Project | None, sql: str, limit: int | None, run_options: RunOptions | None = None
) -> QueryResult | None:
    """Run one or more statements on the project database (read-only unless one of them
    writes), or on an in-memory database outside a project; the last statement's rows."""
    text = render_inline(project, sql)
    if on_spark(project):  # one query, run on Spark
        assert project is not None
        columns, rows, more = spark_rows(project, text, limit, run_options)
        return QueryResult(columns, rows, more)
    if project is None:  # in memory: the one connection parses the SQL too
        with _connect(None, writes=True, run_options=run_options) as con:
            return _run_statements(con, _statements(con.duckdb, text), limit)
    with duckdb.connect() as parser:  # the statements decide how the file is opened
        statements = _statements(parser, text)
    writes = any(statement.type not in READING_STATEMENTS for statement in statements)
    with _connect(project, writes=writes, run_options=run_options) as con:
        return _run_statements(con, statements, limit)


def _statements(parser: duckdb.DuckDBPyConnection, text: str) -> list[duckdb.Statement]:
    try:
        statements = parser.extract_statements(text)
    except duckdb.Error as exc:
        raise ExecutionError(_first_line(exc)) from None
    if not statements:
        raise ExecutionError("no SQL statement given")
    return statements


def _run_statements(
    con: Connection, statements: list[duckdb.Statement], limit: int | None
) -> QueryResult | None:
    for statement in statements[:-1]:
        fetch(con, statement.query, 0)
    return fetch(con, statements[-1].query, limit)


# statements that never change the database file: `tracesql query` opens it read-only for these
READING_STATEMENTS = {
    duckdb.StatementType.SELECT,
    duckdb.StatementType.EXPLAIN,
    duckdb.StatementType.SET,
    duckdb.StatementType.VARIABLE_SET,
    duckdb.StatementType.PRAGMA,
    duckdb.StatementType.LOAD,
}


def _connect(
    project: Project | None, *, writes: bool, run_options: RunOptions | None, models: list[str] | None = None
) -> Connection:
    if project is not None and on_spark(project):  # the models' Spark rows, in DuckDB
        return mirrored(project, [m for m in models or [] if m in project.models], run_options)
    if project is None:
        return open_connection(":memory:", options=ConnectionOptions(run_options=run_options or RunOptions()))
    if writes:
        return project.connect(run_options=run_options)
    return project.connect_for_reading(run_options)


def render_inline(project: Project | None, sql: str) -> str:
    if project is not None and ("{{" in sql or "{%" in sql):
        from tracesql.compile.compiler import Compiler  # jinja2 and sqlglot: only for Jinja

        return Compiler(project).compile_inline(sql)
    return strip_trailing_semicolon(sql)


def fetch(con: Connection, sql: str, limit: int | None, *, model: str | None = None) -> QueryResult | None:
    """Run one statement; its first `limit` rows (None: all), or None when it returns no rows."""
    try:
        relation = con.sql(sql)
        if relation is None:
            return None
        columns, rows, more = read_rows(relation, limit)
    except duckdb.Error as exc:
        recorded = con.session.pop_error()
        if recorded is not None:
            raise recorded from None
        raise ExecutionError(_first_line(exc), model=model) from None
    return QueryResult(columns, rows, more)


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
