"""tracesql's SQL functions on Spark: `redact()`, `anonymize()`, `llm_render()` and the LLM
call behind `llm()`, `llm_json()`, `llm_struct()`, `llm_judge()` and `llm_response()`,
all Arrow UDFs (a batch of rows per call).

The LLM call runs in Spark's Python workers, which are separate processes, so each task
builds the same LLMRuntime as a DuckDB connection (jobs.py builds and redacts the
requests; the lanes retry, pace and stop; the fetcher decides each value) from a
`WorkerPlan` the driver ships with the UDF. What a single process guaranteed by itself
is carried over explicitly:

- answers are kept as they arrive: each worker writes its answers and call-log rows into
  its own shard (a pair of SQLite files, committed before its batch returns), read
  together with the project's cache (hits from a DuckDB run count); the driver merges
  the shards into the shared cache and call log after each model, after a failure or an
  interrupt too, and merges any a killed run left behind when it next starts;
- `max_parallel_requests` stays a cap for the whole run: each task gets its share of it
  (the cap divided by the tasks that can run at once);
- `--max-calls`, `--max-tokens` and `--deadline` are the driver's: every request a worker
  would send is admitted (or refused) by the driver's Budget over a socket (budget.py);
- speculative execution is off (session.py), so no task sends its requests twice;
- Ctrl-C cancels the Spark job group of the model; what was answered is merged;
- failure semantics are the DuckDB run's: a worker raising a tracesql error (an LLM
  failure with `max_error_rate: fail`, a missing key) fails the model with that error.
"""

from __future__ import annotations

import contextlib
import glob
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tracesql.errors import TracesqlError
from tracesql.llm import columns, interrupts
from tracesql.llm.cache import CachedResponse, LLMStore
from tracesql.llm.calls import CallRecord, records_table
from tracesql.llm.config import LLMConfig, RunOptions
from tracesql.llm.prompts import render_json_vars
from tracesql.llm.runtime import LLMRuntime
from tracesql.llm.stats import ModelTally
from tracesql.secrets.columns import REDACT, anonymizing, redact_array, redact_arrow
from tracesql.secrets.keys import project_key
from tracesql.spark.budget import BudgetServer, RemoteBudget, driver_host
from tracesql.spark.datasource import carried
from tracesql.spark.dialect import CALL_UDF, LIFTED_DEPTH, RENDER_UDF

if TYPE_CHECKING:
    from tracesql.project.project import Project

SHARDS = "llm_shards"


@dataclass(frozen=True)
class WorkerPlan:
    """What a Python worker needs to answer LLM calls like the driver would (picklable)."""

    stage: str  # a new one per model: workers start fresh runtimes for it
    run_id: str
    project_model: str | None
    config: LLMConfig
    run_options: RunOptions
    project_dir: str | None
    target_dir: str | None
    cache_path: str
    shard_dir: str
    redact: bool
    tasks: int  # how many tasks share the caps
    api_keys: dict[str, str]  # the providers' key variables as the driver has them
    budget: tuple[tuple[str, int], bytes] | None = None  # the driver's BudgetServer: address, secret

    def __repr__(self) -> str:  # never shows the keys
        return f"WorkerPlan(stage={self.stage!r}, project_model={self.project_model!r})"

    def worker_config(self, tasks: int) -> LLMConfig:
        """The config with each alias's max_parallel_requests cut to this task's share."""
        models = {
            alias: model.model_copy(
                update={"max_parallel_requests": max(1, model.max_parallel_requests // tasks)}
            )
            for alias, model in self.config.models.items()
        }
        # the budget is the driver's (budget.py): none of the worker's own
        settings = self.config.settings.model_copy(
            update={"max_calls": None, "max_tokens_total": None, "deadline": None}
        )
        return replace(self.config, models=models, settings=settings)

    def worker_options(self) -> RunOptions:
        """The run options in a worker: the budget is the driver's (budget.py), not its own."""
        return replace(self.run_options, progress=None, max_calls=None, max_tokens=None, deadline=None)


class ShardStore:
    """A worker's store: reads its shard, then the project's cache (read-only); writes its shard."""

    def __init__(self, main: LLMStore | None, shard: LLMStore) -> None:
        self.main, self.shard = main, shard

    def get(self, key: str) -> CachedResponse | None:
        found = self.shard.get(key)
        if found is None and self.main is not None:
            found = self.main.get(key)
        return found

    def get_many(self, keys: list[str]) -> dict[str, CachedResponse]:
        found = self.shard.get_many(keys)
        missing = [k for k in keys if k not in found]
        if missing and self.main is not None:
            found.update(self.main.get_many(missing))
        return found

    def close(self) -> None:
        try:
            self.shard.close()
        finally:
            if self.main is not None:
                self.main.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.shard, name)


class WorkerRuntime(LLMRuntime):
    """The LLM runtime of one Python worker for one stage: its store is a ShardStore."""

    def __init__(self, plan: WorkerPlan) -> None:
        for name, value in plan.api_keys.items():  # executors need not share the driver's environment
            os.environ[name] = value
        shard = os.path.join(plan.shard_dir, f"shard-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        os.makedirs(plan.shard_dir, exist_ok=True)
        tasks = plan.tasks
        super().__init__(
            plan.worker_config(tasks),
            project_dir=plan.project_dir,
            target_dir=plan.target_dir,
            run_options=plan.worker_options(),
            redact=plan.redact,
        )
        self.stats.run_id = plan.run_id
        if plan.budget is not None:  # every admission is the driver's decision
            self.budget = self.fetcher.budget = RemoteBudget(*plan.budget)
        self.project_model = plan.project_model
        self.main_cache = None if self.cache_mode == "off" else plan.cache_path
        self.shard_path = shard
        self._shard_store: ShardStore | None = None

    @property
    def store(self) -> Any:
        if self._shard_store is None:
            main = (
                LLMStore(self.main_cache, f"{self.shard_path}.mainlog", read_only=True)
                if self.main_cache
                else None
            )
            shard = LLMStore(f"{self.shard_path}.cache.sqlite", f"{self.shard_path}.calls.sqlite")
            self._shard_store = ShardStore(main, shard)
        return self._shard_store

    def close(self) -> None:
        self.lanes.close()
        if isinstance(self.budget, RemoteBudget):
            self.budget.close()
        if self._shard_store is not None:
            self._shard_store.close()
            self._shard_store = None


_WORKER: dict[str, WorkerRuntime] = {}
_WORKER_LOCK = threading.Lock()


def worker_runtime(plan: WorkerPlan) -> WorkerRuntime:
    """This process's runtime for the plan's stage (the runtimes of earlier stages closed)."""
    with _WORKER_LOCK:
        runtime = _WORKER.get(plan.stage)
        if runtime is None:
            for old in _WORKER.values():
                old.close()
            _WORKER.clear()
            runtime = _WORKER[plan.stage] = WorkerRuntime(plan)
        return runtime


def answer_batch(plan: WorkerPlan, arrays: list[pa.Array]) -> pa.Array:
    """The UDF's body, in a worker: one Arrow batch of calls to answers, committed to the shard."""
    runtime = worker_runtime(plan)
    try:
        values = runtime.run_batch([a.to_pylist() for a in arrays])
    except TracesqlError as exc:
        raise RuntimeError(carried(exc)) from None
    finally:
        if runtime._shard_store is not None:
            runtime._shard_store.shard.flush()
    return pa.array(values, type=pa.string())


# -- the driver side ---------------------------------------------------------------------------

WARM_UP_UDF = "__tracesql_warm_up"
# Python UDF stages a model's task chains: its redact() calls (those lifted out of lambdas
# with them, dialect.lift_python_calls), then its llm() call
WARM_UP_STAGES = 2
# a row per task (`n`), through `chain` and what the LLM models' queries are made of
WARM_UP_SQL = """
SELECT {chain} AS w, FROM_JSON(TO_JSON(STRUCT(
    TRANSFORM(
        ARRAYS_ZIP(FILTER(xs, (x, i) -> i + 1 >= 1 AND x IS NOT NULL), IF(TRUE, xs, NULL)),
        z -> STRUCT(z.`0` AS a, LEFT(COALESCE(CAST(z.`1` AS STRING), ''), 5) || '(' AS b)
    ) AS l,
    CASE WHEN SIZE(xs) > GREATEST(id - 3, 5) THEN 'x' END AS c
)), 'l ARRAY<STRUCT<a: BIGINT, b: STRING>>, c STRING') AS j
FROM (SELECT id, SEQUENCE(CAST(0 AS BIGINT), id + 3) AS xs FROM range(0, {n}, 1, {n}))
"""


def _warm_up_worker(values: pa.Array) -> pa.Array:
    from tracesql.llm.client import load_openai

    load_openai()
    return redact_array(values, REDACT)


def register_text_functions(spark: Any, key: bytes) -> None:
    """redact(), anonymize() (keyed with `key`, the project's salt), their list forms for
    calls lifted out of lambdas, and llm_render()'s UDF."""
    from pyspark.sql.functions import arrow_udf

    def render(templates: pa.Array, variables: pa.Array) -> pa.Array:
        pairs = zip(templates.to_pylist(), variables.to_pylist(), strict=True)
        return pa.array(
            [render_json_vars(t, v) if t is not None else None for t, v in pairs], type=pa.string()
        )

    rewrites = (("REDACT", REDACT), ("ANONYMIZE", anonymizing(key)))
    for name, rewrite in rewrites:
        spark.udf.register(name.lower(), arrow_udf(lambda a, r=rewrite: redact_array(a, r), "string"))  # type: ignore[call-overload]
        kind = "string"
        for depth in range(1, LIFTED_DEPTH + 1):  # dialect.lift_python_calls
            kind = f"array<{kind}>"
            lifted = arrow_udf(lambda a, r=rewrite: redact_arrow(a, r), kind)  # type: ignore[call-overload]
            spark.udf.register(f"__TRACESQL_{name}_{depth}", lifted)
    spark.udf.register(RENDER_UDF, arrow_udf(render, "string"))  # type: ignore[call-overload]


class DriverRuntime(LLMRuntime):
    """The driver's LLM runtime: configuration checks and the merged store as on DuckDB;
    tallies, totals and the call-log table from the call-log rows the workers wrote."""

    def _records(self, project_model: str | None = None) -> list[CallRecord]:
        records = [r for r in self.store.calls(self.run_id) if r.final]
        if project_model is not None:
            records = [r for r in records if r.project_model == project_model]
        return records

    def tally(self, project_model: str | None) -> ModelTally:
        tally = ModelTally()
        for record in self._records(project_model):
            tally.asked += 1
            error = record.error or ""
            if not error:
                continue
            if record.attempt is None and "budget" in error:
                tally.budget_skipped += 1
            elif record.attempt is None and "interrupt" in error:
                tally.interrupted += 1
            else:
                tally.failed += 1
                tally.first_error = tally.first_error or error
        return tally

    def summary(self) -> list[dict[str, Any]]:
        """Per-alias totals of this run, in the shape of stats.ModelStats.as_dict."""
        totals: dict[str, dict[str, Any]] = {}
        called: dict[str, set[str]] = {}
        latency: dict[str, float] = {}
        for r in self.store.calls(self.run_id):
            row = totals.setdefault(
                r.model_alias,
                dict.fromkeys(
                    (
                        "calls",
                        "attempts",
                        "cache_hits",
                        "errors",
                        "truncated",
                        "budget_skipped",
                        "interrupted",
                    ),
                    0,
                )
                | {
                    "model_alias": r.model_alias,
                    "provider_model": r.provider_model,
                    "first_error": None,
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cost_usd": None,
                    "mean_latency_ms": None,
                },
            )
            if r.cache_hit:
                row["cache_hits"] += 1
            elif r.attempt:
                row["attempts"] += 1
                called.setdefault(r.model_alias, set()).add(r.request_hash)
                row["input_tokens"] += r.input_tokens or 0
                row["output_tokens"] += r.output_tokens or 0
                latency[r.model_alias] = latency.get(r.model_alias, 0.0) + (r.latency_ms or 0.0)
                row["truncated"] += r.finish_reason == "length"
            if r.final and r.error:
                kind = (
                    "budget_skipped"
                    if "budget" in r.error
                    else "interrupted"
                    if "interrupt" in r.error
                    else "errors"
                )
                row[kind] += 1
                row["first_error"] = row["first_error"] or r.error
        for alias, row in totals.items():
            row["calls"] = len(called.get(alias, ()))
            if row["attempts"]:
                row["mean_latency_ms"] = round(latency[alias] / row["attempts"], 1)
        return list(totals.values())

    log_changed = False

    def flush_call_log(self, con: Any) -> int:
        """After a model: the call log (kept in its file as calls happen) is written as the
        `llm_calls` table once, when the connection closes (a Spark write per model would
        cost a second each)."""
        self.log_changed = True
        return 0

    def write_call_log(self, con: Any) -> int:
        """`llm_calls` on Spark: the whole call log as a table in the warehouse."""
        records = self.store.calls()
        con.write_table("llm_calls", records_table(records))
        self.log_changed = False
        return len(records)


class SparkFunctions:
    """The functions of one Spark connection, and the LLM state the driver keeps."""

    def __init__(self, spark: Any, project: Project, run_options: RunOptions | None = None) -> None:
        self.spark = spark
        self.project = project
        self.run_options = run_options or RunOptions()
        options = project.connection_options(self.run_options)
        self.llm = DriverRuntime(
            options.llm_config,
            project_dir=options.project_dir,
            target_dir=options.target_dir,
            run_options=self.run_options,
            redact=options.redact,
        )
        self.shard_root = os.path.join(str(project.target_dir), SHARDS)
        budget = self.llm.budget
        limited = budget.max_calls is not None or budget.max_tokens is not None or budget.deadline is not None
        self.budget_server = BudgetServer(budget, driver_host(spark)) if limited else None
        self._plan: WorkerPlan | None = None
        self._group: str | None = None
        self._errors: list[TracesqlError] = []
        self._unregister = interrupts.on_stop(self.cancel)
        self.merge_shards()  # what a killed run left behind
        self._register()

    # -- registration ------------------------------------------------------------------------

    def _register(self) -> None:
        from pyspark.sql.functions import arrow_udf

        register_text_functions(self.spark, project_key(self.project.target_dir))
        self._register_llm(self._new_plan(None))
        self.spark.udf.register(WARM_UP_UDF, arrow_udf(_warm_up_worker, "string"))  # type: ignore[call-overload]

    def warm_up(self) -> None:
        """Start the Python workers a model's tasks use and load what the LLM functions need
        in them (the `openai` client, the secret rules): a second or more per worker, paid
        once per session rather than by the first model that calls the LLM. A task runs a
        worker per Python UDF stage of its query, so each warm-up task chains WARM_UP_STAGES
        of them (a SQL expression between two calls keeps them in separate stages); Spark
        keeps idle workers for a minute and hands them to the next tasks. The same job uses
        the expressions the compiled LLM models are made of (lambdas over lists, structs,
        JSON), so the JVM has compiled Spark's planner for them before the first model: its
        first plan of such a query takes a second more than the next."""
        n = self.tasks
        chain = "CAST(id AS STRING)"
        for _ in range(WARM_UP_STAGES):
            chain = f"{WARM_UP_UDF}(concat({chain}, ''))"
        self.spark.sql(WARM_UP_SQL.format(chain=chain, n=n)).write.format("noop").mode("overwrite").save()

    def _register_llm(self, plan: WorkerPlan) -> None:
        from pyspark.sql.functions import arrow_udf

        def call(*arrays: pa.Array) -> pa.Array:
            return answer_batch(plan, list(arrays))

        udf = arrow_udf(call, "string").asNondeterministic()  # type: ignore[call-overload]
        self.spark.udf.register(CALL_UDF, udf)
        self._plan = plan

    def call_in_tasks(self, tasks: int) -> None:
        """The LLM calls of the next query run in `tasks` tasks: each worker's share of the
        caps is the cap divided by them (registered again only when it changes)."""
        plan = self._plan
        if plan is not None and plan.tasks != tasks:
            self._register_llm(replace(plan, tasks=tasks))

    @property
    def tasks(self) -> int:
        """How many tasks run at once (the cluster's cores): the shares of the caps. Spark
        Connect does not say; its conf `spark.default.parallelism`, else 2, stands in."""
        context = getattr(self.spark, "sparkContext", None)
        if context is not None:
            return max(1, int(context.defaultParallelism))
        try:
            return max(1, int(self.spark.conf.get("spark.default.parallelism", "2")))
        except Exception:  # noqa: BLE001 - a Connect server without the setting
            return 2

    def _new_plan(self, project_model: str | None) -> WorkerPlan:
        options = self.project.connection_options(self.run_options)
        assert options.llm_config is not None
        stage = uuid.uuid4().hex[:12]
        return WorkerPlan(
            stage=stage,
            run_id=self.llm.run_id,
            project_model=project_model,
            config=options.llm_config,
            run_options=replace(self.run_options, progress=None),
            project_dir=options.project_dir,
            target_dir=options.target_dir,
            cache_path=self.llm.cache_path,
            shard_dir=os.path.join(self.shard_root, stage),
            redact=options.redact,
            tasks=self.tasks,
            budget=None
            if self.budget_server is None
            else (self.budget_server.address, self.budget_server.secret),
            api_keys={
                provider.api_key_env: os.environ[provider.api_key_env]
                for provider in options.llm_config.providers.values()
                if provider.api_key_env and os.environ.get(provider.api_key_env)
            },
        )

    # -- one model ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def stage(self, project_model: str) -> Iterator[None]:
        """Around one model's Spark job: a fresh plan for the workers, its job group
        cancelled on Ctrl-C, and its shards merged whatever happens."""
        self._register_llm(self._new_plan(project_model))
        group = f"tracesql-{project_model}-{uuid.uuid4().hex[:6]}"
        context = getattr(self.spark, "sparkContext", None)
        if context is not None:
            context.setJobGroup(group, f"tracesql model {project_model}", interruptOnCancel=True)
        self._group = group
        try:
            yield
        except KeyboardInterrupt:
            self.cancel("KeyboardInterrupt")
            raise
        finally:
            self._group = None
            self.merge_shards()

    def cancel(self, reason: str) -> None:
        """Ctrl-C, SIGTERM (interrupts.request_stop): cancel the running model's Spark jobs
        (their tasks are interrupted; what their workers received is in the shards)."""
        group = self._group
        context = getattr(self.spark, "sparkContext", None)
        if group is None:
            return
        if context is not None:
            context.cancelJobGroup(group)
        else:  # Spark Connect
            with contextlib.suppress(Exception):
                self.spark.interruptAll()

    def merge_shards(self) -> int:
        """Move every shard's answers and call-log rows into the project's cache and call log."""
        paths = sorted(glob.glob(os.path.join(self.shard_root, "*", "shard-*.calls.sqlite")))
        if not paths:
            return 0
        store = self.llm.store
        moved = 0
        for calls_path in paths:
            base = calls_path.removesuffix(".calls.sqlite")
            responses = _rows(f"{base}.cache.sqlite", "responses", CachedResponse)
            records = _rows(calls_path, "calls", CallRecord)
            for response in responses:
                store.put(response, [])
            if records:
                store.log([replace(r, call_id=None) for r in records])
            moved += len(responses)
        store.flush()
        for calls_path in paths:
            base = calls_path.removesuffix(".calls.sqlite")
            for suffix in (".calls.sqlite", ".cache.sqlite", ".mainlog"):
                for leftover in glob.glob(base + suffix + "*"):
                    with contextlib.suppress(OSError):
                        os.unlink(leftover)
        for folder in glob.glob(os.path.join(self.shard_root, "*")):
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        return moved

    def pop_error(self) -> TracesqlError | None:
        return self.llm.pop_error()

    def close(self) -> None:
        self._unregister()
        try:
            self.merge_shards()
        finally:
            if self.budget_server is not None:
                self.budget_server.close()
            self.llm.close()


def _rows(path: str, table: str, cls: type) -> list[Any]:
    if not os.path.exists(path):
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [columns.from_row(cls, row) for row in db.execute(columns.select(table, cls))]
    except sqlite3.Error:
        return []
    finally:
        db.close()
