"""HTTP calls to OpenAI-compatible servers, through the real `openai` client, with tracesql's
own retry loop.

The `openai` client's built-in retries are off (`max_retries=0`): every attempt goes
through `ModelLane.send`, which retries 429, 5xx, timeouts and connection errors with
exponential backoff and jitter, honouring Retry-After, a bounded number of times, and
reports each attempt (status, latency, tokens, error) to a callback for the call log. A
lane is one model alias: its semaphore bounds the requests in flight to the alias's
max_parallel_requests. A request waiting out a backoff holds no slot, so a 429 delays
that request only and the other slots keep working.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import inspect
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from tracesql.llm.config import LLMSettings, ModelConfig, ProviderConfig
from tracesql.llm.structured import OutputSchema, schema_instructions

RETRYABLE_STATUS = {408, 409, 429}
FORMAT_FALLBACK = {"json_schema": "json_object", "json_object": "prompt"}
KEYLESS = "not-needed"  # what a provider without api_key_env sends as its key


@dataclass(frozen=True)
class ChatRequest:
    """One logical chat-completion request; `key` hashes everything that determines the answer."""

    alias: str
    provider_name: str
    model: ModelConfig
    base_url: str
    messages: tuple[dict, ...]
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    schema: OutputSchema | None
    key: str = ""
    root: str = ""  # the key of the value's own request (a re-ask's differs from its key)
    reask_number: int = 0  # 0: the request itself; n: its n-th re-ask after an invalid answer

    @classmethod
    def build(
        cls,
        alias: str,
        provider_name: str,
        provider: ProviderConfig,
        model: ModelConfig,
        messages: list[dict],
        temperature: float | None,
        top_p: float | None,
        max_tokens: int | None,
        schema: OutputSchema | None,
        *,
        root: str | None = None,
        reask_number: int = 0,
    ) -> ChatRequest:
        temperature = model.temperature if temperature is None else temperature
        top_p = model.top_p if top_p is None else top_p
        max_tokens = model.max_tokens if max_tokens is None else max_tokens
        identity = {
            "v": 1,
            "base_url": provider.base_url.rstrip("/"),
            "model": model.model,
            "messages": messages,
            "temperature": temperature,
            "top_p": top_p,
            "max_tokens": max_tokens,
            "schema": schema.text if schema else None,
            "extra_body": model.extra_body or None,
        }
        key = hashlib.sha256(orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)).hexdigest()
        return cls(
            alias,
            provider_name,
            model,
            provider.base_url.rstrip("/"),
            tuple(messages),
            temperature,
            top_p,
            max_tokens,
            schema,
            key,
            root or key,
            reask_number,
        )

    def reask(self, provider: ProviderConfig, answer: str | None, problem: str) -> ChatRequest:
        """The follow-up request after an invalid structured answer: the conversation so far
        plus a correction naming the problem."""
        follow_up = [
            *self.messages,
            {"role": "assistant", "content": answer or ""},
            {
                "role": "user",
                "content": f"That answer cannot be used: {problem}. Reply again with only the "
                "corrected JSON value, matching the schema exactly.",
            },
        ]
        return ChatRequest.build(
            self.alias,
            self.provider_name,
            provider,
            self.model,
            follow_up,
            self.temperature,
            self.top_p,
            self.max_tokens,
            self.schema,
            root=self.root,
            reask_number=self.reask_number + 1,
        )

    def input_chars(self) -> int:
        return sum(len(str(m.get("content") or "")) for m in self.messages) + (
            len(self.schema.text) if self.schema else 0
        )


@dataclass
class Attempt:
    """What one HTTP attempt did (reported to the call log)."""

    attempt: int
    status_code: int | None
    latency_ms: float
    content: str | None = None
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning: str | None = None
    error: str | None = None
    retry_in: float | None = None  # seconds until the next attempt, if there is one


class CallFailed(Exception):
    """A request that failed for good (after retries, or not retryable). `logged`: its
    final call-log row is written (the last failed attempt's); else the runtime writes an
    outcome row for it."""

    def __init__(self, message: str, status_code: int | None = None, *, logged: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.logged = logged


class BudgetReached(CallFailed):
    """A call refused because the run's budget (max calls or tokens) is spent."""


UNREACHABLE_LIMIT = 8  # connection failures in a row before a provider is taken as down


@dataclass
class ModelLane:
    """Everything needed to call one model alias: its client, its concurrency bound, the
    structured-output mode its server accepts.

    Requests go through the synchronous `openai` client on the lane's own thread pool (one
    thread per parallel request), driven from the runtime's asyncio loop: measured on 2
    cores, this costs less CPU per call than AsyncOpenAI. The client's low-level `post`
    is used rather than `chat.completions.create`, whose parameter transformation and
    response models cost about 1.5 ms of CPU per call (see docs/llm.md)."""

    alias: str
    model: ModelConfig
    provider: ProviderConfig
    client: Any  # openai.OpenAI
    settings: LLMSettings
    secrets: tuple[str, ...] = ()
    format_mode: str = "json_schema"
    semaphore: asyncio.Semaphore = field(init=False)
    pool: ThreadPoolExecutor = field(init=False)
    # The breaker: after UNREACHABLE_LIMIT connection failures in a row (no answer of any
    # kind in between), the provider is taken as down for the rest of the run and every
    # remaining call fails at once, instead of each retrying for a minute.
    unreachable_in_a_row: int = field(default=0, init=False)
    down: str | None = field(default=None, init=False)
    posting: int = field(default=0, init=False)  # HTTP attempts running on the pool now

    def __post_init__(self) -> None:
        self.semaphore = asyncio.Semaphore(self.model.max_parallel_requests)
        self.pool = ThreadPoolExecutor(
            self.model.max_parallel_requests, thread_name_prefix=f"tracesql-llm-{self.alias}"
        )
        if self.model.structured_output != "auto":
            self.format_mode = self.model.structured_output

    async def send(
        self, request: ChatRequest, report: Callable[[Attempt], None], admit: Callable[[], None] | None = None
    ) -> Attempt:
        """The successful attempt, after retries; raises CallFailed. `report` sees every failed
        attempt as it happens (the caller logs the successful one when it stores it);
        `admit` runs once a slot is free, before the first attempt, and may refuse the call
        (budgets) by raising CallFailed."""
        openai = load_openai()
        loop = asyncio.get_running_loop()
        retries = 0
        number = 0
        while True:
            number += 1
            mode = self.format_mode if request.schema else None
            body = self.body(request, mode)
            async with self.semaphore:
                if self.down is not None:
                    raise CallFailed(self.down)
                if admit is not None:
                    admit()
                    admit = None
                started = time.perf_counter()
                self.posting += 1
                try:
                    content, finish, tokens_in, tokens_out, reasoning = await loop.run_in_executor(
                        self.pool, self._post, body, f"tracesql-{request.key[:24]}-{number}"
                    )
                except openai.APIStatusError as exc:
                    self.unreachable_in_a_row = 0
                    status = exc.status_code
                    error = f"HTTP {status}: {self.redact(_error_message(exc))}"
                    fallback = FORMAT_FALLBACK.get(mode or "") if _rejects_format(status, error) else None
                    if fallback and self.model.structured_output == "auto":
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
                    retryable = status in RETRYABLE_STATUS or status >= 500
                    delay = self.delay(retries, _retry_after(exc.response.headers)) if retryable else None
                except openai.APITimeoutError:
                    status, error = None, f"timed out after {self.model.timeout:g} s"
                    delay = self.delay(retries, None)
                except openai.APIConnectionError as exc:
                    status, error = None, f"connection error: {self.redact(str(exc.__cause__ or exc))}"
                    delay = self.delay(retries, None)
                    self.unreachable_in_a_row += 1
                    if self.unreachable_in_a_row >= UNREACHABLE_LIMIT and self.down is None:
                        self.down = (
                            f"provider of model '{self.alias}' unreachable ({self.provider.base_url}): "
                            f"{UNREACHABLE_LIMIT} connection failures in a row; no more calls in this run"
                        )
                except _BadBody as exc:
                    status, error = 200, f"unreadable response: {exc}"
                    delay = self.delay(retries, None)
                else:
                    self.unreachable_in_a_row = 0
                    return Attempt(
                        number, 200, _ms(started), content, finish, tokens_in, tokens_out, reasoning
                    )
                finally:
                    self.posting -= 1
            if delay is None or retries >= self.settings.max_retries:
                if retries:
                    error += f" (after {retries + 1} attempts)"
                report(Attempt(number, status, _ms(started), error=error))
                raise CallFailed(error, status, logged=True)
            report(Attempt(number, status, _ms(started), error=error, retry_in=delay))
            retries += 1
            await asyncio.sleep(delay)  # holds no slot: the other requests keep the lane busy

    def _post(self, body: dict[str, Any], idempotency_key: str) -> _Parsed:
        """One HTTP attempt (runs on the lane's thread pool). The idempotency key is ours so
        that the client does not draw a random one per call."""
        options: dict[str, Any] = {"timeout": self.model.timeout, "idempotency_key": idempotency_key}
        if _POST_TAKES_CONTENT.get(type(self.client), False):  # serialized once, by orjson
            options["headers"] = {"Content-Type": "application/json"}
            raw = self.client.post(
                "/chat/completions", cast_to=bytes, content=orjson.dumps(body), options=options
            )
        else:
            raw = self.client.post("/chat/completions", cast_to=bytes, body=body, options=options)
        try:
            data = orjson.loads(raw)
            choice = (data.get("choices") or [{}])[0]
            message = choice.get("message") or {}
            usage = data.get("usage") or {}
        except (orjson.JSONDecodeError, AttributeError, TypeError, IndexError) as exc:
            raise _BadBody(str(exc)) from None
        content = message.get("content")
        if isinstance(content, list):  # content parts
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        return (
            content,
            choice.get("finish_reason"),
            usage.get("prompt_tokens"),
            usage.get("completion_tokens"),
            reasoning if isinstance(reasoning, str) else None,
        )

    def body(self, request: ChatRequest, mode: str | None) -> dict[str, Any]:
        messages = [dict(m) for m in request.messages]
        body: dict[str, Any] = {"model": self.model.model}
        if request.schema is not None:
            if mode == "json_schema":
                spec: dict[str, Any] = {"name": "answer", "schema": request.schema.json_schema}
                if request.schema.strict:
                    spec["strict"] = True
                body["response_format"] = {"type": "json_schema", "json_schema": spec}
            else:
                if mode == "json_object":
                    body["response_format"] = {"type": "json_object"}
                messages[-1]["content"] = str(messages[-1]["content"]) + schema_instructions(request.schema)
        body["messages"] = messages
        for name in ("temperature", "top_p", "max_tokens"):
            value = getattr(request, name)
            if value is not None:
                body[name] = value
        if self.model.extra_body:
            body.update(self.model.extra_body)
        return body

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


# content, finish_reason, prompt tokens, completion tokens, reasoning content
_Parsed = tuple[str | None, str | None, int | None, int | None, str | None]


class _BadBody(Exception):
    """A 200 response whose body is not a chat completion."""


_POST_TAKES_CONTENT: dict[type, bool] = {}  # openai >= 2 takes pre-serialized bytes as `content`


def load_openai() -> Any:
    """The `openai` module, imported on first use: it takes over a second to import, so
    connections that make no LLM call never pay for it (see `prefetch_openai`)."""
    import openai

    return openai


def prefetch_openai() -> None:
    """Import `openai` on a background thread, while the run does other work."""
    if "openai" not in sys.modules:
        threading.Thread(target=load_openai, name="tracesql-import-openai", daemon=True).start()


def make_client(provider: ProviderConfig) -> tuple[Any, tuple[str, ...]]:
    """An OpenAI client for a provider (built-in retries off) and the secrets to redact."""
    openai = load_openai()
    key = os.environ.get(provider.api_key_env, "") if provider.api_key_env else ""
    client = openai.OpenAI(
        api_key=key or KEYLESS,
        base_url=provider.base_url,
        max_retries=0,
        default_headers=provider.extra_headers or None,
    )
    _POST_TAKES_CONTENT.setdefault(type(client), "content" in inspect.signature(client.post).parameters)
    secrets = (key, *provider.extra_headers.values())
    return client, tuple(s for s in secrets if len(s) >= 4)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _error_message(exc: Any) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(exc.message)


def _retry_after(headers: Any) -> float | None:
    """Seconds from Retry-After (seconds or HTTP date) or retry-after-ms, if present."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(email.utils.parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "schema", "guided", "structured")


def _rejects_format(status: int, error: str) -> bool:
    """A 400/422 that complains about structured output (not, say, an over-long prompt)."""
    return status in (400, 422) and any(word in error.lower() for word in _FORMAT_WORDS)
