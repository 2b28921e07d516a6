"""The network side of a connection's LLM runtime (on the lanes' event loop): one job's value
from the cache, from an identical request already in flight, or over HTTP, with the
structured re-asks, the budget's admission and the call-log rows.

Every value gets exactly one call-log row marked `final`, the row that decided it: the
answering attempt or cache hit, the last failed attempt, the last re-ask, or an outcome
row when no attempt was made (budget reached, interrupted, its model stopped). A 200
answer's row is written when the value is decided (a structured answer may be re-asked),
the answer itself the moment it arrives.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from tracesql.errors import LLMError, TracesqlError
from tracesql.llm.budget import Budget
from tracesql.llm.cache import CachedResponse, LLMStore
from tracesql.llm.calls import CallRecord
from tracesql.llm.client import Attempt, BudgetReached, CallFailed, ChatRequest, Interrupted
from tracesql.llm.config import LLMSettings
from tracesql.llm.jobs import NO_CONTENT, Job, Target, answer_value, full_answer, parse_response
from tracesql.llm.lanes import Lanes
from tracesql.llm.progress import ProgressTracker
from tracesql.llm.stats import BUDGET, FAILED, INTERRUPTED, RunStats
from tracesql.llm.structured import OutputSchema


@dataclass(frozen=True)
class Fetched:
    """One response, its parse, and the call-log row to write when the value is decided
    (None when another job owns it: an identical request in flight)."""

    response: CachedResponse
    value: Any
    problem: str | None
    cache_hit: bool
    record: CallRecord | None


class Fetcher:
    def __init__(
        self,
        settings: LLMSettings,
        *,
        stats: RunStats,
        budget: Budget,
        lanes: Lanes,
        progress: ProgressTracker,
        store: Callable[[], LLMStore],
        cache_mode: str,
        fail_fast: bool,
        estimate: Callable[[ChatRequest, str | None], tuple[int, int]],
    ) -> None:
        self.settings, self.stats, self.budget, self.lanes = settings, stats, budget, lanes
        self.progress, self._store, self.cache_mode, self.fail_fast = progress, store, cache_mode, fail_fast
        self._estimate = estimate  # (input, output) tokens a request will likely use
        self._inflight: dict[str, asyncio.Future[Fetched]] = {}
        self._failed: dict[str, str] = {}  # request key -> why it failed for good in this run
        self._fresh: set[str] = set()  # keys answered in this run (readable when refreshing)

    def readable(self, key: str) -> bool:
        """May the cache answer this request? (`--refresh-cache`: only with this run's answers.)"""
        return self.cache_mode == "use" or (self.cache_mode == "refresh" and key in self._fresh)

    async def complete_all(self, jobs: list[Job], project_model: str | None) -> list[Any]:
        """Each job's value, or the error that must stop the query (fail-fast, the store)."""
        return await asyncio.gather(
            *(self._complete(job, project_model) for job in jobs), return_exceptions=True
        )

    async def _complete(self, job: Job, project_model: str | None) -> str | None | TracesqlError:
        try:
            fetched = await (
                self._structured(job, project_model)
                if job.schema is not None
                else self._text(job, project_model)
            )
        except CallFailed as exc:
            return self._no_value(job, project_model, exc)
        except asyncio.CancelledError:  # in flight when the interrupt's grace ran out
            message = "interrupted while in flight: cancelled"
            self._log([self.stats.outcome_record(job.target, job.request, message, project_model)])
            self._no_value(job, project_model, Interrupted(message, logged=True))
            raise
        except TracesqlError as exc:
            return exc  # the store or the configuration: the query stops (run_batch raises it)
        except Exception as exc:  # a bug or an odd answer costs this value, never the query
            message = f"unexpected error: {type(exc).__name__}: {exc}"
            self._log([self.stats.outcome_record(job.target, job.request, message, project_model)])
            return self._no_value(job, project_model, CallFailed(message, logged=True))
        self.progress.done(project_model, job.target.alias)
        return answer_value(job, fetched.response, fetched.value, cache_hit=fetched.cache_hit)

    def _no_value(self, job: Job, project_model: str | None, exc: CallFailed) -> str | None | TracesqlError:
        """Count a value left NULL; its SQL value (llm_response: the error), or the error
        that stops the query when failures are fatal."""
        why = (
            BUDGET
            if isinstance(exc, BudgetReached)
            else INTERRUPTED
            if isinstance(exc, Interrupted)
            else FAILED
        )
        self.stats.gave_no_value(job.target, project_model, why, exc.message)
        self.progress.done(project_model, job.target.alias, error=why == FAILED)
        if self.fail_fast and why == FAILED:
            return LLMError(f"LLM call to '{job.target.alias}' failed: {exc.message}", model=project_model)
        return full_answer(job, None, error=exc.message) if job.full else None

    async def _text(self, job: Job, project_model: str | None) -> Fetched:
        fetched = await self._fetch(job.target, job.request, None, project_model, looked_up=True)
        self._decided(fetched.record)
        if fetched.response.content is None:
            raise CallFailed(NO_CONTENT, logged=True)
        return fetched

    async def _structured(self, job: Job, project_model: str | None) -> Fetched:
        target, request, schema = job.target, job.request, job.schema
        assert schema is not None
        fetched = await self._fetch(target, request, schema, project_model, looked_up=True)
        for _ in range(self.settings.structured_retries):
            if fetched.problem is None or fetched.response.finish_reason == "length":
                break
            self._decided(fetched.record, final=False)
            request = request.reask(target.provider, fetched.response.content, fetched.problem)
            fetched = await self._fetch(target, request, schema, project_model)
        if fetched.problem is not None:
            if fetched.response.finish_reason == "length":
                message = f"the answer was cut off at max_tokens (finish_reason: length): {fetched.problem}"
            else:
                message = (
                    f"no valid structured answer after {self.settings.structured_retries + 1} tries: "
                    f"{fetched.problem}"
                )
            self._decided(fetched.record, error=message)
            raise CallFailed(message, logged=True)
        self._decided(fetched.record)
        if request is not job.request and self.cache_mode != "off":
            # The valid answer of the re-asks also answers the original request: a re-run
            # finds it there (the invalid first answer would be a miss).
            self._store().put(replace(fetched.response, key=job.request.key), [])
            self._fresh.add(job.request.key)
        return fetched

    def _decided(self, record: CallRecord | None, *, final: bool = True, error: str | None = None) -> None:
        """Write the row of a response once its value is decided (`final`) or re-asked."""
        if record is not None:
            self._log([replace(record, final=final, error=error or record.error)])

    async def _fetch(
        self,
        target: Target,
        request: ChatRequest,
        schema: OutputSchema | None,
        project_model: str | None,
        looked_up: bool = False,
    ) -> Fetched:
        """The response to one request: from the cache, an identical request in flight, or
        HTTP. `looked_up`: the chunk's cache lookup already missed, so only an answer that
        arrived since (to an identical request of another chunk) can be there."""
        key = request.key
        if key in self._failed:
            message = self._failed[key] + " (failed earlier in this run; not requested again)"
            raise CallFailed(message, logged=True)  # its final row is the earlier failure's
        cached = None
        if self.cache_mode != "off" and (not looked_up or key in self._fresh) and self.readable(key):
            cached = self._store().get(key)
        if cached is not None:
            value, problem = parse_response(cached, schema)
            # An answer of an earlier run that fails the schema is a miss (one of this run is
            # being re-asked by the job that received it).
            if problem is None or key in self._fresh:
                record = self.stats.hit_record(target, request, cached, problem, project_model)
                return Fetched(cached, value, problem, True, record)
        waiting = self._inflight.get(key)
        if waiting is not None:
            return replace(await asyncio.shield(waiting), record=None)
        future: asyncio.Future[Fetched] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            fetched = await self._call(target, request, schema, project_model)
        except CallFailed as exc:
            if not exc.logged:
                self._log([self.stats.outcome_record(target, request, exc.message, project_model)])
                exc.logged = True
            if not isinstance(exc, BudgetReached | Interrupted):
                self._failed[key] = exc.message
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody shared it
            raise
        except BaseException as exc:  # the store, the configuration, a cancelled query
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()
            raise
        finally:
            self._inflight.pop(key, None)
        future.set_result(fetched)
        return fetched

    async def _call(
        self, target: Target, request: ChatRequest, schema: OutputSchema | None, project_model: str | None
    ) -> Fetched:
        store = self._store()
        lane = self.lanes.lane(target)
        tokens = sum(self._estimate(request, project_model))
        admitted = False

        def admit() -> None:
            """Called when a slot is free, before the first attempt: nothing is sent once a
            budget is spent or the store cannot keep the answer."""
            nonlocal admitted
            store.check()
            self.budget.admit(tokens)
            admitted = True
            self.stats.started(target)

        def report(attempt: Attempt) -> None:
            self.stats.failed_attempt(target, attempt)
            self._log([self.stats.attempt_record(target, request, attempt, project_model)])

        try:
            attempt = await lane.send(request, report, admit, self.budget.deadline, tokens)
        except BaseException:
            if admitted:
                self.budget.settle(tokens, 0)
            raise
        used = (attempt.input_tokens or 0) + (attempt.output_tokens or 0)
        self.budget.settle(tokens, used)
        lane.rate.correct(tokens, used)
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
        value, problem = parse_response(response, schema)
        if schema is None and attempt.content is None:
            problem = NO_CONTENT
        if attempt.finish_reason == "length":
            problem = "cut off at max_tokens (finish_reason: length)" + (f"; {problem}" if problem else "")
        attempt.error = problem
        self.stats.answered(target, attempt)
        store.put(response, [])  # the answer now; its row when its value is decided
        self._fresh.add(request.key)
        record = self.stats.attempt_record(target, request, attempt, project_model)
        return Fetched(response, value, problem, False, record)

    def _log(self, records: list[CallRecord]) -> None:
        self._store().log(records)
