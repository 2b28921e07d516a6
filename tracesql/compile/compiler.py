"""Compiling models: Jinja rendering (ref, source, var, config, this), then SQL checks.

Two passes, as in dbt. `parse` renders each node once with placeholder relations to learn
its refs, sources and `config()`; `compile` renders it for real (with `is_incremental()`
answered from the database) and inlines ephemeral models as CTEs. Every rendered SQL is
checked by DuckDB's own parser (the arbiter of what runs) and parsed by sqlglot (the tree
used to find Python-backed functions and the LLM models called, calls.py); a syntax error
names the file, line and column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import duckdb
import orjson
import sqlglot
from pydantic import ValidationError
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from tracesql.compile.calls import llm_models, python_functions
from tracesql.compile.literals import shield_literals
from tracesql.compile.templating import env_var, var_function, var_literal_function
from tracesql.errors import CompileError, GraphError
from tracesql.llm.config import unknown_alias
from tracesql.llm.names import CALLING_FUNCTIONS
from tracesql.project.nodes import (
    MODEL_CONFIG_KEYS,
    DataTest,
    Model,
    NodeConfig,
    Relation,
    SourceTable,
    TestConfig,
)
from tracesql.sqltext import strip_trailing_semicolon

if TYPE_CHECKING:
    from tracesql.project.project import Project

Node = Model | DataTest
_PARSER: duckdb.DuckDBPyConnection | None = None


@dataclass
class Parsed:
    """What the parse pass learns from a node."""

    sql: str
    refs: list[str] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    python_functions: set[str] = field(default_factory=set)
    error: CompileError | None = None  # a syntax error, raised when the node is compiled


@dataclass
class Compiled:
    node: Node
    sql: str  # ready to run: ephemeral parents inlined as CTEs
    python_functions: set[str]
    is_incremental: bool = False
    # the model aliases its LLM calls name (None: the default model), ephemeral parents' included
    llm_models: tuple[str | None, ...] = ()


class Compiler:
    """Renders the nodes of one project for one run (or for `compile`, `show`, `ls`)."""

    def __init__(
        self,
        project: Project,
        *,
        relation_exists: Callable[[Relation], bool] = lambda relation: False,
        full_refresh: bool = False,
        row_limit: int | None = None,
        refresh_llm: bool = False,
    ) -> None:
        self.project = project
        self.relation_exists = relation_exists
        self.full_refresh = full_refresh
        self.refresh_llm = refresh_llm  # --refresh-cache: incremental models calling an LLM rebuild
        self.row_limit = row_limit
        self.run_started_at = datetime.now(UTC)
        self._compiled: dict[str, Compiled] = {}
        self._ephemeral_sql: dict[str, str] = {}
        self._ephemeral_llm_models: dict[str, tuple[str | None, ...]] = {}

    # -- the parse pass ---------------------------------------------------------------

    def parse(self, node: Node) -> Parsed:
        parsed = Parsed(sql="")
        ctx = self._context(node, parsed=parsed)
        parsed.sql = self._render(node, ctx)
        try:
            tree = check_sql(parsed.sql, node, self.project)
            parsed.python_functions = python_functions(tree, parsed.sql)
        except CompileError as exc:
            parsed.error = exc
        return parsed

    # -- the compile pass -------------------------------------------------------------

    def is_incremental(self, model: Model) -> bool:
        if model.materialized != "incremental":
            return False
        if model.config.full_refresh is not False and (
            self.full_refresh or (self.refresh_llm and model.python_functions & set(CALLING_FUNCTIONS))
        ):
            return False
        return self.relation_exists(model.relation)

    def compile(self, node: Node) -> Compiled:
        if node.unique_id in self._compiled:
            return self._compiled[node.unique_id]
        error = self.project.parse_errors.get(node.unique_id)
        if error is not None:
            raise error
        incremental = isinstance(node, Model) and self.is_incremental(node)
        used: list[str] = []
        ctx = self._context(node, used=used, incremental=incremental)
        sql = self._render(node, ctx)
        tree = check_sql(sql, node, self.project)
        functions = python_functions(tree, sql)
        models = list(llm_models(tree, sql))
        ctes = []
        for parent in self._ephemeral_closure(used):
            ctes.append((parent.relation.identifier, self._rendered_ephemeral(parent)))
            functions |= self.project.models[parent.name].python_functions
            models += [m for m in self._ephemeral_llm_models[parent.name] if m not in models]
        self._check_llm_aliases(node, models)
        compiled = Compiled(
            node,
            inject_ctes(strip_trailing_semicolon(sql), ctes),
            functions,
            incremental,
            tuple(models),
        )
        self._compiled[node.unique_id] = compiled
        return compiled

    def _check_llm_aliases(self, node: Node, aliases: list[str | None]) -> None:
        """A model alias no profile defines is a compile error naming the model's file (the
        default model for calls that name none; a missing key is found when it runs)."""
        llm = self.project.profile.llm
        for alias in aliases:
            name = alias if alias is not None else llm.settings.default_model
            problem = unknown_alias(llm, name) if name is not None else None
            if problem is not None:
                where = (
                    "" if alias is not None else " (it is llm.default_model, for calls that name no model)"
                )
                raise CompileError(problem + where, path=node.rel_path, model=node.name)

    def compile_inline(self, text: str, name: str = "inline") -> str:
        """Render ad-hoc SQL (`tracesql show`, `tracesql query`) with ref() and macros; string
        literals stay as written (a per-row prompt's `{{ ... }}` is llm()'s, see literals.py)."""
        shielded = shield_literals(text)
        node = Model(name=name, path=Path("<inline>"), rel_path="<inline>", raw_sql=shielded.text)
        used: list[str] = []
        sql = shielded.restore(self._render(node, self._context(node, used=used, inline=True)))
        ctes = [(m.relation.identifier, self._rendered_ephemeral(m)) for m in self._ephemeral_closure(used)]
        return inject_ctes(strip_trailing_semicolon(sql), ctes)

    def _rendered_ephemeral(self, model: Model) -> str:
        """An ephemeral model's SQL, checked against its own file, for inlining as a CTE."""
        if model.name not in self._ephemeral_sql:
            error = self.project.parse_errors.get(model.unique_id)
            if error is not None:
                raise error
            sql = self._render(model, self._context(model, used=[]))
            tree = check_sql(sql, model, self.project)
            self._ephemeral_sql[model.name] = strip_trailing_semicolon(sql)
            self._ephemeral_llm_models[model.name] = llm_models(tree, sql)
        return self._ephemeral_sql[model.name]

    def _ephemeral_closure(self, names: list[str]) -> list[Model]:
        """Ephemeral models reached through `names`, parents before children."""
        order: list[Model] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            model = self.project.models.get(name)
            if model is None or model.materialized != "ephemeral" or name in seen:
                return
            seen.add(name)
            for parent in model.refs:
                visit(parent)
            order.append(model)

        for name in names:
            visit(name)
        return order

    # -- rendering --------------------------------------------------------------------

    def _render(self, node: Node, ctx: dict[str, Any]) -> str:
        templates = self.project.templates
        name = templates.register(node.path, node.raw_sql, name=node.unique_id)
        try:
            return templates.render(name, node.path, ctx, node.name)
        except CompileError as exc:
            if isinstance(node, DataTest) and node.test_type != "singular":
                exc.path, exc.line = node.rel_path, node.line
            raise

    def _context(
        self,
        node: Node,
        *,
        parsed: Parsed | None = None,
        used: list[str] | None = None,
        incremental: bool = False,
        inline: bool = False,
    ) -> dict[str, Any]:
        project = self.project
        this = Relation(node.name) if parsed is not None or not isinstance(node, Model) else node.relation

        def ref(*names: str, **version: Any) -> Relation:
            """ref('model'), or dbt's ref('project', 'model'): the last name is the model."""
            if not names:
                raise CompileError("ref() needs a model name: ref('model')")
            name = names[-1]
            if parsed is not None:
                if name not in parsed.refs:
                    parsed.refs.append(name)
                return Relation(name)
            model = project.models.get(name)
            if model is None:
                raise GraphError(f"ref('{name}'): no model named '{name}'{project.suggest(name)}")
            if not inline and name not in node.refs:
                raise CompileError(
                    f"ref('{name}') is only reached in a branch the parse pass did not take (such as "
                    f"is_incremental()); declare it at the top of the model: -- depends_on: {{{{ ref('{name}') }}}}"
                )
            assert used is not None
            used.append(name)
            return model.relation

        def source(source_name: str, table_name: str, **args: Any) -> str:
            table = project.source(source_name, table_name)
            if parsed is not None and (source_name, table_name) not in parsed.sources:
                parsed.sources.append((source_name, table_name))
            return self._source_sql(table, args)

        def config(**kwargs: Any) -> str:
            if parsed is not None:
                check_config(kwargs, NodeConfig if isinstance(node, Model) else TestConfig)
                parsed.config.update(kwargs)
            return ""

        profile = project.profile
        var = var_function(profile.vars)
        return {
            "ref": ref,
            "source": source,
            "config": config,
            "var": var,
            "var_literal": var_literal_function(var),
            "env_var": env_var,
            "is_incremental": lambda: incremental,
            "this": this,
            "target": SimpleNamespace(
                name=profile.target_name, database=profile.database, type="duckdb", schema="main"
            ),
            "secrets": profile.secrets,  # {% if secrets.redact %}: the profile's `secrets:` settings
            "execute": parsed is None,
            "run_started_at": self.run_started_at,
            "tojson": lambda value: orjson.dumps(value, default=str).decode(),
        }

    def _source_sql(self, table: SourceTable, args: dict[str, Any]) -> str:
        if args and table.function is None:
            raise CompileError(
                f"source('{table.source_name}', '{table.name}') is not a table function and takes no arguments"
            )
        if self.row_limit is not None and table.source_name == "traces" and "max_traces" not in args:
            args = {**args, "max_traces": self.row_limit}
        return table.sql(args)


def check_config(kwargs: dict[str, Any], schema: type[NodeConfig] | type[TestConfig]) -> Any:
    """Validate `config()` keys; an unknown key or a bad value is a CompileError naming it."""
    try:
        return schema(**kwargs)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(k) for k in err["loc"])
        if err["type"] == "extra_forbidden":
            known = MODEL_CONFIG_KEYS if schema is NodeConfig else ", ".join(TestConfig.model_fields)
            raise CompileError(f"config(): unknown key '{key}' (known: {known})") from None
        raise CompileError(f"config(): {key}: {err['msg']}") from None


# -- SQL checks -----------------------------------------------------------------------


def _parser() -> duckdb.DuckDBPyConnection:
    global _PARSER
    if _PARSER is None:
        _PARSER = duckdb.connect(":memory:")
    return _PARSER


def check_sql(sql: str, node: Node, project: Project) -> exp.Expr | None:
    """Check that `sql` is one DuckDB query; return its sqlglot tree (None if sqlglot cannot parse it)."""
    try:
        statements = _parser().extract_statements(sql)
    except duckdb.ParserException as exc:
        raise syntax_error(sql, node, project, str(exc)) from None
    if len(statements) != 1:
        what = "it is empty" if not statements else f"found {len(statements)} statements"
        raise CompileError(
            f"a model must be exactly one SELECT query; {what}", path=node.rel_path, model=node.name
        )
    kind = statements[0].type
    if kind not in (duckdb.StatementType.SELECT, duckdb.StatementType.MULTI):
        raise CompileError(
            f"a model must be a SELECT query, not a {kind.name} statement (tracesql creates the table or view)",
            path=node.rel_path,
            model=node.name,
        )
    try:
        return sqlglot.parse_one(strip_trailing_semicolon(sql), read="duckdb")
    except (ParseError, TokenError):
        return None  # DuckDB accepts it; sqlglot lags behind some syntax


def syntax_error(sql: str, node: Node, project: Project, duckdb_message: str) -> CompileError:
    """A CompileError pointing at the model file's line and column where DuckDB's parser stopped."""
    message = duckdb_message.splitlines()[0].removeprefix("Parser Error: ")
    position = None
    try:
        rows = _parser().execute("SELECT json_serialize_sql(?)", [sql]).fetchall()
        position = int(orjson.loads(rows[0][0]).get("position")) if rows else None
    except (duckdb.Error, TypeError, ValueError):
        pass
    if position is None:
        return CompileError(f"SQL syntax error: {message}", path=node.rel_path, model=node.name)
    line = sql.count("\n", 0, position) + 1
    column = position - (sql.rfind("\n", 0, position) + 1) + 1
    source_line, source_column = map_to_source(sql, node.raw_sql, line, column)
    if source_line is None:
        compiled = project.compiled_path(node)
        error = CompileError(
            f"SQL syntax error: {message} (at line {line}, column {column} of the compiled SQL, {compiled})",
            path=node.rel_path,
            model=node.name,
        )
    else:
        error = CompileError(
            f"SQL syntax error: {message}",
            path=node.rel_path,
            line=source_line,
            column=source_column,
            model=node.name,
        )
    error.compiled_sql = sql  # type: ignore[attr-defined]  # written to target/compiled for a look
    return error


def map_to_source(compiled: str, raw: str, line: int, column: int) -> tuple[int | None, int | None]:
    """Map a compiled (line, column) to the source file: the same text on a unique raw line, or the
    same line when rendering kept the line count."""
    compiled_lines = compiled.splitlines()
    raw_lines = raw.splitlines()
    if not 0 < line <= len(compiled_lines):
        return None, None
    text = compiled_lines[line - 1]
    matches = [n for n, raw_line in enumerate(raw_lines, 1) if raw_line == text]
    if len(matches) == 1:
        return matches[0], column
    if len(compiled_lines) == len(raw_lines) and "{" not in raw_lines[line - 1]:
        return line, column
    if len(compiled_lines) == len(raw_lines):
        return line, None
    return None, None


def inject_ctes(sql: str, ctes: list[tuple[str, str]]) -> str:
    """Put `name AS (sql)` CTEs in front of a query, merging into its own WITH if it has one."""
    if not ctes:
        return sql
    body = ",\n".join(f'"{name}" AS (\n{text}\n)' for name, text in ctes)
    try:
        tokens = sqlglot.Dialect.get_or_raise("duckdb").tokenize(sql)
    except TokenError:
        tokens = []
    if tokens and tokens[0].token_type == sqlglot.TokenType.WITH:
        after = (
            tokens[1]
            if len(tokens) > 1 and tokens[1].token_type == sqlglot.TokenType.RECURSIVE
            else tokens[0]
        )
        return f"{sql[: after.end + 1]} {body},\n{sql[after.end + 1 :].lstrip()}"
    return f"WITH {body}\n{sql}"
