"""One LLM value to compute: the model alias it resolved to, the request a row's arguments
build, and how an answer becomes the value the SQL function returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracesql.llm import judge, prompts
from tracesql.llm.cache import CachedResponse
from tracesql.llm.client import ChatRequest
from tracesql.llm.config import ModelConfig, ProviderConfig
from tracesql.llm.structured import OutputSchema, canonical, parse_answer, parse_output_schema
from tracesql.secrets import redact as redact_secrets

NO_CONTENT = "the answer had no content"


@dataclass(frozen=True)
class Target:
    """A resolved model alias."""

    alias: str
    model: ModelConfig
    provider_name: str
    provider: ProviderConfig


# The kinds of value the SQL functions ask for; `full_*` are `llm_response()`'s, which
# return the answer's story (text, tokens, cache hit, error, request hash) with the value.
FULL_KINDS = {"full": "text", "full_json": "json", "full_judge": "judge"}


@dataclass
class Job:
    """One row's value: index in the chunk, kind (text | json | judge), whether the SQL
    function wants the whole response (`llm_response`), the request."""

    index: int
    kind: str
    full: bool
    target: Target
    request: ChatRequest
    schema: OutputSchema | None


def build_job(
    index: int,
    target: Target,
    kind: str,
    prompt: str,
    spec: str | None,
    variables: str | None,
    system: str | None,
    temperature: float | None,
    top_p: float | None,
    max_tokens: int | None,
    *,
    redact: bool = True,
) -> Job:
    """The request for one row: prompts rendered with the row's vars, the schema of a
    structured or judge call, its system prompt. With `redact` (the default), every
    credential in the rendered prompt and system prompt (the vars included) is replaced
    by `[REDACTED:<kind>]` before anything is hashed, cached or sent."""
    if variables is not None:
        prompt = prompts.render_json_vars(prompt, variables)
        if system is not None:
            system = prompts.render_json_vars(system, variables)
    if redact:
        prompt = redact_secrets(prompt)
        system = None if system is None else redact_secrets(system)
    full = kind in FULL_KINDS
    kind = FULL_KINDS.get(kind, kind)
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
    return Job(index, kind, full, target, request, schema)


def full_answer(
    job: Job,
    response: CachedResponse | None,
    *,
    value: Any = None,
    cache_hit: bool = False,
    error: str | None = None,
) -> str:
    """What `llm_response()` returns for a row: the answer, its value (the text, or the
    validated structure) and how it went, as JSON."""
    return canonical(
        {
            "text": response.content if response else None,
            "value": value if job.schema is not None else (response.content if response else None),
            "reasoning": response.reasoning if response else None,
            "finish_reason": response.finish_reason if response else None,
            "input_tokens": response.input_tokens if response else None,
            "output_tokens": response.output_tokens if response else None,
            "cache_hit": cache_hit,
            "error": error,
            "request_hash": job.request.key,
        }
    )


def answer_value(job: Job, response: CachedResponse, value: Any, *, cache_hit: bool) -> str | None:
    """The SQL value of a decided answer: the text, the structure's JSON, or (llm_response)
    the whole response."""
    if job.full:
        return full_answer(job, response, value=value, cache_hit=cache_hit)
    return canonical(value) if job.schema is not None else response.content


def parse_response(response: CachedResponse, schema: OutputSchema | None) -> tuple[Any, str | None]:
    """(value, problem): the answer's content, or its JSON checked against the schema."""
    if schema is None:
        return response.content, None
    return parse_answer(response.content, schema)


def usable_value(response: CachedResponse, schema: OutputSchema | None) -> tuple[Any, str | None]:
    """(the parsed value, problem) of a cached answer; a problem makes it a cache miss."""
    if schema is None:
        return response.content, None if response.content is not None else NO_CONTENT
    return parse_answer(response.content, schema)
