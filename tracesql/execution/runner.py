"""Running a selection of models and data tests in dependency order.

    results = run(project, RunRequest(select=("sessions+",)), reporter)

Every selected node is compiled first, so a syntax error stops the run before anything
is built. Then nodes run one by one: a failed model (or a failed test, in `build`) skips
its descendants and the others go on. `RunRequest.scratch` builds into an in-memory
database that sees the project database read-only (`--dry-run`, previews); `row_limit`
caps every model's rows and the `max_traces` of `source('traces', ...)`. For a preview:

    with open_for_run(project, request) as con:       # request.scratch=True, row_limit=N
        results = execute(project, request, con)      # the scratch tables stay readable
        ...read from con...
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol

import duckdb

from tracesql.compile.compiler import Compiled, Compiler, map_to_source
from tracesql.compile.datatests import SAMPLE_ROWS, TestOutcome, run_test
from tracesql.compile.selection import select_nodes
from tracesql.connection import Connection
from tracesql.errors import ConfigError, ExecutionError, LLMNotConfigured, TracesqlError
from tracesql.execution import artifacts, verdicts
from tracesql.execution.materialize import Materialized, materialize, relation_type
from tracesql.llm import interrupts
from tracesql.llm.config import RunOptions
from tracesql.llm.names import CALLING_FUNCTIONS
from tracesql.llm.runtime import LLMRuntime
from tracesql.project.nodes import DataTest, Model, literal, quote
from tracesql.project.project import Project
from tracesql.spark.dialect import to_spark
from tracesql.spark.engine import SparkConnection
from tracesql.spark.lint import check_models

PROJECT_ALIAS = "__tracesql_project"


@dataclass(frozen=True)
class RunRequest:
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    models: bool = True  # build models (run, build)
    tests: bool = False  # run data tests (test, build)
    full_refresh: bool = False
    fail_fast: bool = False
    require_llm: bool = False  # a model whose LLM has no key (or no model) is an error, not a skip
    scratch: bool = False  # build in memory, reading the project database read-only
    row_limit: int | None = None
    # the LLM layer's options; with dry_run, the run builds in a scratch database and the
    # LLM layer counts calls instead of making them
    run_options: RunOptions = field(default_factory=RunOptions)
    command: str = "run"

    @property
    def dry_run(self) -> bool:
        return self.run_options.dry_run

    @property
    def in_scratch(self) -> bool:
        return self.scratch or self.dry_run


@dataclass
class NodeResult:
    unique_id: str
    name: str
    kind: str  # model | test
    path: str
    status: str  # success, warn (failed LLM values), error, skipped | pass, fail, warn, error, skipped
    seconds: float = 0.0
    rows: int | None = None
    message: str = ""
    materialized: str | None = None
    relation: str | None = None
    error: TracesqlError | None = None
    columns: list[str] = field(default_factory=list)  # failing rows of a test, for the report
    sample: list[tuple] = field(default_factory=list)
    started_at: datetime | None = None
    llm_values: int = 0  # LLM values the model asked for (cache hits included)
    llm_failed: int = 0  # of them, failed for good (NULL, or the previous value kept)
    kept_previous: int = 0  # rows whose failed LLM value kept its previous one
    over_error_rate: bool = False  # llm_failed / asked exceeds max_error_rate: the run exits 1


@dataclass
class RunResults:
    command: str
    started_at: datetime
    results: list[NodeResult] = field(default_factory=list)
    elapsed: float = 0.0
    llm: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False
    invocation_id: str = field(default_factory=lambda: str(uuid.uuid4()))  # manifest and run results share it
    args: dict[str, Any] = field(default_factory=dict)  # what was asked (run_results.json `args`)
    interrupted: str | None = None  # "SIGINT" or "SIGTERM": the run stopped there
    answers_received: int = 0  # LLM answers received over HTTP (all in the cache)

    @property
    def failed(self) -> bool:
        """Exit status 1: a node failed, or a model's failed LLM values exceed max_error_rate."""
        return any(r.status in ("error", "fail") or r.over_error_rate for r in self.results)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)


class Reporter(Protocol):
    def run_started(self, total: int, request: RunRequest) -> None: ...

    def node_started(self, index: int, total: int, node: Model | DataTest) -> None: ...

    def node_finished(self, index: int, total: int, result: NodeResult) -> None: ...


def run(project: Project, request: RunRequest, reporter: Reporter | None = None) -> RunResults:
    """Compile, then build and test the selected nodes; write target/ artifacts (unless in scratch)."""
    if not request.dry_run and any(m.python_functions & LLM_CALLERS for m in project.models.values()):
        _warm_up_llm_client()  # the client's ~1 s import overlaps compiling and reading traces
    if project.profile.target_type == "spark" and not request.in_scratch:
        calls_python = any(m.python_functions for m in project.models.values())
        with SparkConnection.open(project, request.run_options, warm_up=calls_python) as spark:
            results = execute(project, request, spark, reporter)
    else:
        with open_for_run(project, request) as con:
            results = execute(project, request, con, reporter)
    if not request.in_scratch:
        artifacts.write_manifest(project, results.invocation_id)
        artifacts.write_run_results(project, results)
    return results


def open_for_run(project: Project, request: RunRequest) -> Connection:
    """The connection a run builds into: the target's database, or (scratch, dry run) an
    in-memory one that sees the project database's tables and views read-only."""
    if project.profile.target_type == "spark":
        raise ConfigError("--preview and --dry-run run on DuckDB targets only (this one is Spark)")
    # a real run writes each model once, at a checkpoint after it, not through the WAL
    con = project.connect(
        ":memory:" if request.in_scratch else None, run_options=request.run_options, wal=request.in_scratch
    )
    if request.in_scratch:
        try:
            mirror_project_database(con.duckdb, project.profile.database)
        except BaseException:
            con.close()
            raise
    return con


def execute(
    project: Project,
    request: RunRequest,
    con: Connection | SparkConnection,
    reporter: Reporter | None = None,
) -> RunResults:
    """Run a request on an open connection (which stays open: a preview can read the scratch
    tables afterwards). Writes compiled SQL unless in scratch; no other artifacts."""
    graph = project.graph
    assert graph is not None
    started = time.perf_counter()
    uids = select_nodes(graph, request.select, request.exclude, with_tests=request.tests)
    if not request.models:
        uids = {uid for uid in uids if isinstance(graph.nodes[uid], DataTest)}
    order = [
        uid for uid in graph.order(uids) if getattr(graph.nodes[uid], "materialized", None) != "ephemeral"
    ]
    results = RunResults(request.command, datetime.now(UTC), dry_run=request.dry_run)
    results.args = {
        "select": list(request.select),
        "exclude": list(request.exclude),
        "full_refresh": request.full_refresh,
        "target": project.profile.target_name,
        "vars": project.profile.vars,
    }
    compiler = Compiler(
        project,
        relation_exists=(
            (lambda relation: con.relation_type(relation) == "table")
            if isinstance(con, SparkConnection)
            else _relation_exists(con.duckdb, scratch=request.in_scratch)
        ),
        full_refresh=request.full_refresh,
        row_limit=request.row_limit,
        refresh_llm=request.run_options.cache_mode(project.profile.llm.settings) == "refresh",
    )
    compiled = compile_all(project, compiler, order)
    if isinstance(con, SparkConnection):
        check_models(list(compiled.values()))  # what Spark cannot run, before anything runs
    if reporter:
        reporter.run_started(len(order), request)
    if not request.in_scratch:
        artifacts.write_compiled(project, compiled.values())
    _Execution(project, con, request, reporter, results).run(order, compiled)
    results.llm = con.session.llm.summary()
    results.answers_received = con.session.llm.answers_received()
    results.interrupted = interrupts.stop_reason()
    results.elapsed = time.perf_counter() - started
    return results


def compile_selection(
    project: Project, select: tuple[str, ...] = (), exclude: tuple[str, ...] = ()
) -> list[Compiled]:
    """`tracesql compile`: compile the selected models and their tests, write target/compiled and the manifest."""
    graph = project.graph
    assert graph is not None
    uids = select_nodes(graph, select, exclude, with_tests=True)
    order = graph.order(uids)
    if project.profile.target_type == "spark":  # Spark SQL, linted; no session needed
        compiled = compile_all(project, Compiler(project), order)
        check_models(list(compiled.values()))
        compiled = {uid: replace(c, sql=to_spark(c.sql).sql) for uid, c in compiled.items()}
    else:
        with project.connect_for_reading() as con:
            compiler = Compiler(project, relation_exists=_relation_exists(con.duckdb, scratch=False))
            compiled = compile_all(project, compiler, order)
    artifacts.write_compiled(project, compiled.values())
    artifacts.write_manifest(project)
    return list(compiled.values())


def compile_all(project: Project, compiler: Compiler, order: list[str]) -> dict[str, Compiled]:
    """Compile every node before anything runs; the first error names how many others failed."""
    compiled: dict[str, Compiled] = {}
    errors: list[TracesqlError] = []
    for uid in order:
        try:
            compiled[uid] = compiler.compile(project.node(uid))
        except TracesqlError as exc:
            errors.append(exc)
            compiled_sql = getattr(exc, "compiled_sql", None)
            if compiled_sql is not None:
                artifacts.write_sql(project, project.node(uid), compiled_sql)
    if errors:
        first = errors[0]
        if len(errors) > 1:
            others = ", ".join(e.model or "?" for e in errors[1:])
            first.message += f" (and {len(errors) - 1} more failing to compile: {others})"
        raise first
    return compiled


def mirror_project_database(con: duckdb.DuckDBPyConnection, database: str) -> None:
    """Make the project database's tables and views visible (read-only) in a scratch database."""
    if database == ":memory:" or not os.path.exists(database):
        return
    con.execute(f"ATTACH {literal(database)} AS {PROJECT_ALIAS} (READ_ONLY)")
    rows = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = ?",
        [PROJECT_ALIAS],
    ).fetchall()
    for schema, name in rows:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
        con.execute(
            f"CREATE VIEW {quote(schema)}.{quote(name)} AS SELECT * FROM {PROJECT_ALIAS}.{quote(schema)}.{quote(name)}"
        )


def _relation_exists(con: duckdb.DuckDBPyConnection, *, scratch: bool) -> Callable:
    """For is_incremental(): the model's table exists (in scratch, the mirrored view counts)."""
    wanted = ("table", "view") if scratch else ("table",)
    return lambda relation: relation_type(con, relation) in wanted


class _Execution:
    def __init__(
        self,
        project: Project,
        connection: Connection | SparkConnection,
        request: RunRequest,
        reporter: Reporter | None,
        results: RunResults,
    ) -> None:
        assert project.graph is not None
        self.project, self.connection, self.request = project, connection, request
        self.spark = connection if isinstance(connection, SparkConnection) else None
        self.con: Any = connection if isinstance(connection, SparkConnection) else connection.duckdb
        self.reporter, self.results = reporter, results
        self.graph = project.graph
        self.llm = connection.session.llm
        self.blocked: dict[str, str] = {}  # unique id -> why it is skipped

    def run(self, order: list[str], compiled: dict[str, Compiled]) -> None:
        total = len(order)
        for index, uid in enumerate(order, 1):
            node = self.graph.nodes[uid]
            if interrupts.stop_reason() is not None:
                break  # SIGINT/SIGTERM: no further node
            if self.reporter:
                self.reporter.node_started(index, total, node)
            began = datetime.now(UTC)
            if uid in self.blocked:
                result = self._result(
                    node,
                    "skipped",
                    message=self.blocked[uid],
                    materialized=getattr(node, "materialized", None),
                )
            elif isinstance(node, Model):
                result = self._run_model(node, compiled[uid])
            else:
                result = self._run_test(node, compiled[uid])
            result.started_at = began
            reason = interrupts.stop_reason()
            if reason is not None and result.status == "error":  # stopped by the interrupt
                result.status, result.message, result.error = "skipped", f"interrupted ({reason})", None
            self.results.results.append(result)
            if result.status in ("error", "fail") or isinstance(result.error, LLMNotConfigured):
                self._block_after(node, "was skipped" if result.status == "skipped" else "failed")
            if self.reporter:
                self.reporter.node_finished(index, total, result)

    def _block_after(self, node: Model | DataTest, what_happened: str) -> None:
        if self.request.fail_fast and what_happened == "failed":
            for uid in self.graph.nodes:
                self.blocked.setdefault(uid, f"skipped: --fail-fast after '{node.name}' failed")
            return
        if not self.request.models:
            return  # `tracesql test`: the models are already built, every test runs
        sources = [node.unique_id] if isinstance(node, Model) else self.graph.parents[node.unique_id]
        kind = "model" if isinstance(node, Model) else "data test"
        for source in sources:
            for uid in self.graph.descendants(source):
                child = self.graph.nodes[uid]
                if isinstance(child, DataTest) and set(self.graph.parents[uid]) <= set(sources):
                    continue  # the other tests of a model whose test failed still run
                self.blocked.setdefault(uid, f"skipped: upstream {kind} '{node.name}' {what_happened}")

    def _result(self, node: Model | DataTest, status: str, **kwargs: Any) -> NodeResult:
        return NodeResult(node.unique_id, node.name, node.kind, node.rel_path, status, **kwargs)

    def _run_model(self, model: Model, compiled: Compiled) -> NodeResult:
        started = time.perf_counter()
        facts = {"materialized": model.materialized, "relation": str(model.relation)}
        try:
            self._check_llm_configured(compiled)
            with _LLMAttribution(self.llm, model.name, self.con, flush=not self.request.in_scratch):
                done = self._materialize(model, compiled)
            if self.spark is None and not self.request.in_scratch:
                self.con.execute("CHECKPOINT")  # the model is on disk before the next one starts
        except (TracesqlError, duckdb.Error) as exc:
            return self._failure(model, compiled, exc, started, **facts)
        return self._model_result(model, done, started, facts)

    def _materialize(self, model: Model, compiled: Compiled) -> Any:
        def verdict() -> None:
            verdicts.refuse_if_all_failed(self.llm.tally(model.name))

        if self.spark is not None:
            built = self.spark.materialize(
                compiled, dry_run=self.request.dry_run, row_limit=self.request.row_limit, verdict=verdict
            )
            return Materialized(built.rows, built.message)
        assert isinstance(self.connection, Connection)
        return materialize(
            self.con,
            compiled,
            full_refresh=self.request.full_refresh,
            dry_run=self.request.dry_run,
            row_limit=self.request.row_limit,
            verdict=verdict,
            scans=self.connection.session.scans,
        )

    def _model_result(self, model: Model, done: Any, started: float, facts: dict[str, Any]) -> NodeResult:
        tally = self.llm.tally(model.name)
        note = verdicts.note(tally, done.kept, done.skipped)
        return self._result(
            model,
            "warn" if tally.failed else "success",
            seconds=time.perf_counter() - started,
            rows=done.rows,
            message=f"{done.message}; {note}" if note else done.message,
            llm_values=tally.asked,
            llm_failed=tally.failed,
            kept_previous=done.kept,
            over_error_rate=verdicts.over_error_rate(tally, self.llm.max_error_rate),
            **facts,
        )

    def _run_test(self, test: DataTest, compiled: Compiled) -> NodeResult:
        started = time.perf_counter()
        try:
            self._check_llm_configured(compiled)
            with _LLMAttribution(self.llm, test.name, self.con, flush=not self.request.in_scratch):
                if self.spark is not None:
                    outcome = TestOutcome(*self.spark.run_test(compiled.sql, SAMPLE_ROWS))
                else:
                    outcome = run_test(self.con, compiled.sql)
        except (TracesqlError, duckdb.Error) as exc:
            return self._failure(test, compiled, exc, started)
        status = "pass" if outcome.failures == 0 else ("warn" if test.config.severity == "warn" else "fail")
        message = (
            ""
            if status == "pass"
            else f"{outcome.failures} failing row{'s' if outcome.failures != 1 else ''}"
        )
        return self._result(
            test,
            status,
            seconds=time.perf_counter() - started,
            rows=outcome.failures,
            message=message,
            columns=outcome.columns,
            sample=outcome.sample,
        )

    def _check_llm_configured(self, compiled: Compiled) -> None:
        """The LLM layer raises LLMNotConfigured before any call when a model's LLM is not set up."""
        self.llm.check_configured(compiled.llm_models)

    def _failure(
        self, node: Model | DataTest, compiled: Compiled, exc: BaseException, started: float, **facts: Any
    ) -> NodeResult:
        error = self._clean_error(exc, node, compiled)
        status = (
            "skipped" if isinstance(error, LLMNotConfigured) and not self.request.require_llm else "error"
        )
        message = f"skipped: {error.message}" if status == "skipped" else error.message
        if isinstance(error, LLMNotConfigured) and status == "error":
            message += " (an error, not a skip: --require-llm)"
            error.message = message
        return self._result(
            node, status, seconds=time.perf_counter() - started, message=message, error=error, **facts
        )

    def _clean_error(self, exc: BaseException, node: Model | DataTest, compiled: Compiled) -> TracesqlError:
        """A TracesqlError naming the node: the clean error a UDF recorded, else DuckDB's first line."""
        recorded = self.connection.session.pop_error()
        if isinstance(exc, TracesqlError):
            error = exc
        elif isinstance(recorded, TracesqlError):
            error = recorded
        else:
            error = _duckdb_error(exc, node, compiled, self.request)
        error.model = error.model or node.name
        error.path = error.path or node.rel_path
        return error


LLM_CALLERS = set(CALLING_FUNCTIONS)


def _warm_up_llm_client() -> None:
    try:
        from tracesql.llm import warm_up
    except ImportError:  # pragma: no cover - the LLM layer is part of the package
        return
    warm_up()


class _LLMAttribution:
    """begin_model / end_model / flush_call_log around one node."""

    def __init__(
        self, llm: LLMRuntime, name: str, con: duckdb.DuckDBPyConnection, flush: bool = True
    ) -> None:
        self.llm, self.name, self.con, self.flush = llm, name, con, flush

    def __enter__(self) -> None:
        self.llm.begin_model(self.name)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.llm.end_model()
        if self.flush:  # a scratch run (preview, dry run) keeps its calls in the durable log only
            self.llm.flush_call_log(self.con)


def _duckdb_error(
    exc: BaseException, node: Model | DataTest, compiled: Compiled, request: RunRequest
) -> ExecutionError:
    text = str(exc)
    message = text.splitlines()[0] if text else type(exc).__name__
    line = None
    found = re.search(r"^LINE (\d+):", text, re.MULTILINE)
    if found and (isinstance(node, Model) or node.test_type == "singular"):
        # every statement tracesql wraps a query in has one line before the query's SQL
        limited = isinstance(node, Model) and request.row_limit is not None
        line, _ = map_to_source(compiled.sql, node.raw_sql, int(found.group(1)) - 1 - limited, 1)
    return ExecutionError(message, path=node.rel_path, line=line, model=node.name)
