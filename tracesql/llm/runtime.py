"""The LLM runtime of one connection: turns a chunk of rows into answers.

DuckDB hands the `llm` functions up to 2048 rows at a time (a vectorized UDF). For each
chunk the runtime renders the prompts, builds the requests and their cache keys, serves
what the cache already has, and sends the rest concurrently on a private asyncio loop
(one thread), bounded per model alias by max_parallel_requests. Answers are written to
the cache the moment they arrive. Identical requests share one HTTP call (in flight) and
one failure (a request that failed for good is not paid for again in the same run).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracesql.errors import LLMError, LLMNotConfigured, TracesqlError
from tracesql.llm import judge, prompts
from tracesql.llm.cache import CachedResponse, LLMStore, cache_path
from tracesql.llm.calls import CallRecord, ModelStats, write_llm_calls
from tracesql.llm.client import Attempt, BudgetReached, CallFailed, ChatRequest, ModelLane, make_client
from tracesql.llm.config import (
    LLMConfig,
    ModelConfig,
    ProviderConfig,
    RunOptions,
    config_from_env,
    resolve_model,
)
from tracesql.llm.names import model_aliases_in
from tracesql.llm.progress import ProgressTracker
from tracesql.llm.structured import OutputSchema, canonical, parse_answer, parse_output_schema, placeholder

DEFAULT_OUTPUT_TOKENS = 256  # dry-run guess when neither history nor max_tokens says more


@dataclass
class Target:
    """A resolved model alias."""

    alias: str
    model: ModelConfig
    provider_name: str
    provider: ProviderConfig


@dataclass
class Job:
    index: int
    kind: str  # text | json | judge | full
    target: Target
    request: ChatRequest
    schema: OutputSchema | None
    cached: CachedResponse | None = None


FULL_FIELDS = (
    "text",
    "reasoning",
    "finish_reason",
    "input_tokens",
    "output_tokens",
    "cache_hit",
    "error",
    "request_hash",
)


def full_answer(
    job: Job, response: CachedResponse | None, *, cache_hit: bool = False, error: str | None = None
) -> str:
    """What `llm_response()` returns for a row: the answer and how it went, as JSON."""
    return canonical(
        {
            "text": response.content if response else None,
            "reasoning": response.reasoning if response else None,
            "finish_reason": response.finish_reason if response else None,
            "input_tokens": response.input_tokens if response else None,
            "output_tokens": response.output_tokens if response else None,
            "cache_hit": cache_hit,
            "error": error,
            "request_hash": job.request.key,
        }
    )


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
        self.max_calls, self.max_tokens = options.budget(self.settings)
        self.progress = ProgressTracker(options.progress)
        self.run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        self.cache_path = cache_path(self.settings.cache_path, project_dir, target_dir)
        self.project_model: str | None = None
        self._lock = threading.Lock()
        self._store: LLMStore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._targets: dict[str | None, Target] = {}
        self._lanes: dict[str, ModelLane] = {}
        self._stats: dict[str, ModelStats] = {}
        self._log: list[CallRecord] = []
        self._inflight: dict[str, asyncio.Future] = {}
        self._failed: dict[str, str] = {}
        self._fresh: set[str] = set()
        self._would_call: set[str] = set()
        self._history: dict[str, float | None] = {}
        self._calls_started = 0
        self._tokens_used = 0
        self._errors: list[TracesqlError] = []

    # ---- the engine's contract ------------------------------------------------------------
    def begin_model(self, name: str | None) -> None:
        self.project_model = name

    def end_model(self) -> None:
        self.progress.finish(self.project_model)
        self.project_model = None

    def summary(self) -> list[dict[str, Any]]:
        with self._lock:
            return [stats.as_dict(self.dry_run) for stats in self._stats.values()]

    def flush_call_log(self, con: Any) -> int:
        """Write the call-log rows since the last flush into `llm_calls` (outside any query)."""
        with self._lock:
            rows, self._log = self._log, []  # the store keeps them; memory need not
        if not rows and self.dry_run:
            return 0
        return write_llm_calls(con, rows)

    def pop_error(self) -> TracesqlError | None:
        """The tracesql error raised inside an LLM function during the last failed query
        (DuckDB wraps it in its own exception); the runner re-raises it."""
        with self._lock:
            error = self._errors[-1] if self._errors else None
            self._errors.clear()
        return error

    def check_configured(self, sql: str) -> list[str]:
        """Raise LLMNotConfigured (before any HTTP call) if `sql` uses an LLM function whose
        model is not configured or whose API key variable is unset; returns the aliases."""
        aliases = model_aliases_in(sql)
        for alias in aliases:
            self.target(alias, check_key=not self.dry_run)
        return [self.target(a, check_key=False).alias for a in aliases]

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()
            self._loop = self._thread = None
        for lane in self._lanes.values():
            lane.close()
        for client in {id(lane.client): lane.client for lane in self._lanes.values()}.values():
            client.close()
        self._lanes.clear()
        if self._store is not None:
            self._store.close()
            self._store = None

    # ---- resolution -------------------------------------------------------------------------
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
            with self._lock:
                if name not in self._stats:
                    self._stats[name] = ModelStats(
                        name, model.model, model.input_price_per_mtok, model.output_price_per_mtok
                    )
        env = found.provider.api_key_env
        if env and not os.environ.get(env):
            message = (
                f"LLM model '{found.alias}' needs an API key: set the environment variable {env} "
                f"(provider '{found.provider_name}')"
            )
            if check_key:
                raise LLMNotConfigured(message)
            self._stats[found.alias].not_configured = message
        return found

    @property
    def store(self) -> LLMStore:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = LLMStore(self.cache_path)
        return self._store

    def _readable(self, key: str) -> bool:
        return self.cache_mode == "use" or (self.cache_mode == "refresh" and key in self._fresh)

    # ---- one chunk of rows ------------------------------------------------------------------
    def run_batch(self, columns: list[list]) -> list[str | None]:
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

    def _run_batch(self, columns: list[list]) -> list[str | None]:
        prompt_col = columns[1]
        results: list[str | None] = [None] * len(prompt_col)
        jobs = [
            self._job(i, *(col[i] for col in columns))
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
            outcomes = asyncio.run_coroutine_threadsafe(
                self._complete_all(pending), self._ensure_loop()
            ).result()
            failure = None
            for job, outcome in zip(pending, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    failure = failure or outcome
                else:
                    results[job.index] = outcome
            if failure is not None:
                raise failure
        return results

    def _job(
        self,
        index: int,
        kind: str,
        prompt: str,
        spec: str | None,
        variables: str | None,
        alias: str | None,
        system: str | None,
        temperature: float | None,
        top_p: float | None,
        max_tokens: int | None,
    ) -> Job:
        target = self.target(alias, check_key=not self.dry_run)
        if variables is not None:
            prompt = prompts.render_json_vars(prompt, variables)
            if system is not None:
                system = prompts.render_json_vars(system, variables)
        schema = None
        if kind == "judge":
            schema = judge.judge_schema(spec)
            system = judge.judge_system_prompt(spec) + (f"\n\n{system}" if system else "")
        elif kind == "json":
            schema = parse_output_schema(spec)
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": prompt}
        ]
        request = ChatRequest.build(
            target.alias,
            target.provider_name,
            target.provider,
            target.model,
            messages,
            temperature,
            top_p,
            None if max_tokens is None else int(max_tokens),
            schema,
        )
        return Job(index, kind, target, request, schema)

    def _serve_from_cache(self, jobs: list[Job], results: list[str | None]) -> list[Job]:
        """Fill results from the cache; the jobs still needing the network (or a re-ask)."""
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
            value, problem = self._value(cached, job.schema)
            hits.append(self._hit_record(job.target, job.request, cached, problem))
            if problem is None:
                results[job.index] = full_answer(job, cached, cache_hit=True) if job.kind == "full" else value
                self.progress.done(self.project_model, job.target.alias, cache_hit=True)
            else:
                job.cached = cached
                pending.append(job)
        if hits and not self.dry_run:
            self._append_log(hits)
        return pending

    def cache_path_exists(self) -> bool:
        return self.cache_path == ":memory:" or Path(self.cache_path).exists()

    def _count_dry_run(self, jobs: list[Job], results: list[str | None]) -> None:
        """Count the calls a real run would make, and answer them with placeholders (empty
        text, the simplest valid structure) so that later steps built on these values are
        counted too."""
        for job in jobs:
            stats = self._stats[job.target.alias]
            if job.kind == "full":
                results[job.index] = full_answer(job, None, error="dry run: not called")
            else:
                results[job.index] = canonical(placeholder(job.schema.json_schema)) if job.schema else ""
            self.progress.done(self.project_model, job.target.alias)
            with self._lock:
                if job.request.key in self._would_call:
                    continue
                self._would_call.add(job.request.key)
            history = self._output_history(job.target.alias)
            with self._lock:
                stats.would_call += 1
                stats.est_input_tokens += job.request.input_chars() // 4 + 4 * len(job.request.messages)
                stats.est_output_tokens += int(history or job.request.max_tokens or DEFAULT_OUTPUT_TOKENS)

    def _output_history(self, alias: str) -> float | None:
        """Mean output tokens of this alias's cached answers (asked once per alias)."""
        if alias not in self._history:
            self._history[alias] = self.store.mean_output_tokens(alias) if self.cache_path_exists() else None
        return self._history[alias]

    # ---- the network side (runs on the runtime's loop) --------------------------------------
    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=loop.run_forever, name="tracesql-llm", daemon=True)
                self._thread.start()
                self._loop = loop
            return self._loop

    def _lane(self, target: Target) -> ModelLane:
        lane = self._lanes.get(target.alias)
        if lane is None:
            client = next((ln.client for ln in self._lanes.values() if ln.provider is target.provider), None)
            secrets: tuple[str, ...] = ()
            if client is None:
                client, secrets = make_client(target.provider)
            else:
                secrets = next(ln.secrets for ln in self._lanes.values() if ln.provider is target.provider)
            lane = ModelLane(target.alias, target.model, target.provider, client, self.settings, secrets)
            self._lanes[target.alias] = lane
        return lane

    async def _complete_all(self, jobs: list[Job]) -> list[Any]:
        return await asyncio.gather(*(self._complete(job) for job in jobs), return_exceptions=True)

    async def _complete(self, job: Job) -> str | None:
        try:
            value = await (self._structured(job) if job.schema is not None else self._text(job))
        except CallFailed as exc:
            budget = self._count_failure(job, exc)
            if self.settings.on_error == "fail" and not budget:
                error = LLMError(
                    f"LLM call to '{job.target.alias}' failed: {exc.message}", model=self.project_model
                )
                return error  # type: ignore[return-value]  # raised by run_batch once the chunk is done
            return full_answer(job, None, error=exc.message) if job.kind == "full" else None
        self.progress.done(self.project_model, job.target.alias)
        return value

    def _count_failure(self, job: Job, exc: CallFailed) -> bool:
        """Count a call that gave no value; True when the budget refused it."""
        budget = isinstance(exc, BudgetReached)
        with self._lock:
            if budget:
                self._stats[job.target.alias].budget_skipped += 1
            else:
                self._stats[job.target.alias].errors += 1
        self.progress.done(self.project_model, job.target.alias, error=True)
        return budget

    async def _text(self, job: Job) -> str | None:
        response, _, hit = await self._fetch(job.target, job.request, None, looked_up=True)
        if response.content is None:
            raise CallFailed("the answer had no content")
        return full_answer(job, response, cache_hit=hit) if job.kind == "full" else response.content

    async def _structured(self, job: Job) -> str:
        request, schema = job.request, job.schema
        assert schema is not None
        if job.cached is not None:
            response, (value, problem) = job.cached, self._parse(job.cached, schema)
        else:
            response, (value, problem), _ = await self._fetch(job.target, request, schema, looked_up=True)
        for _ in range(self.settings.structured_retries):
            if problem is None or response.finish_reason == "length":
                break
            request = request.reask(job.target.provider, response.content, problem)
            response, (value, problem), _ = await self._fetch(job.target, request, schema)
        if problem is not None:
            if response.finish_reason == "length":
                raise CallFailed(f"the answer was cut off at max_tokens (finish_reason: length): {problem}")
            raise CallFailed(
                f"no valid structured answer after {self.settings.structured_retries + 1} tries: {problem}"
            )
        return canonical(value)

    def _parse(self, response: CachedResponse, schema: OutputSchema | None) -> tuple[Any, str | None]:
        if schema is None:
            return response.content, None
        return parse_answer(response.content, schema)

    def _value(self, response: CachedResponse, schema: OutputSchema | None) -> tuple[str | None, str | None]:
        if schema is None:
            return response.content, None if response.content is not None else "the answer had no content"
        value, problem = parse_answer(response.content, schema)
        return (canonical(value) if problem is None else None), problem

    async def _fetch(
        self, target: Target, request: ChatRequest, schema: OutputSchema | None, looked_up: bool = False
    ) -> tuple[CachedResponse, Any, bool]:
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
            parsed = self._parse(cached, schema)
            self._append_log([self._hit_record(target, request, cached, parsed[1])])
            return cached, parsed, True
        waiting = self._inflight.get(key)
        if waiting is not None:
            response = await asyncio.shield(waiting)
            return response, self._parse(response, schema), False
        future: asyncio.Future = asyncio.get_running_loop().create_future()
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
    ) -> tuple[CachedResponse, Any]:
        stats = self._stats[target.alias]

        def admit() -> None:
            """Called when a slot is free, before the first attempt: the budget check."""
            with self._lock:
                if self.max_calls is not None and self._calls_started >= self.max_calls:
                    raise BudgetReached(f"budget reached: max_calls={self.max_calls}")
                if self.max_tokens is not None and self._tokens_used >= self.max_tokens:
                    raise BudgetReached(f"budget reached: max_tokens={self.max_tokens}")
                self._calls_started += 1
                stats.calls += 1

        def report(attempt: Attempt) -> None:
            with self._lock:
                stats.attempts += 1
                stats.latency_ms_total += attempt.latency_ms
            self._append_log([self._attempt_record(target, request, attempt)])

        attempt = await self._lane(target).send(request, report, admit)
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
        parsed = self._parse(response, schema)
        problem = (
            parsed[1]
            if schema is not None
            else (None if attempt.content is not None else "the answer had no content")
        )
        if attempt.finish_reason == "length":
            problem = "cut off at max_tokens (finish_reason: length)" + (f"; {problem}" if problem else "")
        attempt.error = problem
        record = self._attempt_record(target, request, attempt)
        tokens = (attempt.input_tokens or 0) + (attempt.output_tokens or 0)
        with self._lock:
            stats.attempts += 1
            stats.latency_ms_total += attempt.latency_ms
            stats.input_tokens += attempt.input_tokens or 0
            stats.output_tokens += attempt.output_tokens or 0
            stats.truncated += attempt.finish_reason == "length"
            self._tokens_used += tokens
            self._log.append(record)
        self.store.put(response if self.cache_mode != "off" else None, [record])
        self._fresh.add(request.key)
        return response, parsed

    # ---- call-log rows ----------------------------------------------------------------------
    def _hit_record(
        self, target: Target, request: ChatRequest, cached: CachedResponse, problem: str | None
    ) -> CallRecord:
        """The call-log row of an answer served from the cache (and count it)."""
        with self._lock:
            self._stats[target.alias].cache_hits += 1
        return CallRecord(
            self.run_id,
            time.time(),
            self.project_model,
            target.alias,
            target.provider_name,
            target.model.model,
            request.key,
            0,
            True,
            None,
            cached.input_tokens,
            cached.output_tokens,
            None,
            cached.finish_reason,
            problem,
            0.0,
        )

    def _attempt_record(self, target: Target, request: ChatRequest, attempt: Attempt) -> CallRecord:
        stats = self._stats[target.alias]
        cost = (
            stats.cost(attempt.input_tokens or 0, attempt.output_tokens or 0)
            if attempt.status_code == 200
            else None
        )
        return CallRecord(
            self.run_id,
            time.time(),
            self.project_model,
            target.alias,
            target.provider_name,
            target.model.model,
            request.key,
            attempt.attempt,
            False,
            attempt.status_code,
            attempt.input_tokens,
            attempt.output_tokens,
            attempt.latency_ms,
            attempt.finish_reason,
            attempt.error,
            cost,
        )

    def _append_log(self, records: list[CallRecord]) -> None:
        with self._lock:
            self._log.extend(records)
        self.store.log(records)

    def call_log(self) -> list[CallRecord]:
        """Every call-log row in the store (all runs), for `llm_call_log()`."""
        if not self.cache_path_exists():
            return []
        return self.store.calls()
