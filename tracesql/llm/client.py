"""One HTTP attempt to an OpenAI-compatible server, through the real `openai` client: the
request (`ChatRequest`, its cache key, its body), the client (built-in retries off, a
deadline over the whole attempt), and the response read defensively.

The retry loop, the concurrency bound and the stops are the lane's (lanes.py).

- **Deadline.** The client's own timeout bounds each network read, so a server that
  trickles its body one byte at a time never trips it. tracesql's HTTP client reads the
  body itself and gives up once the attempt has lasted `timeout` seconds (an
  `APITimeoutError`, retried as any timeout).
- **Malformed answers.** A 200 whose body is not a chat completion (not JSON, no
  choices, a message that is not an object, content that is not text) is an unreadable
  response for that call only; odd usage counts or finish reasons are dropped (NULL).
"""

from __future__ import annotations

import email.utils
import hashlib
import importlib
import inspect
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson

from tracesql.llm.config import ModelConfig, ProviderConfig, api_key
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


class Interrupted(CallFailed):
    """A call not sent (or cut short) because the run was interrupted (SIGINT, SIGTERM)."""


@dataclass(frozen=True)
class Completion:
    """What a 200 response said (fields that are not what they should be are None)."""

    content: str | None
    finish_reason: str | None
    input_tokens: int | None
    output_tokens: int | None
    reasoning: str | None


class BadBody(Exception):
    """A 200 response whose body is not a chat completion."""


_POST_TAKES_CONTENT: dict[type, bool] = {}  # openai >= 2 takes pre-serialized bytes as `content`


def post_chat(client: Any, body: dict[str, Any], timeout: float, idempotency_key: str) -> Completion:
    """One HTTP attempt (blocking: runs on a lane's thread pool). The idempotency key is
    ours so that the client does not draw a random one per call."""
    options: dict[str, Any] = {"timeout": timeout, "idempotency_key": idempotency_key}
    if _POST_TAKES_CONTENT.get(type(client), False):  # serialized once, by orjson
        options["headers"] = {"Content-Type": "application/json"}
        raw = client.post("/chat/completions", cast_to=bytes, content=orjson.dumps(body), options=options)
    else:
        raw = client.post("/chat/completions", cast_to=bytes, body=body, options=options)
    return parse_completion(raw)


def parse_completion(raw: bytes) -> Completion:
    """The fields of a chat completion; BadBody when it is not one."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadBody(f"not JSON ({exc})") from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BadBody("no choices in the response")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise BadBody("the choice has no message")
    content = message.get("content")
    if isinstance(content, list):  # content parts
        content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    if content is not None and not isinstance(content, str):
        raise BadBody(f"the message content is not text ({type(content).__name__})")
    usage = data.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    finish = choice.get("finish_reason")
    return Completion(
        content,
        finish if isinstance(finish, str) else None,
        _count(usage.get("prompt_tokens")),
        _count(usage.get("completion_tokens")),
        reasoning if isinstance(reasoning, str) else None,
    )


def _count(value: Any) -> int | None:
    """A token count, or None for anything that is not a non-negative integer."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def request_body(model: ModelConfig, request: ChatRequest, mode: str | None) -> dict[str, Any]:
    """The JSON body of a request, structured output asked for in `mode` (json_schema,
    json_object, or instructions in the prompt)."""
    messages = [dict(m) for m in request.messages]
    body: dict[str, Any] = {"model": model.model}
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
    if model.extra_body:
        body.update(model.extra_body)
    return body


def load_openai() -> Any:
    """The `openai` module, imported on first use: it takes over a second to import, so
    connections that make no LLM call never pay for it (see `prefetch_openai`)."""
    import openai

    return openai


def prefetch_openai() -> None:
    """Import `openai` on a background thread, while the run does other work."""
    if "openai" not in sys.modules:
        threading.Thread(target=load_openai, name="tracesql-import-openai", daemon=True).start()


def make_client(provider_name: str, provider: ProviderConfig) -> tuple[Any, tuple[str, ...]]:
    """An OpenAI client for a provider (built-in retries off, a deadline over each whole
    attempt) and the secrets to redact from what it says."""
    openai = load_openai()
    key = api_key(provider_name, provider) or ""
    client = openai.OpenAI(
        api_key=key or KEYLESS,
        base_url=provider.base_url,
        max_retries=0,
        default_headers=provider.extra_headers or None,
        http_client=_deadline_client_class(openai)(),
    )
    _POST_TAKES_CONTENT.setdefault(type(client), "content" in inspect.signature(client.post).parameters)
    secrets = (key, *provider.extra_headers.values())
    return client, tuple(s for s in secrets if len(s) >= 4)


_DEADLINE_CLIENTS: dict[type, type] = {}


def _deadline_client_class(openai: Any) -> type:
    """The `openai` client's own HTTP client class (its defaults: limits, redirects), whose
    `send` reads the body itself and stops once the attempt has lasted its read timeout."""
    base = openai.DefaultHttpxClient
    found = _DEADLINE_CLIENTS.get(base)
    if found is not None:
        return found
    httpx = importlib.import_module(
        next(c for c in base.__mro__ if c.__module__.startswith("httpx")).__module__.split(".")[0]
    )

    class DeadlineStream(httpx.SyncByteStream):  # type: ignore[misc,name-defined]
        def __init__(self, inner: Any, request: Any, deadline: float, seconds: float) -> None:
            self.inner, self.request, self.deadline, self.seconds = inner, request, deadline, seconds

        def __iter__(self) -> Any:
            for chunk in self.inner:
                if time.monotonic() > self.deadline:
                    raise httpx.ReadTimeout(
                        f"the response took longer than {self.seconds:g} s", request=self.request
                    )
                yield chunk

        def close(self) -> None:
            self.inner.close()

    class DeadlineClient(base):  # type: ignore[misc,valid-type]
        def send(self, request: Any, *, stream: bool = False, **kwargs: Any) -> Any:
            seconds = (request.extensions.get("timeout") or {}).get("read")
            started = time.monotonic()
            response = super().send(request, stream=True, **kwargs)
            if seconds is not None:
                response.stream = DeadlineStream(response.stream, request, started + seconds, seconds)
            if not stream:
                try:
                    response.read()
                except BaseException:
                    response.close()
                    raise
            return response

    _DEADLINE_CLIENTS[base] = DeadlineClient
    return DeadlineClient


def error_message(exc: Any) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(exc.message)


def retry_after(headers: Any) -> float | None:
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


def rejects_format(status: int, error: str) -> bool:
    """A 400/422 that complains about structured output (not, say, an over-long prompt)."""
    return status in (400, 422) and any(word in error.lower() for word in _FORMAT_WORDS)
