"""Prompt templates: rendered per row, at run time, in a Jinja sandbox.

A template is the text the model author wrote (inline in SQL or in `prompts/*.j2`); the
row's values arrive separately, as a JSON object built by SQL (`vars := {...}`). Values
are data, never template source: trace text containing `{{ ... }}` or `{% ... %}` is
inserted literally and no template code it contains ever runs. The sandbox
(`ImmutableSandboxedEnvironment`) also stops a template from reaching Python internals.

Templates are kept apart from the model's compile-time Jinja: `prompt_file('x.j2')` at
compile time loads `prompts/x.j2` *without rendering it* and inserts it as a SQL string
literal, so compiling a model never renders a prompt.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2
import orjson
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from tracesql.errors import CompileError, ProjectError

PROMPTS_DIR = "prompts"


def message_text(message: Any) -> str:
    """The text of one normalized message (its text parts, tool calls and results shown briefly)."""
    if not isinstance(message, dict):
        return "" if message is None else str(message)
    parts = []
    content = message.get("content")
    if isinstance(content, str):
        parts.append(content)
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict):
            continue
        text = part.get("text")
        if text:
            parts.append(str(text))
        elif part.get("data") is not None:
            data = part["data"]
            parts.append(
                f"[{part.get('type') or 'data'}] " + (data if isinstance(data, str) else _dumps(data))
            )
    for call in message.get("tool_calls") or []:
        if isinstance(call, dict):
            # normalized rows nest name and arguments under `function` (OpenAI's shape)
            nested = call.get("function")
            function: dict = nested if isinstance(nested, dict) else call
            arguments = function.get("arguments")
            shown = arguments if isinstance(arguments, str) else _dumps(arguments)
            parts.append(f"[tool call {function.get('name') or ''}] {shown}")
    return "\n".join(parts)


def transcript(messages: Any, max_chars: int | None = None) -> str:
    """Jinja filter: normalized messages as `role: text` blocks, optionally shortened in the middle."""
    if not isinstance(messages, list):
        messages = [messages]
    text = "\n\n".join(f"{(m or {}).get('role', '?')}: {message_text(m)}" for m in messages if m is not None)
    return shorten(text, max_chars) if max_chars else text


def shorten(text: Any, max_chars: int = 2000) -> str:
    """Jinja filter: at most max_chars characters, cutting the middle."""
    text = "" if text is None else str(text)
    if len(text) <= max_chars:
        return text
    half = max(max_chars // 2 - 10, 1)
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters cut ...]\n{text[-half:]}"


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _tojson(value: Any, indent: int | None = None) -> str:
    option = orjson.OPT_INDENT_2 if indent else 0
    return orjson.dumps(value, default=str, option=option).decode()


@functools.lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True, cache_size=0
    )
    env.filters.update(tojson=_tojson, transcript=transcript, message_text=message_text, shorten=shorten)
    return env


@functools.lru_cache(maxsize=256)
def compile_template(source: str) -> jinja2.Template:
    try:
        return environment().from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise CompileError(f"prompt template line {exc.lineno}: {exc.message}") from None


def render(source: str, variables: dict[str, Any] | None) -> str:
    """Render a prompt template with one row's values."""
    template = compile_template(source)
    try:
        return template.render(variables or {})
    except SecurityError as exc:
        raise CompileError(f"prompt template tried something the sandbox forbids: {exc}") from None
    except jinja2.UndefinedError as exc:
        names = ", ".join(sorted(variables or {})) or "none"
        raise CompileError(f"prompt template: {exc.message} (vars given: {names})") from None
    except jinja2.TemplateError as exc:
        raise CompileError(f"prompt template: {exc}") from None


def render_json_vars(source: str, variables_json: str | None) -> str:
    """Render with the values of a JSON object (what SQL passes as `vars := {...}`)."""
    variables = orjson.loads(variables_json) if variables_json else {}
    if not isinstance(variables, dict):
        raise CompileError(
            "vars of an LLM prompt must be a struct such as {'title': title}, not " + type(variables).__name__
        )
    return render(source, variables)


def load_prompt(project_dir: str | Path | None, name: str) -> str:
    """The unrendered text of prompts/<name> (no extension needed for .j2, .jinja, .txt, .md)."""
    base = (Path(project_dir or ".") / PROMPTS_DIR).resolve()
    candidates = [base / name] + [base / f"{name}{ext}" for ext in (".j2", ".jinja", ".txt", ".md")]
    for path in candidates:
        if path.is_file() and path.resolve().is_relative_to(base):
            return path.read_text(encoding="utf-8")
    raise ProjectError(f"no prompt file '{name}' in {base}")
