"""The network side of a connection's LLM runtime: one asyncio event loop on its own
thread, and one `ModelLane` per model alias: its concurrency bound, thread pool, retry
loop and stops (one `openai` client per provider, shared by its aliases). Started on the
first request; `close()` stops the loop, the pools and the clients.

A lane retries 429, 408/409, 5xx, timeouts, dropped connections and unreadable bodies
with exponential backoff and jitter, honouring Retry-After, a bounded number of times,
and reports each attempt (status, latency, tokens, error) for the call log. A request
waiting out a backoff holds no slot, so a 429 delays that request only. A lane stops
(every later request fails at once, none is sent) when nothing it sends can succeed:
an answer of 401 or 403 (the key) or 404 (the model or URL), or its provider unreachable
UNREACHABLE_LIMIT times in a row.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import random
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tracesql.llm.budget import RateLimit
from tracesql.llm.client import (
    FORMAT_FALLBACK,
    RETRYABLE_STATUS,
    Attempt,
    BadBody,
    BudgetReached,
    CallFailed,
    ChatRequest,
    Interrupted,
    error_message,
    load_openai,
    make_client,
    post_chat,
    rejects_format,
    request_body,
    retry_after,
)
from tracesql.llm.config import LLMSettings
from tracesql.llm.interrupts import GRACE_SECONDS
from tracesql.llm.jobs import Target

Result = TypeVar("Result")
UNREACHABLE_LIMIT = 8  # connection failures in a row before a provider is taken as down
# Answers after which no request to the alias can succeed: stop it at once.
STOPPING_STATUS = {
    401: "check its API key",
    403: "check its API key",
    404: "check the model name and base_url",
}


@dataclass
class StopState:
    """Whether the run was interrupted; wakes the requests sleeping out a backoff."""

    reason: str | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def check(self) -> None:
        if self.reason is not None:
            raise Interrupted(f"interrupted ({self.reason}) before it was sent")

    async def sleep(self, seconds: float) -> None:
        """Sleep, unless the run is interrupted meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)


@dataclass
class ModelLane:
    """Everything needed to call one model alias: its client, its concurrency bound, the
    structured-output mode its server accepts, whether it was stopped.

    Requests go through the synchronous `openai` client on the lane's own thread pool (one
    thread per parallel request), driven from the runtime's asyncio loop: measured on 2
    cores, this costs less CPU per call than AsyncOpenAI. The client's low-level `post`
    is used rather than `chat.completions.create`, whose parameter transformation and
    response models cost about 1.5 ms of CPU per call (see docs/llm.md)."""

    target: Target
    client: Any  # openai.OpenAI
    settings: LLMSettings
    stop: StopState
    secrets: tuple[str, ...] = ()
    format_mode: str = "json_schema"
    semaphore: asyncio.Semaphore = field(init=False)
    pool: ThreadPoolExecutor = field(init=False)
    rate: RateLimit = field(init=False)
    unreachable_in_a_row: int = field(default=0, init=False)
    stopped: str | None = field(default=None, init=False)  # why no more requests are sent
    posting: int = field(default=0, init=False)  # HTTP attempts running on the pool's threads now
    _posting_lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        model = self.target.model
        self.semaphore = asyncio.Semaphore(model.max_parallel_requests)
        self.rate = RateLimit(model.requests_per_minute, model.tokens_per_minute)
        self.pool = ThreadPoolExecutor(
            model.max_parallel_requests, thread_name_prefix=f"tracesql-llm-{self.alias}"
        )
        if model.structured_output != "auto":
            self.format_mode = model.structured_output

    @property
    def alias(self) -> str:
        return self.target.alias

    async def send(
        self,
        request: ChatRequest,
        report: Callable[[Attempt], None],
        admit: Callable[[], None] | None = None,
        deadline: float | None = None,
        tokens: int = 0,
    ) -> Attempt:
        """The successful attempt, after retries; raises CallFailed. `report` sees every failed
        attempt as it happens (the caller logs the successful one when it stores it);
        `admit` runs once a slot is free, before the first attempt, and may refuse the call
        (budgets) by raising CallFailed. No attempt outlasts `deadline` (time.monotonic()).
        Each attempt waits for the alias's rate limits (`tokens`: the request's estimate)."""
        openai = load_openai()
        loop = asyncio.get_running_loop()
        model = self.target.model
        retries = 0
        number = 0
        while True:
            number += 1
            mode = self.format_mode if request.schema else None
            body = request_body(model, request, mode)
            async with self.semaphore:
                self.stop.check()  # nothing new starts once the run is interrupted
                if self.stopped is not None:
                    raise CallFailed(self.stopped)
                if admit is not None:
                    admit()
                    admit = None
                while (wait := self.rate.wait(tokens)) > 0:  # requests_per_minute, tokens_per_minute
                    await self.stop.sleep(wait)
                    self.stop.check()
                timeout = model.timeout
                if deadline is not None and deadline - time.monotonic() < timeout:
                    timeout = deadline - time.monotonic()
                    if timeout <= 0:
                        raise BudgetReached("budget reached: the run's deadline")
                started = time.perf_counter()
                try:
                    completion = await loop.run_in_executor(
                        self.pool,
                        self._post,
                        self.client,
                        body,
                        timeout,
                        f"tracesql-{request.key[:24]}-{number}",
                    )
                except openai.APIStatusError as exc:
                    self.unreachable_in_a_row = 0
                    status = exc.status_code
                    error = f"HTTP {status}: {self.redact(error_message(exc))}"
                    fallback = FORMAT_FALLBACK.get(mode or "") if rejects_format(status, error) else None
                    if fallback and model.structured_output == "auto":
                        self.format_mode = fallback  # remembered for the rest of the run
                        report(
                            Attempt(
                                number,
                                status,
                                _ms(started),
                                error=f"{error} (retrying with {fallback})",
                                retry_in=0,
                            )
                        )
                        continue
                    if status in STOPPING_STATUS:
                        error = self.halt(f"answered {error}; {STOPPING_STATUS[status]}")
                    retryable = status in RETRYABLE_STATUS or status >= 500
                    delay = self.delay(retries, retry_after(exc.response.headers)) if retryable else None
                except openai.APITimeoutError:
                    if timeout < model.timeout:  # cut short by the run's deadline: a budget, not a failure
                        message = f"budget reached: the run's deadline, {timeout:.3g} s into the attempt"
                        report(Attempt(number, None, _ms(started), error=message))
                        raise BudgetReached(message, logged=True) from None
                    status, error = None, f"timed out after {timeout:g} s"
                    delay = self.delay(retries, None)
                except openai.APIConnectionError as exc:
                    status, error = None, f"connection error: {self.redact(str(exc.__cause__ or exc))}"
                    delay = self.delay(retries, None)
                    self.unreachable_in_a_row += 1
                    if self.unreachable_in_a_row >= UNREACHABLE_LIMIT:
                        self.halt(
                            f"is unreachable: {UNREACHABLE_LIMIT} connection failures in a row "
                            f"({self.target.provider.base_url})"
                        )
                except BadBody as exc:
                    status, error = 200, f"unreadable response: {exc}"
                    delay = self.delay(retries, None)
                except Exception as exc:  # anything else costs this call, never the query
                    status, error = None, f"unexpected error: {type(exc).__name__}: {self.redact(str(exc))}"
                    delay = None
                else:
                    self.unreachable_in_a_row = 0
                    return Attempt(
                        number,
                        200,
                        _ms(started),
                        completion.content,
                        completion.finish_reason,
                        completion.input_tokens,
                        completion.output_tokens,
                        completion.reasoning,
                    )
            late = deadline is not None and delay is not None and time.monotonic() + delay > deadline
            if delay is None or retries >= self.settings.max_retries or late:
                if retries:
                    error += f" (after {retries + 1} attempts)"
                report(Attempt(number, status, _ms(started), error=error))
                raise CallFailed(error, status, logged=True)
            report(Attempt(number, status, _ms(started), error=error, retry_in=delay))
            retries += 1
            await self.stop.sleep(delay)  # holds no slot: the other requests keep the lane busy

    def _post(self, client: Any, body: dict[str, Any], timeout: float, idempotency_key: str) -> Any:
        """post_chat on a pool thread, counted while it runs (an attempt whose coroutine was
        cancelled by an interrupt may still be running here)."""
        with self._posting_lock:
            self.posting += 1
        try:
            return post_chat(client, body, timeout, idempotency_key)
        finally:
            with self._posting_lock:
                self.posting -= 1

    def halt(self, why: str) -> str:
        """No more requests to this alias in this run; the message of those refused."""
        if self.stopped is None:
            t = self.target
            self.stopped = (
                f"model '{t.alias}' (provider '{t.provider_name}', model '{t.model.model}') {why}; "
                "no more requests to it in this run"
            )
        return self.stopped

    def delay(self, retries: int, retry_after: float | None) -> float:
        """Seconds to wait before the next attempt: Retry-After when the server gave one,
        else exponential backoff with jitter; never above backoff_max."""
        cap = self.settings.backoff_max
        if retry_after is not None:
            return min(cap, retry_after * random.uniform(1.0, 1.1))
        base = min(cap, self.settings.backoff_initial * 2**retries)
        return base / 2 + random.uniform(0, base / 2)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    def close(self) -> None:
        """Stop the lane's threads: at once when idle (the usual case, after a query);
        without waiting for an attempt still running (an interrupted query)."""
        self.pool.shutdown(wait=self.posting == 0, cancel_futures=True)


class Lanes:
    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self.stop = StopState()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lanes: dict[str, ModelLane] = {}
        self._running: set[concurrent.futures.Future[Any]] = set()

    def run(self, coroutine: Coroutine[Any, Any, Result]) -> Result:
        """Run a coroutine on the loop and wait for its result (from DuckDB's thread);
        concurrent.futures.CancelledError when an interrupt cancelled it."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._ensure_loop())
        with self._lock:
            self._running.add(future)
        try:
            return future.result()
        finally:
            with self._lock:
                self._running.discard(future)

    def interrupt(self, reason: str) -> None:
        """No new request starts; sleeping retries wake up and give up; the requests in
        flight may finish for GRACE_SECONDS, then what is still running is cancelled."""
        self.stop.reason = self.stop.reason or reason
        with self._lock:
            loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._interrupt_on_loop, loop)

    def _interrupt_on_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self.stop.wake.set()
        loop.call_later(GRACE_SECONDS, self._cancel_running)

    def _cancel_running(self) -> None:
        with self._lock:
            running = list(self._running)
        for future in running:
            future.cancel()

    def lane(self, target: Target) -> ModelLane:
        """The lane of an alias (called on the loop, so never twice at once)."""
        lane = self._lanes.get(target.alias)
        if lane is None:
            sibling = next((ln for ln in self._lanes.values() if ln.target.provider is target.provider), None)
            if sibling is None:
                client, secrets = make_client(target.provider_name, target.provider)
            else:
                client, secrets = sibling.client, sibling.secrets
            lane = ModelLane(target, client, self.settings, self.stop, secrets)
            self._lanes[target.alias] = lane
        return lane

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=loop.run_forever, name="tracesql-llm", daemon=True)
                self._thread.start()
                self._loop = loop
            return self._loop

    def close(self) -> None:
        """Stop the loop's thread and the lanes' pools, close the clients (idempotent)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            with contextlib.suppress(Exception):  # tasks an interrupt cancelled finish unwinding
                asyncio.run_coroutine_threadsafe(_cancel_tasks(), loop).result(timeout=5)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()
        lanes, self._lanes = list(self._lanes.values()), {}
        for lane in lanes:
            lane.close()
        for client in {id(lane.client): lane.client for lane in lanes}.values():
            client.close()


async def _cancel_tasks() -> None:
    """Cancel the loop's other tasks and let them unwind (their outcome rows logged)."""
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=2)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
