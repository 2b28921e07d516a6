"""Before spending: the run's budget (calls and tokens) and the dry run's estimates.

`Budget.admit()` runs when a request gets a slot, before its first HTTP attempt, and
refuses it (BudgetReached) once `max_calls` requests have started or `max_tokens` tokens
were used; the value is then NULL and counted as `budget_skipped`. A budget of None is no
limit; a budget of 0 admits nothing.

A dry run makes no request: `DryRunEstimate.estimate()` counts each distinct request a
real run would make once, with its input tokens (about 4 characters a token, plus 4 per
message) and output tokens (the mean of the alias's cached answers, else the request's
max_tokens, else DEFAULT_OUTPUT_TOKENS).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tracesql.llm.client import BudgetReached, ChatRequest

DEFAULT_OUTPUT_TOKENS = 256  # dry-run guess when neither history nor max_tokens says more


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
        self._lock = threading.Lock()

    def admit(self) -> None:
        """Count a request about to start, or refuse it with BudgetReached."""
        with self._lock:
            if self.max_calls is not None and self.calls_started >= self.max_calls:
                raise BudgetReached(f"budget reached: max_calls={self.max_calls}")
            if self.max_tokens is not None and self.tokens_used >= self.max_tokens:
                raise BudgetReached(f"budget reached: max_tokens={self.max_tokens}")
            if self.deadline is not None and time.monotonic() >= self.deadline:
                raise BudgetReached(f"budget reached: the run's deadline of {self.seconds:g} s")
            self.calls_started += 1

    def spend(self, tokens: int) -> None:
        with self._lock:
            self.tokens_used += tokens


class DryRunEstimate:
    """The calls a real run would make, and their tokens."""

    def __init__(self, output_history: Callable[[str | None, str], float | None]) -> None:
        # (project model, provider model) -> mean output tokens of its answers in the call log
        self._output_history = output_history
        self._history: dict[tuple[str | None, str], float | None] = {}
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def estimate(self, request: ChatRequest, project_model: str | None) -> tuple[int, int] | None:
        """(input tokens, output tokens) of a request a real run would send; None for one
        already counted (a repeated request is sent once)."""
        with self._lock:
            if request.key in self._seen:
                return None
            self._seen.add(request.key)
        key = (project_model, request.model.model)
        if key not in self._history:
            self._history[key] = self._output_history(*key)
        output = self._history[key]
        return (
            request.input_chars() // 4 + 4 * len(request.messages),
            int(output or request.max_tokens or DEFAULT_OUTPUT_TOKENS),
        )
