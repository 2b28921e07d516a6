"""Data tests: queries that return the rows breaking a rule. No rows, the test passes.

Generic tests are declared in YAML on a model or a column: `not_null`, `unique`,
`accepted_values` (values, quote), `relationships` (to, field), or any macro named
`test_<name>(model, column_name, ...)` in macros/. Singular tests are .sql files under
data_tests/ (a SELECT of failing rows, with `ref()`). Each test may take
`config: {severity: warn, where: "..."}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from pydantic import ValidationError

from tracesql.errors import ProjectError
from tracesql.project.nodes import DataTest, TestConfig, literal, quote
from tracesql.project.properties import TestSpec
from tracesql.rows import read_rows

BUILTIN_ARGS = {
    "not_null": (set(), set()),
    "unique": (set(), set()),
    "accepted_values": ({"values"}, {"quote"}),
    "relationships": ({"to", "field"}, set()),
}
COMMON_ARGS = {"config", "name", "column_name"}
SAMPLE_ROWS = 5


def generic_test(spec: TestSpec, rel_path: str, macros: set[str], *, taken: dict[str, DataTest]) -> DataTest:
    args = dict(spec.args)
    where: dict[str, Any] = {"path": rel_path, "line": spec.line, "model": spec.model}
    column = args.pop("column_name", None) or spec.column
    config = _test_config(args.pop("config", None) or {}, where)
    name = args.pop("name", None)
    model_sql = "{{ ref(" + literal(spec.model) + ") }}"
    relation = f"(SELECT * FROM {model_sql} WHERE {config.where})" if config.where else model_sql
    if spec.test_type in BUILTIN_ARGS:
        required, optional = BUILTIN_ARGS[spec.test_type]
        missing = required - set(args)
        unknown = set(args) - required - optional
        if missing:
            raise ProjectError(f"data test '{spec.test_type}' needs {', '.join(sorted(missing))}", **where)
        if unknown:
            raise ProjectError(
                f"data test '{spec.test_type}' does not take {', '.join(sorted(unknown))}", **where
            )
        if column is None:
            raise ProjectError(
                f"data test '{spec.test_type}' belongs under a column (or give column_name)", **where
            )
        sql = _builtin_sql(spec.test_type, relation, quote(column), args, where)
    elif f"test_{spec.test_type}" in macros:
        model_expr = f"ref({spec.model!r})"
        if config.where:
            model_expr = f'"(SELECT * FROM " ~ {model_expr} ~ " WHERE " ~ {config.where!r} ~ ")"'
        call_args = [f"model={model_expr}"] + ([f"column_name={column!r}"] if column else [])
        call_args += [f"{key}={value!r}" for key, value in args.items()]
        sql = "{{ test_" + spec.test_type + "(" + ", ".join(call_args) + ") }}"
    else:
        known = ", ".join(sorted(BUILTIN_ARGS))
        raise ProjectError(
            f"unknown data test '{spec.test_type}' (built in: {known}; or define a macro test_{spec.test_type}(model, column_name) in macros/)",
            **where,
        )
    name = name or _unique_name("_".join(p for p in (spec.test_type, spec.model, column) if p), taken)
    return DataTest(
        name=name,
        path=spec.path,
        rel_path=rel_path,
        raw_sql=sql,
        test_type=spec.test_type,
        config=config,
        model=spec.model,
        column=column,
        line=spec.line,
    )


def _builtin_sql(test_type: str, relation: str, column: str, args: dict[str, Any], where: dict) -> str:
    if test_type == "not_null":
        return f"SELECT * FROM {relation} AS t WHERE {column} IS NULL"
    if test_type == "unique":
        return (
            f"SELECT {column} AS unique_field, count(*) AS n_records FROM {relation} AS t "
            f"WHERE {column} IS NOT NULL GROUP BY {column} HAVING count(*) > 1"
        )
    if test_type == "accepted_values":
        values = args["values"]
        if not isinstance(values, list) or not values:
            raise ProjectError("accepted_values: values must be a non-empty list", **where)
        rendered = ", ".join(literal(v) if args.get("quote", True) else str(v) for v in values)
        return (
            f"SELECT {column} AS value_field, count(*) AS n_records FROM {relation} AS t "
            f"WHERE {column} NOT IN ({rendered}) GROUP BY {column}"
        )
    to = str(args["to"]).strip()
    if not (to.startswith("ref(") or to.startswith("source(")) or not to.endswith(")"):
        raise ProjectError(
            f"relationships: to must be ref('model') or source('name', 'table'), got {to!r}", **where
        )
    field = quote(str(args["field"]))
    return (
        f"SELECT child.{column} AS from_field FROM {relation} AS child "
        f"LEFT JOIN {{{{ {to} }}}} AS parent ON child.{column} = parent.{field} "
        f"WHERE child.{column} IS NOT NULL AND parent.{field} IS NULL"
    )


def _test_config(raw: Any, where: dict) -> TestConfig:
    if not isinstance(raw, dict):
        raise ProjectError("a data test's config must be a mapping (severity, where, enabled, tags)", **where)
    try:
        return TestConfig(**raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(k) for k in err["loc"])
        message = f"unknown key '{key}'" if err["type"] == "extra_forbidden" else f"{key}: {err['msg']}"
        raise ProjectError(f"data test config: {message}", **where) from None


def _unique_name(base: str, taken: dict[str, DataTest]) -> str:
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    return name


def singular_test(path: Path, rel_path: str) -> DataTest:
    return DataTest(
        name=path.stem,
        path=path,
        rel_path=rel_path,
        raw_sql=path.read_text(encoding="utf-8"),
        test_type="singular",
    )


@dataclass
class TestOutcome:
    failures: int
    columns: list[str]
    sample: list[tuple]


def run_test(con: duckdb.DuckDBPyConnection, sql: str) -> TestOutcome:
    """Count the failing rows and keep the first few for the report."""
    relation = con.sql(
        f"SELECT *, count(*) OVER () AS __tracesql_failures FROM (\n{sql}\n) LIMIT {SAMPLE_ROWS}"
    )
    columns, rows, _ = read_rows(relation, None)
    columns = columns[:-1]
    failures = int(rows[0][-1]) if rows else 0
    return TestOutcome(failures, columns, [row[:-1] for row in rows])
