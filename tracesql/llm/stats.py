"""What a connection's LLM calls came to: per-alias totals (the run summary), per-model
tallies (the runner's verdict on each model), and the call-log rows it writes.

Every HTTP attempt, answer served from the cache and outcome without an attempt is one
`CallRecord`; the runtime hands them to the store (the call-log file), from which the
runner fills `llm_calls` after each model.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from tracesql.llm.cache import CachedResponse
from tracesql.llm.calls import CallRecord
from tracesql.llm.client import Attempt, ChatRequest
from tracesql.llm.jobs import Target

FAILED, BUDGET, INTERRUPTED = "failed", "budget", "interrupted"  # why a value is NULL


@dataclass
class ModelTally:
    """The LLM values of one tracesql model in this run (the runner's verdict on it)."""

    asked: int = 0  # values that needed an answer (NULL prompts excluded), cache hits included
    failed: int = 0  # left NULL because the call failed for good
    budget_skipped: int = 0  # left NULL because a budget (calls, tokens, deadline) was reached
    interrupted: int = 0  # left NULL because the run was interrupted
    first_error: str | None = None

    @property
    def answered(self) -> int:
        return self.asked - self.failed - self.budget_skipped - self.interrupted


@dataclass
class ModelStats:
    """Totals of one model alias over a run."""

    model_alias: str
    provider_model: str = ""
    input_price: float | None = None  # USD per million tokens
    output_price: float | None = None
    calls: int = 0  # requests that went over HTTP (retries not counted)
    attempts: int = 0  # HTTP attempts, retries included
    cache_hits: int = 0
    errors: int = 0  # values left NULL because the call failed (after retries / re-asks)
    truncated: int = 0  # answers cut off at max_tokens
    budget_skipped: int = 0  # values left NULL because the budget was reached
    input_tokens: int = 0
    output_tokens: int = 0
    would_call: int = 0  # dry-run: calls a real run would make
    est_input_tokens: int = 0
    est_output_tokens: int = 0
    not_configured: str | None = None  # dry-run: why a real run would skip this model
    latency_ms_total: float = 0.0
    interrupted: int = 0  # values left NULL because the run was interrupted
    first_error: str | None = None  # the first error of a value left NULL (redacted)
    answers: int = 0  # answers received over HTTP (each in the cache the moment it arrived)

    def cost(self, input_tokens: int, output_tokens: int) -> float | None:
        if self.input_price is None and self.output_price is None:
            return None
        return (input_tokens * (self.input_price or 0) + output_tokens * (self.output_price or 0)) / 1_000_000

    def as_dict(self, dry_run: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model_alias": self.model_alias,
            "provider_model": self.provider_model,
            "calls": self.calls,
            "attempts": self.attempts,
            "cache_hits": self.cache_hits,
            "errors": self.errors,
            "truncated": self.truncated,
            "budget_skipped": self.budget_skipped,
            "interrupted": self.interrupted,
            "first_error": self.first_error,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost(self.input_tokens, self.output_tokens),
            "mean_latency_ms": round(self.latency_ms_total / self.attempts, 1) if self.attempts else None,
        }
        if dry_run:
            out.update(
                would_call=self.would_call,
                est_input_tokens=self.est_input_tokens,
                est_output_tokens=self.est_output_tokens,
                est_tokens=self.est_input_tokens + self.est_output_tokens,
                est_cost_usd=self.cost(self.est_input_tokens, self.est_output_tokens),
                not_configured=self.not_configured,
            )
        return out


class RunStats:
    """Per-alias totals and per-model tallies of one connection (one `run_id`)."""

    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run
        self.run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        self._lock = threading.Lock()
        self._models: dict[str, ModelStats] = {}
        self._tallies: dict[str | None, ModelTally] = {}

    def model(self, target: Target) -> ModelStats:
        """The totals of an alias (created, with its prices, on first use)."""
        with self._lock:
            stats = self._models.get(target.alias)
            if stats is None:
                model = target.model
                stats = ModelStats(
                    target.alias, model.model, model.input_price_per_mtok, model.output_price_per_mtok
                )
                self._models[target.alias] = stats
            return stats

    def summary(self) -> list[dict[str, Any]]:
        with self._lock:
            return [stats.as_dict(self.dry_run) for stats in self._models.values()]

    def answers(self) -> int:
        """Answers received over HTTP in this run, every alias."""
        with self._lock:
            return sum(stats.answers for stats in self._models.values())

    def tally(self, project_model: str | None) -> ModelTally:
        """What the LLM values of a tracesql model came to (so far) in this run."""
        with self._lock:
            found = self._tallies.get(project_model)
            return ModelTally(**vars(found)) if found is not None else ModelTally()

    # ---- counting -------------------------------------------------------------------------
    def asked(self, project_model: str | None, count: int) -> None:
        with self._lock:
            self._tallies.setdefault(project_model, ModelTally()).asked += count

    def started(self, target: Target) -> None:
        """A request was admitted by the budget and goes over HTTP."""
        with self._lock:
            self._models[target.alias].calls += 1

    def failed_attempt(self, target: Target, attempt: Attempt) -> None:
        with self._lock:
            stats = self._models[target.alias]
            stats.attempts += 1
            stats.latency_ms_total += attempt.latency_ms

    def answered(self, target: Target, attempt: Attempt) -> None:
        """The attempt that got an answer."""
        with self._lock:
            stats = self._models[target.alias]
            stats.attempts += 1
            stats.answers += 1
            stats.latency_ms_total += attempt.latency_ms
            stats.input_tokens += attempt.input_tokens or 0
            stats.output_tokens += attempt.output_tokens or 0
            stats.truncated += attempt.finish_reason == "length"

    def gave_no_value(self, target: Target, project_model: str | None, why: str, message: str) -> None:
        """A value left NULL: `why` is FAILED, BUDGET or INTERRUPTED."""
        with self._lock:
            stats = self._models[target.alias]
            tally = self._tallies.setdefault(project_model, ModelTally())
            if why == BUDGET:
                stats.budget_skipped += 1
                tally.budget_skipped += 1
            elif why == INTERRUPTED:
                stats.interrupted += 1
                tally.interrupted += 1
            else:
                stats.errors += 1
                tally.failed += 1
                stats.first_error = stats.first_error or message
                tally.first_error = tally.first_error or f"{target.alias}: {message}"

    def would_call(self, target: Target, input_tokens: int, output_tokens: int) -> None:
        """Dry run: a request a real run would send, and its estimated tokens."""
        with self._lock:
            stats = self._models[target.alias]
            stats.would_call += 1
            stats.est_input_tokens += input_tokens
            stats.est_output_tokens += output_tokens

    def not_configured(self, target: Target, message: str) -> None:
        """Dry run: why a real run would skip this alias."""
        with self._lock:
            self._models[target.alias].not_configured = message

    # ---- call-log rows --------------------------------------------------------------------
    def hit_record(
        self,
        target: Target,
        request: ChatRequest,
        cached: CachedResponse,
        problem: str | None,
        project_model: str | None,
    ) -> CallRecord:
        """The call-log row of an answer served from the cache (and count the hit)."""
        with self._lock:
            self._models[target.alias].cache_hits += 1
        return self._record(
            target,
            request,
            project_model,
            attempt=0,
            cache_hit=True,
            status_code=None,
            input_tokens=cached.input_tokens,
            output_tokens=cached.output_tokens,
            latency_ms=None,
            finish_reason=cached.finish_reason,
            error=problem,
            cost_usd=0.0,
        )

    def attempt_record(
        self, target: Target, request: ChatRequest, attempt: Attempt, project_model: str | None
    ) -> CallRecord:
        """The call-log row of one HTTP attempt (with its cost, when prices are set). A
        failed attempt after which nothing is retried concludes its request (`final`)."""
        stats = self._models[target.alias]
        cost = (
            stats.cost(attempt.input_tokens or 0, attempt.output_tokens or 0)
            if attempt.status_code == 200
            else None
        )
        return self._record(
            target,
            request,
            project_model,
            attempt=attempt.attempt,
            cache_hit=False,
            status_code=attempt.status_code,
            input_tokens=attempt.input_tokens,
            output_tokens=attempt.output_tokens,
            latency_ms=attempt.latency_ms,
            finish_reason=attempt.finish_reason,
            error=attempt.error,
            cost_usd=cost,
            final=attempt.error is not None and attempt.retry_in is None,
        )

    def outcome_record(
        self, target: Target, request: ChatRequest, error: str, project_model: str | None
    ) -> CallRecord:
        """The final row of a value that got no HTTP attempt: refused by a budget, not sent
        because the run was interrupted or its model stopped."""
        return self._record(
            target,
            request,
            project_model,
            attempt=None,
            cache_hit=False,
            status_code=None,
            input_tokens=None,
            output_tokens=None,
            latency_ms=None,
            finish_reason=None,
            error=error,
            cost_usd=None,
            final=True,
        )

    def _record(
        self, target: Target, request: ChatRequest, project_model: str | None, **outcome: Any
    ) -> CallRecord:
        return CallRecord(
            run_id=self.run_id,
            called_at=time.time(),
            project_model=project_model,
            model_alias=target.alias,
            provider=target.provider_name,
            provider_model=target.model.model,
            request_hash=request.root or request.key,
            reask=request.reask_number,
            **outcome,
        )
