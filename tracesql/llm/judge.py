"""LLM judges: score definitions to a JSON schema, a system prompt and a typed STRUCT.

Scores are written as in the reference (Data Designer's `Score`): a name, a description,
and options mapping each allowed value to what it means:

    [{"name": "groundedness", "description": "Is the answer supported by the digest?",
      "options": {"0": "invented", "4": "fully supported"}}]

The answer of a judge is, per score, `{score, reasoning}`; in SQL it is
`STRUCT(<name> STRUCT(score INTEGER, reasoning VARCHAR), ...)` (VARCHAR scores when the
option keys are not all integers).
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tracesql.errors import ConfigError
from tracesql.llm.structured import OutputSchema, canonical, quote_name


class Score(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    options: dict[int | str, str] = Field(min_length=1)

    @field_validator("options", mode="before")
    @classmethod
    def _integer_keys(cls, options: Any) -> Any:
        if isinstance(options, dict):
            return {_as_int(k): v for k, v in options.items()}
        if isinstance(options, list):  # a list of descriptions means options 0..n-1
            return dict(enumerate(options))
        return options

    @property
    def integer(self) -> bool:
        return all(isinstance(k, int) for k in self.options)


def _as_int(key: Any) -> Any:
    if isinstance(key, str) and key.strip().lstrip("-").isdigit():
        return int(key)
    return key


@functools.lru_cache(maxsize=128)
def parse_scores(text: str) -> tuple[Score, ...]:
    """Score definitions from their JSON text (as written in SQL)."""
    if text is None:
        raise ConfigError("llm_judge needs score definitions")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"llm_judge score definitions are not valid JSON: {exc}") from None
    return scores_from(data)


def scores_from(data: Any) -> tuple[Score, ...]:
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        raise ConfigError("llm_judge needs a non-empty list of scores (name, description, options)")
    try:
        scores = tuple(Score.model_validate(item) for item in data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(k) for k in err["loc"])
        raise ConfigError(f"llm_judge score definition: {where}: {err['msg']}") from None
    names = [s.name for s in scores]
    if len(set(names)) != len(names):
        raise ConfigError(f"llm_judge score names must be unique, got {names}")
    return scores


def scores_json(scores: Any) -> str:
    """Canonical JSON text of score definitions (what the SQL macro receives)."""
    parsed = scores_from(scores)
    return orjson.dumps([s.model_dump() for s in parsed], option=orjson.OPT_NON_STR_KEYS).decode()


@functools.lru_cache(maxsize=128)
def judge_schema(text: str) -> OutputSchema:
    scores = parse_scores(text)
    props = {}
    fields = []
    for s in scores:
        kind = "integer" if s.integer else "string"
        values = list(s.options) if s.integer else [str(k) for k in s.options]
        props[s.name] = {
            "type": "object",
            "properties": {
                "reasoning": {"type": "string", "description": "why this score, citing the evidence"},
                "score": {"type": kind, "enum": values, "description": s.description},
            },
            "required": ["reasoning", "score"],
            "additionalProperties": False,
        }
        fields.append(
            f"{quote_name(s.name)} STRUCT(score {'INTEGER' if s.integer else 'VARCHAR'}, reasoning VARCHAR)"
        )
    schema = {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}
    return OutputSchema(schema, "STRUCT(" + ", ".join(fields) + ")", canonical(schema), from_type=True)


@functools.lru_cache(maxsize=128)
def judge_system_prompt(text: str) -> str:
    lines = [
        "You are a careful, strict judge. Evaluate the material the user gives you on each score "
        "below. For every score, first write a short reasoning that cites the evidence, then pick "
        "exactly one of the allowed values.",
        "",
    ]
    for s in parse_scores(text):
        lines.append(f"## {s.name}")
        if s.description:
            lines.append(s.description)
        lines += [f"- {value}: {meaning}" for value, meaning in s.options.items()]
        lines.append("")
    names = ", ".join(s.name for s in parse_scores(text))
    lines.append(
        f'Answer with a JSON object with one key per score ({names}), each {{"reasoning": ..., "score": ...}}.'
    )
    return "\n".join(lines)
