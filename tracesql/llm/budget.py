"""Before spending: the run's budget (calls, tokens, time), the dry run's estimates, and the
per-alias rate limits.

`Budget.admit()` runs when a request gets a slot, before its first HTTP attempt, and
refuses it (BudgetReached) once `max_calls` requests have started, once the tokens used
plus those reserved by the requests in flight would pass `max_tokens`, or once the run's
deadline has passed; the value is then NULL and counted as `budget_skipped`. A budget of
None is no limit; a budget of 0 admits nothing. A request reserves its estimated tokens
(`estimate_tokens`) when admitted and is charged its real ones when answered, so a token
budget is overshot only by what the estimates of the requests in flight missed: with
`max_tokens` set on the alias, by the input-token estimate's error alone.

A dry run makes no request: `DryRunEstimate.estimate()` counts each distinct request a
real run would make once, with `estimate_tokens`: input tokens about 4 characters a token
plus 4 per message; output tokens the mean of the call log's answers for this model (of
the same tracesql model when there are some), else DEFAULT_OUTPUT_RATIO of the input,
never more than the request's max_tokens.

`RateLimit` spaces a lane's requests to `requests_per_minute` and keeps its tokens within
`tokens_per_minute` (a bucket that refills continuously).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tracesql.llm.client import BudgetReached, ChatRequest

DEFAULT_OUTPUT_RATIO = 0.25  # output tokens per input token, when the call log has no history
MIN_OUTPUT_TOKENS = 16


def estimate_tokens(request: ChatRequest, history: float | None) -> tuple[int, int]:
    """(input, output) tokens a request will likely use; `history`: the mean output tokens
    of earlier answers of its model (None: the default ratio)."""
    tokens_in = request.input_chars() // 4 + 4 * len(request.messages)
    tokens_out = history if history is not None else max(MIN_OUTPUT_TOKENS, tokens_in * DEFAULT_OUTPUT_RATIO)
    if request.max_tokens is not None:
        tokens_out = min(tokens_out, request.max_tokens)
    return tokens_in, int(tokens_out)


class Budget:
    """The calls, tokens and time one run may spend (shared by every alias of the
    connection). The deadline counts from when the budget is made (the connection opens)."""

    def __init__(self, max_calls: int | None, max_tokens: int | None, seconds: float | None = None) -> None:
        self.max_calls = max_calls
        self.max_tokens = max_tokens
        self.seconds = seconds
        self.deadline = None if seconds is None else time.monotonic() + seconds  # time.monotonic()
        self.calls_started = 0
        self.tokens_used = 0
        self.tokens_reserved = 0  # by the requests in flight
        self._lock = threading.Lock()

    def admit(self, tokens: int = 0) -> None:
        """Count a request about to start and reserve its estimated tokens, or refuse it."""
        with self._lock:
            if self.max_calls is not None and self.calls_started >= self.max_calls:
                raise BudgetReached(f"budget reached: max_calls={self.max_calls}")
            if (
                self.max_tokens is not None
                and self.tokens_used + self.tokens_reserved + tokens > self.max_tokens
            ):
                raise BudgetReached(f"budget reached: max_tokens={self.max_tokens}")
            if self.deadline is not None and time.monotonic() >= self.deadline:
                raise BudgetReached(f"budget reached: the run's deadline of {self.seconds:g} s")
            self.calls_started += 1
            self.tokens_reserved += tokens

    def settle(self, reserved: int, used: int) -> None:
        """A request admitted with `reserved` tokens ended having used `used`."""
        with self._lock:
            self.tokens_reserved -= reserved
            self.tokens_used += used


class DryRunEstimate:
    """The calls a real run would make, and their tokens."""

    def __init__(self, output_history: Callable[[str | None, str], float | None]) -> None:
        # (project model, provider model) -> mean output tokens of its answers in the call log
        self._output_history = output_history
        self._history: dict[tuple[str | None, str], float | None] = {}
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def history(self, project_model: str | None, provider_model: str) -> float | None:
        key = (project_model, provider_model)
        if key not in self._history:
            self._history[key] = self._output_history(*key)
        return self._history[key]

    def estimate(self, request: ChatRequest, project_model: str | None) -> tuple[int, int] | None:
        """(input tokens, output tokens) of a request a real run would send; None for one
        already counted (a repeated request is sent once)."""
        with self._lock:
            if request.key in self._seen:
                return None
            self._seen.add(request.key)
        return estimate_tokens(request, self.history(project_model, request.model.model))


class RateLimit:
    """One alias's requests per minute (spaced evenly: 60 / rpm seconds apart) and tokens
    per minute (a bucket of `tokens_per_minute` refilling continuously; a request takes its
    estimated tokens when it starts and waits while the bucket lacks them)."""

    def __init__(
        self,
        requests_per_minute: float | None,
        tokens_per_minute: float | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spacing = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self.tokens_per_minute = tokens_per_minute
        self._clock = clock
        self._next_start = 0.0
        self._tokens = float(tokens_per_minute or 0)
        self._filled_at = clock()

    def wait(self, tokens: int) -> float:
        """Seconds to wait before a request of `tokens` may start (0: now, and it is counted).
        Call again after waiting (called from one event loop: no lock needed)."""
        now = self._clock()
        delay = max(0.0, self._next_start - now)
        if self.tokens_per_minute:
            capacity = self.tokens_per_minute
            self._tokens = min(capacity, self._tokens + (now - self._filled_at) * capacity / 60)
            self._filled_at = now
            needed = min(tokens, capacity)  # a request bigger than a minute's tokens waits for a full bucket
            if self._tokens < needed:
                delay = max(delay, (needed - self._tokens) * 60 / capacity)
        if delay > 0:
            return delay
        self._next_start = now + self.spacing
        if self.tokens_per_minute:
            self._tokens -= tokens
        return 0.0

    def correct(self, estimated: int, used: int) -> None:
        """Charge the difference between a request's estimate and its real tokens."""
        if self.tokens_per_minute:
            self._tokens -= used - estimated
