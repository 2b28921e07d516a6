"""The LLM runtime of one connection: turns a chunk of rows into answers.

DuckDB hands the `llm` functions up to 2048 rows at a time (a vectorized UDF). For each
chunk the runtime renders the prompts, builds the requests and their cache keys
(jobs.py), serves what the cache already has, and sends the rest concurrently on its
event loop (lanes.py), bounded per model alias by max_parallel_requests and by the run's
budget (budget.py). Answers are written to the cache the moment they arrive. Identical
requests share one HTTP call (in flight) and one failure (a request that failed for good
is not paid for again in the same run). Totals and call-log rows go to stats.py; a dry
run counts what it would send instead (budget.py).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb

from tracesql.errors import LLMError, LLMNotConfigured, TracesqlError
from tracesql.llm.budget import Budget, DryRunEstimate
from tracesql.llm.cache import CachedResponse, LLMStore, cache_path
from tracesql.llm.calls import CallRecord
from tracesql.llm.client import Attempt, BudgetReached, CallFailed, ChatRequest
from tracesql.llm.config import LLMConfig, RunOptions, config_from_env, resolve_model
from tracesql.llm.jobs import NO_CONTENT, Job, Target, build_job, full_answer, parse_response, usable_value
from tracesql.llm.lanes import Lanes
from tracesql.llm.progress import ProgressTracker
from tracesql.llm.stats import RunStats
from tracesql.llm.structured import OutputSchema, canonical, placeholder


class LLMRuntime:
    """The LLM state of one connection (its `Session.llm`); see docs/llm.md for the contract."""

    def __init__(
        self,
        config: LLMConfig | None = None,
        *,
        project_dir: str | None = None,
        target_dir: str | None = None,
        run_options: RunOptions | None = None,
    ) -> None:
        self.config = config if config is not None else config_from_env()
        self.settings = self.config.settings
        options = run_options or RunOptions()
        self.dry_run = options.dry_run
        self.cache_mode = options.cache_mode(self.settings)
        self.cache_path = cache_path(self.settings.cache_path, project_dir, target_dir)
        self.budget = Budget(*options.budget(self.settings))
        self.estimate = DryRunEstimate(self._mean_output_tokens)
        self.stats = RunStats(self.dry_run)
        self.progress = ProgressTracker(options.progress)
        self.lanes = Lanes(self.settings)
        self.project_model: str | None = None  # the tracesql model being built, for the call log
        self._lock = threading.Lock()
        self._store: LLMStore | None = None
        self._targets: dict[str | None, Target] = {}
        self._inflight: dict[str, asyncio.Future[CachedResponse]] = {}
        self._failed: dict[str, str] = {}  # request key -> why it failed for good in this run
        self._fresh: set[str] = set()  # keys answered in this run (readable when refreshing)
        self._errors: list[TracesqlError] = []

    @property
    def run_id(self) -> str:
        return self.stats.run_id

    # ---- the engine's contract ------------------------------------------------------------
    def begin_model(self, name: str | None) -> None:
        self.project_model = name

    def end_model(self) -> None:
        self.progress.finish(self.project_model)
        self.project_model = None

    def summary(self) -> list[dict[str, Any]]:
        return self.stats.summary()

    def flush_call_log(self, con: duckdb.DuckDBPyConnection) -> int:
        """Write the call-log rows since the last flush into `llm_calls` (outside any query)."""
        return self.stats.flush(con)

    def pop_error(self) -> TracesqlError | None:
        """The tracesql error raised inside an LLM function during the last failed query
        (DuckDB wraps it in its own exception); the runner re-raises it."""
        with self._lock:
            error = self._errors[-1] if self._errors else None
            self._errors.clear()
        return error

    def check_configured(self, aliases: Sequence[str | None]) -> list[str]:
        """Raise LLMNotConfigured (before any HTTP call) if one of the model aliases a query's
        LLM calls name (None: the default model) is not configured or its API key variable
        is unset; returns the resolved aliases."""
        return [self.target(alias, check_key=not self.dry_run).alias for alias in aliases]

    def call_log(self) -> list[CallRecord]:
        """Every call-log row in the store (all runs), for `llm_call_log()`."""
        if not self.cache_path_exists():
            return []
        return self.store.calls()

    def close(self) -> None:
        """Stop the event loop, the lanes' pools and the cache writer (idempotent)."""
        self.lanes.close()
        with self._lock:
            store, self._store = self._store, None
        if store is not None:
            store.close()

    # ---- resolution and the cache ------------------------------------------------------------
    def target(self, alias: str | None, *, check_key: bool = True) -> Target:
        found = self._targets.get(alias)
        if found is None:
            name, model = resolve_model(self.config, alias)
            provider = self.config.providers.get(model.provider)
            if provider is None:
                raise LLMNotConfigured(
                    f"model alias '{name}' names provider '{model.provider}', which is not defined "
                    "under `providers:` in profiles.yml"
                )
            found = Target(name, model, model.provider, provider)
            self._targets[alias] = found
            self.stats.model(found)
        env = found.provider.api_key_env
        if env and not os.environ.get(env):
            message = (
                f"LLM model '{found.alias}' needs an API key: set the environment variable {env} "
                f"(provider '{found.provider_name}')"
            )
            if check_key:
                raise LLMNotConfigured(message)
            self.stats.not_configured(found, message)
        return found

    @property
    def store(self) -> LLMStore:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = LLMStore(self.cache_path)
        return self._store

    def cache_path_exists(self) -> bool:
        return self.cache_path == ":memory:" or Path(self.cache_path).exists()

    def _readable(self, key: str) -> bool:
        return self.cache_mode == "use" or (self.cache_mode == "refresh" and key in self._fresh)

    def _mean_output_tokens(self, alias: str) -> float | None:
        return self.store.mean_output_tokens(alias) if self.cache_path_exists() else None

    def _log(self, records: list[CallRecord]) -> None:
        self.stats.keep(records)
        self.store.log(records)

    # ---- one chunk of rows ------------------------------------------------------------------
    def run_batch(self, columns: list[list[Any]]) -> list[str | None]:
        """Answers for one chunk: columns are kind, prompt, spec, vars, model, system,
        temperature, top_p, max_tokens (as the SQL macros pass them)."""
        try:
            return self._run_batch(columns)
        except TracesqlError as exc:
            if exc.model is None:
                exc.model = self.project_model
            with self._lock:
                self._errors.append(exc)
            raise

    def _run_batch(self, columns: list[list[Any]]) -> list[str | None]:
        kinds, prompt_col, specs, variables, aliases, systems, temperatures, top_ps, max_tokens = columns
        results: list[str | None] = [None] * len(prompt_col)
        jobs = [
            build_job(
                i,
                self.target(aliases[i], check_key=not self.dry_run),
                kinds[i],
                prompt_col[i],
                specs[i],
                variables[i],
                systems[i],
                temperatures[i],
                top_ps[i],
                max_tokens[i],
            )
            for i in range(len(prompt_col))
            if prompt_col[i] is not None
        ]
        if not jobs:
            return results
        for job in jobs:
            self.progress.add(self.project_model, job.target.alias, 1)
        pending = self._serve_from_cache(jobs, results)
        if self.dry_run:
            self._count_dry_run(pending, results)
            return results
        if pending:
            outcomes = self.lanes.run(self._complete_all(pending))
            failure = None
            for job, outcome in zip(pending, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    failure = failure or outcome
                else:
                    results[job.index] = outcome
            if failure is not None:
                raise failure
        return results

    def _serve_from_cache(self, jobs: list[Job], results: list[str | None]) -> list[Job]:
        """Fill results from the cache; the jobs still needing the network. A stored answer
        that fails its schema is a miss: asked again, and the new answer replaces it."""
        if self.cache_mode == "off" or (self.dry_run and not self.cache_path_exists()):
            return jobs
        keys = [job.request.key for job in jobs if self._readable(job.request.key)]
        found = self.store.get_many(keys) if keys else {}
        pending, hits = [], []
        for job in jobs:
            cached = found.get(job.request.key)
            if cached is None:
                pending.append(job)
                continue
            value, problem = usable_value(cached, job.schema)
            if problem is not None:
                pending.append(job)
                continue
            hits.append(self.stats.hit_record(job.target, job.request, cached, None, self.project_model))
            results[job.index] = full_answer(job, cached, cache_hit=True) if job.kind == "full" else value
            self.progress.done(self.project_model, job.target.alias, cache_hit=True)
        if hits and not self.dry_run:
            self._log(hits)
        return pending

    def _count_dry_run(self, jobs: list[Job], results: list[str | None]) -> None:
        """Count the calls a real run would make, and answer them with placeholders (empty
        text, the simplest valid structure) so that later steps built on these values are
        counted too."""
        for job in jobs:
            if job.kind == "full":
                results[job.index] = full_answer(job, None, error="dry run: not called")
            else:
                results[job.index] = canonical(placeholder(job.schema.json_schema)) if job.schema else ""
            self.progress.done(self.project_model, job.target.alias)
            tokens = self.estimate.estimate(job.request)
            if tokens is not None:
                self.stats.would_call(job.target, *tokens)

    # ---- the network side (runs on the lanes' event loop) -----------------------------------
    async def _complete_all(self, jobs: list[Job]) -> list[Any]:
        return await asyncio.gather(*(self._complete(job) for job in jobs), return_exceptions=True)

    async def _complete(self, job: Job) -> str | None:
        try:
            value = await (self._structured(job) if job.schema is not None else self._text(job))
        except CallFailed as exc:
            budget = isinstance(exc, BudgetReached)
            self.stats.gave_no_value(job.target, budget=budget)
            self.progress.done(self.project_model, job.target.alias, error=True)
            if self.settings.on_error == "fail" and not budget:
                error = LLMError(
                    f"LLM call to '{job.target.alias}' failed: {exc.message}", model=self.project_model
                )
                return error  # type: ignore[return-value]  # raised by run_batch once the chunk is done
            return full_answer(job, None, error=exc.message) if job.kind == "full" else None
        self.progress.done(self.project_model, job.target.alias)
        return value

    async def _text(self, job: Job) -> str | None:
        response, _, hit = await self._fetch(job.target, job.request, None, looked_up=True)
        if response.content is None:
            raise CallFailed(NO_CONTENT)
        return full_answer(job, response, cache_hit=hit) if job.kind == "full" else response.content

    async def _structured(self, job: Job) -> str:
        request, schema = job.request, job.schema
        assert schema is not None
        response, (value, problem), _ = await self._fetch(job.target, request, schema, looked_up=True)
        for _ in range(self.settings.structured_retries):
            if problem is None or response.finish_reason == "length":
                break
            request = request.reask(job.target.provider, response.content, problem)
            response, (value, problem), _ = await self._fetch(job.target, request, schema)
        if problem is None and request is not job.request and self.cache_mode != "off":
            # The valid answer of the re-asks also answers the original request: a re-run
            # finds it there (the invalid first answer would be a miss).
            self.store.put(replace(response, key=job.request.key), [])
            self._fresh.add(job.request.key)
        if problem is not None:
            if response.finish_reason == "length":
                raise CallFailed(f"the answer was cut off at max_tokens (finish_reason: length): {problem}")
            raise CallFailed(
                f"no valid structured answer after {self.settings.structured_retries + 1} tries: {problem}"
            )
        return canonical(value)

    async def _fetch(
        self, target: Target, request: ChatRequest, schema: OutputSchema | None, looked_up: bool = False
    ) -> tuple[CachedResponse, tuple[Any, str | None], bool]:
        """The response to one request (cache, shared in-flight call, or HTTP), its parse, and
        whether it came from the cache.
        `looked_up`: the chunk's cache lookup already missed, so only an answer that arrived
        since (to an identical request of another chunk) can be there."""
        key = request.key
        if key in self._failed:
            raise CallFailed(self._failed[key] + " (failed earlier in this run; not requested again)")
        cached = None
        if self.cache_mode != "off" and (not looked_up or key in self._fresh) and self._readable(key):
            cached = self.store.get(key)
        if cached is not None:
            parsed = parse_response(cached, schema)
            # An answer of an earlier run that fails the schema is a miss (one of this run is
            # being re-asked by the job that received it).
            if parsed[1] is None or key in self._fresh:
                self._log([self.stats.hit_record(target, request, cached, parsed[1], self.project_model)])
                return cached, parsed, True
        waiting = self._inflight.get(key)
        if waiting is not None:
            response = await asyncio.shield(waiting)
            return response, parse_response(response, schema), False
        future: asyncio.Future[CachedResponse] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            response, parsed = await self._call(target, request, schema)
        except CallFailed as exc:
            if not isinstance(exc, BudgetReached):
                self._failed[key] = exc.message
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody shared it
            raise
        finally:
            self._inflight.pop(key, None)
        future.set_result(response)
        return response, parsed, False

    async def _call(
        self, target: Target, request: ChatRequest, schema: OutputSchema | None
    ) -> tuple[CachedResponse, tuple[Any, str | None]]:
        def admit() -> None:
            """Called when a slot is free, before the first attempt: the budget check."""
            self.budget.admit()
            self.stats.started(target)

        def report(attempt: Attempt) -> None:
            self.stats.failed_attempt(target, attempt)
            self._log([self.stats.attempt_record(target, request, attempt, self.project_model)])

        attempt = await self.lanes.lane(target).send(request, report, admit)
        response = CachedResponse(
            request.key,
            target.alias,
            target.model.model,
            attempt.content,
            attempt.finish_reason,
            attempt.input_tokens or 0,
            attempt.output_tokens or 0,
            time.time(),
            attempt.reasoning,
        )
        parsed = parse_response(response, schema)
        problem = parsed[1] if schema is not None else (None if attempt.content is not None else NO_CONTENT)
        if attempt.finish_reason == "length":
            problem = "cut off at max_tokens (finish_reason: length)" + (f"; {problem}" if problem else "")
        attempt.error = problem
        record = self.stats.attempt_record(target, request, attempt, self.project_model)
        self.budget.spend((attempt.input_tokens or 0) + (attempt.output_tokens or 0))
        self.stats.answered(target, attempt, record)
        self.store.put(response if self.cache_mode != "off" else None, [record])
        self._fresh.add(request.key)
        return response, parsed
