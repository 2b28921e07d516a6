"""Compile-time Jinja helpers for models that use LLM columns (`jinja_globals`).

They return SQL text and never render a prompt: a prompt template stays a string literal
in the compiled SQL and is rendered per row, at run time, in the sandbox (prompts.py).

    {{ prompt_file('digest.j2') }}            -> 'the unrendered text of prompts/digest.j2'
    {{ sql_literal(text) }}                   -> 'text' (quotes doubled)
    {{ json_literal({'type': 'object'}) }}    -> '{"type":"object"}'
    {{ llm_judge(scores=[...], prompt=..., model='judge', vars="{'a': a}") }}
                                              -> llm_judge(<prompt>, '<scores JSON>', model := 'judge', vars := {'a': a})
    {{ llm_judge(..., response=True) }}       -> llm_response(<prompt>, scores := '<scores JSON>', ...)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tracesql.llm.judge import scores_json
from tracesql.llm.prompts import load_prompt
from tracesql.sqltext import string_literal as sql_literal


def json_literal(value: Any) -> str:
    """A Python value as a SQL string literal of its JSON text."""
    return sql_literal(orjson.dumps(value).decode())


def _options(model: str | None, options: dict[str, Any]) -> str:
    """`, model := '...', vars := ...` for the options that are set. `model` is an alias
    name; every other option is SQL text (an expression or a literal)."""
    parts = [f"model := {sql_literal(model)}"] if model else []
    parts += [f"{name} := {value}" for name, value in options.items() if value is not None]
    return "".join(", " + p for p in parts)


def jinja_globals(project_dir: str | Path | None) -> dict[str, Any]:
    """Globals for the model's compile-time Jinja."""

    def prompt_file(name: str) -> str:
        """prompts/<name>, unrendered, as a SQL string literal."""
        return sql_literal(load_prompt(project_dir, name))

    def llm_judge(
        scores: Any,
        prompt: str,
        model: str | None = None,
        system: str | None = None,
        vars: str | None = None,
        temperature: Any = None,
        max_tokens: Any = None,
        response: bool = False,
    ) -> str:
        """The SQL of an llm_judge call. `scores` is a list of {name, description, options};
        `prompt`, `system` and `vars` are SQL (e.g. prompt_file('judge.j2') and "{'x': x}").
        `response=True` writes the same judge as `llm_response(..., scores := ...)`: the
        verdict in `.value`, with its request hash and error."""
        options = _options(
            model, {"system": system, "vars": vars, "temperature": temperature, "max_tokens": max_tokens}
        )
        if response:
            return f"llm_response({prompt}, scores := {sql_literal(scores_json(scores))}{options})"
        return f"llm_judge({prompt}, {sql_literal(scores_json(scores))}{options})"

    return {
        "prompt_file": prompt_file,
        "sql_literal": sql_literal,
        "json_literal": json_literal,
        "llm_judge": llm_judge,
    }
