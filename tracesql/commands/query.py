"""Ad-hoc reads of a project's database: `tracesql show` and `tracesql query`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import duckdb

from tracesql.compile.compiler import Compiler, strip_trailing_semicolon
from tracesql.connection import Connection
from tracesql.errors import ExecutionError, ProjectError
from tracesql.execution.materialize import relation_type
from tracesql.llm.config import RunOptions
from tracesql.project.project import Project
from tracesql.rows import read_rows


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    more: bool  # rows beyond the limit exist


def show(
    project: Project, model_or_sql: str, limit: int, run_options: RunOptions | None = None
) -> QueryResult:
    """The first rows of a model (its table or view if built, else its compiled SQL) or of a query."""
    with project.connect_for_reading(run_options) as con:
        model = project.models.get(model_or_sql)
        if (
            model is not None
            and model.materialized != "ephemeral"
            and relation_type(con.duckdb, model.relation)
        ):
            sql = f"SELECT * FROM {model.relation}"
        elif model is not None:
            sql = Compiler(project).compile(model).sql
        elif re.fullmatch(r"[\w.]+", model_or_sql.strip()):
            raise ProjectError(
                f"no model named '{model_or_sql}'{project.suggest(model_or_sql)}; give a model name or a SELECT query"
            )
        else:
            sql = render_inline(project, model_or_sql)
        limited = f"SELECT * FROM (\n{sql}\n) LIMIT {int(limit) + 1}"
        result = fetch(con, limited, limit, model=model.name if model else None)
        if result is None:
            raise ExecutionError(f"{model_or_sql!r} returns no rows to show")
        return result


def query(
    project: Project, sql: str, limit: int | None, run_options: RunOptions | None = None
) -> QueryResult | None:
    """Run one or more statements on the project database; the last statement's rows, if any."""
    with project.connect(run_options=run_options) as con:
        text = render_inline(project, sql)
        try:
            statements = con.extract_statements(text)
        except duckdb.Error as exc:
            raise ExecutionError(_first_line(exc)) from None
        if not statements:
            raise ExecutionError("no SQL statement given")
        for statement in statements[:-1]:
            fetch(con, statement.query, 0)
        return fetch(con, statements[-1].query, limit)


def render_inline(project: Project, sql: str) -> str:
    if "{{" in sql or "{%" in sql:
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
