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

import concurrent.futures
import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb

from tracesql.errors import LLMNotConfigured, RunInterrupted, TracesqlError
from tracesql.llm.budget import Budget, DryRunEstimate, estimate_tokens
from tracesql.llm.cache import LLMStore, cache_path, log_path
from tracesql.llm.calls import CallRecord, sync_llm_calls
from tracesql.llm.config import LLMConfig, RunOptions, api_key, config_from_env, resolve_model
from tracesql.llm.fetching import Fetcher
from tracesql.llm.jobs import Job, Target, answer_value, build_job, full_answer, usable_value
from tracesql.llm.lanes import Lanes
from tracesql.llm.progress import ProgressTracker
from tracesql.llm.stats import ModelTally, RunStats
from tracesql.llm.structured import canonical, placeholder


class LLMRuntime:
    """The LLM state of one connection (its `Session.llm`); see docs/llm.md for the contract."""

    def __init__(
        self,
        config: LLMConfig | None = None,
        *,
        project_dir: str | None = None,
        target_dir: str | None = None,
        run_options: RunOptions | None = None,
        redact: bool = True,
    ) -> None:
        self.config = config if config is not None else config_from_env()
        self.redact = redact  # credentials out of every request body (jobs.build_job)
        self.settings = self.config.settings
        options = run_options or RunOptions()
        self.dry_run = options.dry_run
        self.cache_mode = options.cache_mode(self.settings)
        self.max_error_rate = options.error_rate(self.settings)
        self.cache_path = cache_path(self.settings.cache_path, project_dir, target_dir)
        self.log_path = log_path(self.cache_path)
        self.budget = Budget(*options.budget(self.settings))
        self.estimate = DryRunEstimate(self._output_tokens)
        self.stats = RunStats(self.dry_run)
        self.progress = ProgressTracker(options.progress)
        self.lanes = Lanes(self.settings)
        self.project_model: str | None = None  # the tracesql model being built, for the call log
        self._lock = threading.Lock()
        self._store: LLMStore | None = None
        self._targets: dict[str | None, Target] = {}
        self._errors: list[TracesqlError] = []
        self.fetcher = Fetcher(
            self.settings,
            stats=self.stats,
            budget=self.budget,
            lanes=self.lanes,
            progress=self.progress,
            store=lambda: self.store,
            cache_mode=self.cache_mode,
            fail_fast=self.max_error_rate == "fail",
            estimate=lambda request, project_model: estimate_tokens(
                request, self.estimate.history(project_model, request.model.model)
            ),
        )

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

    def interrupt(self, reason: str) -> None:
        """SIGINT or SIGTERM (interrupts.py): no new request starts; those in flight may
        finish for a few seconds, then are cancelled; the query in progress then fails
        with RunInterrupted."""
        self.lanes.interrupt(reason)

    def answers_received(self) -> int:
        """Answers received over HTTP in this connection: each is in the cache."""
        return self.stats.answers()

    def tally(self, project_model: str | None) -> ModelTally:
        """What the LLM values of a tracesql model came to in this run."""
        return self.stats.tally(project_model)

    def flush_call_log(self, con: duckdb.DuckDBPyConnection) -> int:
        """Copy the call-log rows `llm_calls` lacks into it (outside any query): this run's
        since the last flush, and those of runs it has not seen (queries, connect())."""
        if self._store is not None:
            return sync_llm_calls(con, self._store)
        with self._log_reader() as reader:
            return sync_llm_calls(con, reader)

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
        resolved = [self.target(alias, check_key=not self.dry_run).alias for alias in aliases]
        if resolved:
            self.prepare()
        return resolved

    def prepare(self) -> None:
        """Open and verify the cache and the call log (LLMStoreError naming the file and the
        fix): done before the first request of a model or a query, so no answer is paid
        for that could not be kept."""
        self.store.check()

    def call_log(self) -> list[CallRecord]:
        """Every call-log row (all runs), for `llm_call_log()`."""
        if self._store is not None:
            return self._store.calls()
        with self._log_reader() as reader:
            return reader.calls() if reader is not None else []

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
        if env and api_key(found.provider_name, found.provider) is None:
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
        """The cache (unless --no-cache) and the call log, opened and verified on first use
        (read-only in a dry run, which writes nothing)."""
        if self._store is None:
            with self._lock:
                if self._store is None:
                    cache = None if self.cache_mode == "off" else self.cache_path
                    self._store = LLMStore(cache, self.log_path, read_only=self.dry_run)
        return self._store

    @contextlib.contextmanager
    def _log_reader(self) -> Iterator[LLMStore | None]:
        """The call log, read-only, for a connection that has not opened its store (None
        while the file does not exist)."""
        if self.log_path != ":memory:" and not Path(self.log_path).exists():
            yield None
            return
        reader = LLMStore(None, self.log_path, read_only=True)
        try:
            yield reader
        finally:
            reader.close()

    def _output_tokens(self, project_model: str | None, provider_model: str) -> float | None:
        return self.store.output_tokens(project_model, provider_model)

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
        self._check_interrupted()
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
                redact=self.redact,
            )
            for i in range(len(prompt_col))
            if prompt_col[i] is not None
        ]
        if not jobs:
            return results
        self.prepare()  # the cache and call log are usable: before anything is paid for
        self.stats.asked(self.project_model, len(jobs))
        for job in jobs:
            self.progress.add(self.project_model, job.target.alias, 1)
        pending = self._serve_from_cache(jobs, results)
        if self.dry_run:
            self._count_dry_run(pending, results)
            return results
        if pending:
            try:
                outcomes = self.lanes.run(self.fetcher.complete_all(pending, self.project_model))
            except concurrent.futures.CancelledError:
                outcomes = []  # cancelled by the interrupt, raised below
            self._check_interrupted()
            failure = None
            for job, outcome in zip(pending, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    failure = failure or outcome
                else:
                    results[job.index] = outcome
            if failure is not None:
                raise failure
        return results

    def _check_interrupted(self) -> None:
        """The query stops once the run is interrupted (no value of this chunk is kept:
        its answers are in the cache, and the next run finds them there)."""
        reason = self.lanes.stop.reason
        if reason is not None:
            received = self.answers_received()
            raise RunInterrupted(
                f"interrupted ({reason}): no LLM request was started after it; {received} "
                f"answer{'s' * (received != 1)} received are in the cache",
                reason=reason,
            )

    def _serve_from_cache(self, jobs: list[Job], results: list[str | None]) -> list[Job]:
        """Fill results from the cache; the jobs still needing the network. A stored answer
        that fails its schema is a miss: asked again, and the new answer replaces it."""
        if self.cache_mode == "off":
            return jobs
        keys = [job.request.key for job in jobs if self.fetcher.readable(job.request.key)]
        found = self.store.get_many(keys) if keys else {}
        pending, hits = [], []
        for job in jobs:
            cached = found.get(job.request.key)
            if cached is None:
                pending.append(job)
                continue
            value, problem = usable_value(cached, job.schema)
            if problem is not None:  # a stored answer that fails its schema is a miss
                pending.append(job)
                continue
            hit = self.stats.hit_record(job.target, job.request, cached, None, self.project_model)
            hits.append(replace(hit, final=True))
            results[job.index] = answer_value(job, cached, value, cache_hit=True)
            self.progress.done(self.project_model, job.target.alias, cache_hit=True)
        if hits:
            self.store.log(hits)
        return pending

    def _count_dry_run(self, jobs: list[Job], results: list[str | None]) -> None:
        """Count the calls a real run would make, and answer them with placeholders (the
        simplest valid structure, its text naming the request) so that later steps built on
        these values are counted too, once per row as real answers would make them."""
        for job in jobs:
            text = f"(dry run: not asked, {job.request.key[:12]})"
            value = placeholder(job.schema.json_schema, text=text) if job.schema else text
            if job.full:
                results[job.index] = full_answer(job, None, value=value)
            else:
                results[job.index] = canonical(value) if job.schema else value
            self.progress.done(self.project_model, job.target.alias)
            tokens = self.estimate.estimate(job.request, self.project_model)
            if tokens is not None:
                self.stats.would_call(job.target, *tokens)
