"""The compile-time lint for `target: spark`: DuckDB constructs Spark cannot run, or would
run and compute something else, named with file:line:col and a rewrite, before anything runs.

The rewrites (dialect.py) cover what can be translated; what is left is reported here
(each rule has a test, tests/spark/test_lint.py). A construct the lint does not know and
Spark rejects still fails, at the model that uses it, with Spark's message.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from tracesql.compile.compiler import Compiled, map_to_source
from tracesql.errors import CompileError
from tracesql.llm.names import SQL_NAMES as LLM_NAMES
from tracesql.project.nodes import Model
from tracesql.secrets.sql import SQL_NAMES as SECRET_NAMES
from tracesql.spark.builtins import SPARK_FUNCTIONS
from tracesql.spark.dialect import READER_FUNCTIONS, parse_duckdb, rewrite

TRACESQL_FUNCTIONS = (
    set(LLM_NAMES) | set(SECRET_NAMES) | set(READER_FUNCTIONS) | {"trace_diagnostics", "message_text"}
)
# DuckDB functions whose values differ on Spark, and what to write instead
SILENTLY_DIFFERENT = {
    "hash": "DuckDB's hash() and Spark's hash() are different functions (other values): "
    "use md5(x), which is the same on both",
}
STRING_FUNCTIONS = (
    exp.Concat,
    exp.DPipe,
    exp.Lower,
    exp.Upper,
    exp.Trim,
    exp.Substring,
    exp.Left,
    exp.Right,
    exp.Replace,
)


@dataclass(frozen=True)
class Finding:
    start: int | None  # offset in the compiled SQL
    construct: str
    suggestion: str

    def message(self) -> str:
        return f"Spark cannot run {self.construct}: {self.suggestion}"


def lint(sql: str) -> list[Finding]:
    """What Spark cannot run in one compiled DuckDB query (empty: it translates)."""
    try:
        tree = parse_duckdb(sql)
    except (ParseError, TokenError) as exc:
        return [Finding(None, "this query", f"sqlglot cannot read it to translate it ({exc})")]
    findings = list(_tree_findings(tree, sql))
    if findings:
        return findings
    try:
        translated = rewrite(tree, sql)
        spark_sql = translated.sql("spark")
        spark_tree = sqlglot.parse_one(spark_sql, read="spark")
    except CompileError as exc:
        return [Finding(None, "this query", exc.message)]
    except (ParseError, TokenError) as exc:
        return [Finding(None, "this query", f"its Spark translation does not parse ({exc})")]
    for func in spark_tree.find_all(exp.Anonymous):
        name = func.name.lower()
        if name.startswith("__tracesql") or name in TRACESQL_FUNCTIONS or name in SPARK_FUNCTIONS:
            continue
        findings.append(
            Finding(
                _find_name(sql, name), f"{name}()", f"Spark has no function {name}(); {_function_hint(name)}"
            )
        )
    return findings


def _tree_findings(tree: exp.Expr, sql: str) -> Iterator[Finding]:
    for node in tree.walk():
        start = node.meta.get("start") if node.meta else None
        if isinstance(node, exp.Anonymous):
            name = node.name.lower()
            if name in SILENTLY_DIFFERENT:
                yield Finding(start, f"{name}()", SILENTLY_DIFFERENT[name])
        elif isinstance(node, exp.UnixToTime) and _spelled(sql, node, "epoch_ms"):
            yield Finding(
                start,
                "epoch_ms()",
                "DuckDB's epoch_ms(ts) is Spark's unix_millis(ts) and epoch_ms(ms) is timestamp_millis(ms); "
                "write the one you mean in a macro: {% if target.type == 'spark' %}unix_millis(ts){% else %}"
                "epoch_ms(ts){% endif %}",
            )
        elif isinstance(node, exp.Dot) and isinstance(node.this, exp.Explode | exp.Unnest):
            yield Finding(
                _start(node.this) or start,
                "unnest(...).field",
                "unnest the list in a sub-query (SELECT unnest(xs) AS x ...), then select x.field",
            )
        elif isinstance(node, exp.Bracket) and _is_string(node.this):
            yield Finding(
                _start(node.this) or start,
                "string indexing or slicing",
                "Spark indexes lists only: use substring(s, start, length)",
            )
        elif isinstance(node, exp.Star) and (node.args.get("except_") or node.args.get("replace")):
            yield Finding(
                start,
                "SELECT * EXCLUDE / REPLACE",
                "Spark has no * EXCLUDE or * REPLACE: list the columns",
            )


def _function_hint(name: str) -> str:
    if name.startswith("list_") or name.startswith("array_"):
        return "write it with Spark-compatible list functions (transform, filter, aggregate, array_*), or a list comprehension"
    return "write it with functions both engines have (docs/spark.md lists the rewrites)"


def _start(node: exp.Expr) -> int | None:
    for candidate in node.walk():
        start = candidate.meta.get("start") if candidate.meta else None
        if isinstance(start, int):
            return start
    return None


def _spelled(sql: str, node: exp.Expr, name: str) -> bool:
    start, end = node.meta.get("start"), node.meta.get("end")
    if isinstance(start, int) and isinstance(end, int):
        return sql[start : end + 1].lower() == name
    return False


def _is_string(node: exp.Expr) -> bool:
    if isinstance(node, exp.Literal):
        return node.is_string
    if isinstance(node, exp.Cast):
        return node.to.is_type(*exp.DataType.TEXT_TYPES)
    return isinstance(node, STRING_FUNCTIONS)


def _find_name(sql: str, name: str) -> int | None:
    lowered = sql.lower()
    at = lowered.find(name + "(")
    return at if at >= 0 else None


def position(sql: str, start: int | None) -> tuple[int | None, int | None]:
    """1-based (line, column) of an offset in `sql`."""
    if start is None:
        return None, None
    line = sql.count("\n", 0, start) + 1
    return line, start - (sql.rfind("\n", 0, start) + 1) + 1


def lint_error(sql: str, findings: list[Any], model: Model | None) -> CompileError:
    """One CompileError for a query's lint findings, pointing at the model file where it can."""
    located = []
    for finding in findings:
        line, column = position(sql, finding.start)
        if model is not None and line is not None:
            line, column = map_to_source(sql, model.raw_sql, line, column or 1)
        located.append((line, column, finding.message()))
    first_line_no, first_column, message = located[0]
    for line, column, text in located[1:]:
        where = f"{model.rel_path if model else '<query>'}:{line}:{column}" if line else "also"
        message += f"\n  {where}: {text}"
    return CompileError(
        message,
        path=model.rel_path if model else None,
        line=first_line_no,
        column=first_column,
        model=model.name if model else None,
    )


def check_models(compiled: list[Compiled]) -> None:
    """Lint every compiled model before anything runs; the first problem is raised, naming
    how many other models have one."""
    problems: list[CompileError] = []
    for item in compiled:
        findings = lint(item.sql)
        if findings:
            node = item.node
            problems.append(lint_error(item.sql, findings, node if isinstance(node, Model) else None))
    if problems:
        first = problems[0]
        if len(problems) > 1:
            first.message += (
                f" (and {len(problems) - 1} more models Spark cannot run: "
                + ", ".join(p.model or "?" for p in problems[1:])
                + ")"
            )
        raise first
