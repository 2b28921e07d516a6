"""A project's connection to Spark: what the runner and the commands use on `target: spark`.

    with SparkConnection.open(project) as con:
        con.materialize(compiled)              # a model, as its materialization says
        con.arrow("SELECT ...")                # DuckDB SQL, translated, rows as Arrow

Every query goes through the same path: DuckDB SQL (as compiled) is linted and translated
(lint.py, dialect.py), the trace readers it calls become views over the Python Data
Source (datasource.py), then Spark runs it. Errors come back as tracesql errors: the clean
error a Python function raised in an executor (a strict read, an LLM failure), else
Spark's first line.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tracesql import errors
from tracesql.errors import CompileError, ExecutionError, TracesqlError
from tracesql.project.nodes import Model, Relation
from tracesql.spark.datasource import FORMAT, ReadSpec, TraceDataSource, read_diagnostics
from tracesql.spark.dialect import DIAGNOSTICS_VIEW, SparkQuery, to_spark
from tracesql.spark.functions import SparkFunctions
from tracesql.spark.lint import lint, lint_error
from tracesql.spark.session import first_line, start_session
from tracesql.spark.warehouse import Built, Warehouse

if TYPE_CHECKING:
    from tracesql.compile.compiler import Compiled
    from tracesql.llm.config import RunOptions
    from tracesql.project.project import Project

DIAGNOSTICS_SCHEMA = "scan INT, source_kind STRING, path STRING, line BIGINT, severity STRING, reason STRING"
# an LLM model reading at most this many rows calls the LLM in one task (no shuffle)
FEW_ROWS = 5000
_ERROR_LINE = re.compile(r"TRACESQL_ERROR:(\{.*?\})\s*$", re.MULTILINE)
_PYTHON_ERROR = re.compile(r"^(\w*(?:Error|Exception)): (.+)$", re.MULTILINE)


class SparkConnection:
    """A Spark session set up for one project: warehouse, readers, tracesql's functions."""

    def __init__(self, project: Project, spark: Any, run_options: RunOptions | None = None) -> None:
        target = project.profile.spark
        assert target is not None
        self.project = project
        self.spark = spark
        self.warehouse = Warehouse(spark, target.warehouse)
        self.diagnostics_dir = os.path.join(self.warehouse.root, "_diagnostics", uuid.uuid4().hex[:12])
        self._scans = itertools.count(1)
        self._queries = itertools.count(1)
        spark.dataSource.register(TraceDataSource)
        self.functions = SparkFunctions(spark, project, run_options)
        self.session = self.functions  # `.llm`, `.pop_error()`: what the runner asks a session
        self._closed = False

    @classmethod
    def open(
        cls, project: Project, run_options: RunOptions | None = None, *, warm_up: bool = False
    ) -> SparkConnection:
        target = project.profile.spark
        if target is None:
            raise ExecutionError(f"target '{project.profile.target_name}' is not a Spark target")
        con = cls(project, start_session(target, app_name=f"tracesql {project.profile.name}"), run_options)
        assert project.graph is not None
        ordered = [project.graph.nodes[uid] for uid in project.graph.order()]
        con.warehouse.declare_all(
            [m for m in ordered if isinstance(m, Model) and m.materialized != "ephemeral"]
        )
        if warm_up:
            try:
                con.guard(con.functions.warm_up)
            except BaseException:
                con.close()
                raise
        return con

    # -- SQL ----------------------------------------------------------------------------------

    def translate(self, sql: str, *, model: Model | None = None) -> SparkQuery:
        """Lint, translate, and declare the reads a query needs; the Spark SQL."""
        findings = lint(sql)
        if findings:
            raise lint_error(sql, findings, model)
        tasks = self.functions.tasks
        llm_tasks = 1 if self._few_rows(model) else tasks
        prefix = f"q{next(self._queries)}"
        try:
            query = to_spark(sql, prefix=prefix, llm_partitions=llm_tasks)
            if query.reads and llm_tasks != tasks:  # it reads trace files too: rows unknown
                llm_tasks = tasks
                query = to_spark(sql, prefix=prefix, llm_partitions=tasks)
        except CompileError as exc:
            if model is not None:
                exc.model, exc.path = exc.model or model.name, exc.path or model.rel_path
            raise
        self.functions.call_in_tasks(llm_tasks)
        for read in query.reads:
            spec = ReadSpec(read.source_kind, next(self._scans), self.diagnostics_dir, dict(read.options))
            self.spark.read.format(FORMAT).option("spec", spec.to_json()).load().createOrReplaceTempView(
                read.view
            )
        if query.reads_diagnostics:
            self.diagnostics_frame().createOrReplaceTempView(DIAGNOSTICS_VIEW)
        return query

    def _few_rows(self, model: Model | None) -> bool:
        """Whether a model reads only tables of the warehouse (no sources, views or trace
        files) holding at most FEW_ROWS rows together (their Parquet footers say): its LLM
        calls then run in one task with the whole cap, without a shuffle (spread.py)."""
        if model is None or model.sources or not model.refs or self.functions.tasks == 1:
            return False
        assert self.project.graph is not None
        total = 0
        for ref in model.refs:
            parent = self.project.graph.nodes.get(f"model.{ref}")
            if not isinstance(parent, Model) or self.warehouse.kind(parent.relation) != "table":
                return False
            total += self.warehouse.rows_in(self.warehouse.location(parent.relation))
            if total > FEW_ROWS:
                return False
        return True

    def frame(self, sql: str, *, model: Model | None = None) -> Any:
        """A Spark DataFrame of a DuckDB query (lazy: nothing runs yet)."""
        return self.guard(lambda: self.spark.sql(self.translate(sql, model=model).sql), model)

    def arrow(self, sql: str, *, model: Model | None = None) -> pa.Table:
        frame = self.frame(sql, model=model)
        return self.guard(frame.toArrow, model)

    def diagnostics_frame(self) -> Any:
        rows = read_diagnostics(self.diagnostics_dir)
        return self.spark.createDataFrame([tuple(r.values()) for r in rows], DIAGNOSTICS_SCHEMA)

    def guard(self, action: Any, model: Model | None = None) -> Any:
        """Run a Spark action; its failure becomes a TracesqlError naming the model."""
        try:
            return action()
        except TracesqlError:
            raise
        except Exception as exc:  # Py4J, Spark Connect and Python worker errors
            raise spark_error(exc, model, self.functions.pop_error()) from None

    # -- the runner's contract ----------------------------------------------------------------

    def relation_type(self, relation: Relation) -> str | None:
        return self.warehouse.kind(relation)

    def materialize(
        self,
        compiled: Compiled,
        *,
        dry_run: bool = False,
        row_limit: int | None = None,
        verdict: Callable[[], None] | None = None,
    ) -> Built:
        model = compiled.node
        assert isinstance(model, Model)
        sql = (
            compiled.sql
            if row_limit is None
            else f"SELECT * FROM (\n{compiled.sql}\n) LIMIT {int(row_limit)}"
        )
        relation = model.relation
        existing = self.warehouse.kind(relation)
        if model.materialized == "view":
            spark_sql = self.translate(sql, model=model).sql
            return self.guard(
                lambda: self.warehouse.build_view(relation, spark_sql, bool(model.python_functions)), model
            )

        def before_switch() -> None:
            self.functions.merge_shards()  # the answers are kept, and counted, first
            if verdict is not None:
                verdict()

        with self.functions.stage(model.name):  # before the query is analyzed: its UDFs are the stage's
            frame = self.frame(sql, model=model)
            by_file = model.config.strategy == "by_file"  # on Spark: the files are read again, in parallel
            if (
                model.materialized == "incremental"
                and compiled.is_incremental
                and existing is not None
                and not by_file
            ):
                return self.guard(
                    lambda: self.warehouse.build_increment(
                        model, frame, dry_run=dry_run, before_switch=before_switch
                    ),
                    model,
                )
            built = self.guard(lambda: self.warehouse.build_table(relation, frame, before_switch), model)
        if model.materialized == "incremental" and existing is not None:
            built.message = "rebuilt (every file read again)" if by_file else "rebuilt (full refresh)"
        return built

    def write_table(self, name: str, table: pa.Table) -> None:
        """A table in the warehouse from Arrow rows (the call log's `llm_calls`)."""
        self.warehouse.build_table(Relation(name), self.spark.createDataFrame(table))

    def run_test(self, sql: str, sample_rows: int) -> tuple[int, list[str], list[tuple[Any, ...]]]:
        """(failing rows, columns, the first few) of a data test."""
        table = self.arrow(
            f"SELECT *, count(*) OVER () AS __tracesql_failures FROM (\n{sql}\n) LIMIT {sample_rows}"
        )
        rows = [tuple(r.values()) for r in table.to_pylist()]
        columns = table.column_names[:-1]
        failures = int(rows[0][-1]) if rows else 0
        return failures, columns, [row[:-1] for row in rows]

    def close(self) -> None:
        """End tracesql's use of the session (the SparkSession itself stays for the process)."""
        if not self._closed:
            self._closed = True
            try:
                if self.functions.llm.log_changed:
                    self.guard(lambda: self.functions.llm.write_call_log(self))
            finally:
                self.functions.close()

    def __enter__(self) -> SparkConnection:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def spark_error(exc: BaseException, model: Model | None, recorded: TracesqlError | None) -> TracesqlError:
    """A Spark failure as a TracesqlError: the one a Python worker raised (found in the
    failure's text), the one the driver recorded, else Spark's first line."""
    text = str(exc)
    found = _ERROR_LINE.findall(text)
    error: TracesqlError
    if found:
        payload = json.loads(found[-1])
        cls = getattr(errors, payload.pop("type"), None)
        if not (isinstance(cls, type) and issubclass(cls, TracesqlError)):
            cls = ExecutionError
        error = cls(payload.pop("message"), **payload)
    elif recorded is not None:
        error = recorded
    elif (raised := _PYTHON_ERROR.findall(text)) and "PythonException" in text:
        error = ExecutionError(f"{raised[-1][0]}: {raised[-1][1].strip()} (in a Spark Python worker)")
    else:
        error = ExecutionError(first_line(exc))
    if model is not None:
        error.model = error.model or model.name
        error.path = error.path or model.rel_path
    return error
