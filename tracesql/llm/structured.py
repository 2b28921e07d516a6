"""Structured output: the schema an LLM answer must follow, in both directions.

A structured call takes either a JSON schema (text starting with `{`) or a DuckDB type
(`STRUCT(label VARCHAR, tags VARCHAR[])`). Either way it becomes an `OutputSchema` with
the JSON schema sent to the server and used to validate answers, and the DuckDB type the
answer is parsed into with `from_json`, so SQL receives a typed STRUCT.

Answers are validated with `jsonschema` (the schema's own draft, Draft 2020-12 by default),
formats included: `date-time`, `time`, `uri`, `email`... are checked, not just annotations.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

import duckdb
import orjson

from tracesql.errors import ConfigError

if TYPE_CHECKING:
    from jsonschema import FormatChecker
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

_SCALARS = {
    "VARCHAR": {"type": "string"},
    "BOOLEAN": {"type": "boolean"},
    "UUID": {"type": "string"},
    "DATE": {"type": "string", "format": "date"},
    "TIMESTAMP": {"type": "string", "format": "date-time"},
    "TIMESTAMP WITH TIME ZONE": {"type": "string", "format": "date-time"},
    "TIME": {"type": "string", "format": "time"},
    "JSON": {},
}
_INTEGERS = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
}
_NUMBERS = {"FLOAT", "DOUBLE"}
_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class OutputSchema:
    json_schema: dict
    duckdb_type: str
    text: str  # canonical JSON of json_schema, part of the cache key
    # Made from a DuckDB type (or a judge's scores), not written by the user: extra keys
    # are dropped by from_json anyway (not worth a re-ask), and a date or time need only be
    # ISO 8601 that DuckDB reads (`2024-03-01 12:00:00` for a TIMESTAMP), not RFC 3339.
    from_type: bool = False

    @functools.cached_property
    def validator(self) -> Validator:
        return answer_validator(self.json_schema, from_type=self.from_type)

    def problems(self, value: Any) -> list[str]:
        """What is wrong with an answer's value, each naming where (`$.tags[1]: ...`); [] if valid."""
        return [describe(error) for error in self.validator.iter_errors(value)]

    @property
    def strict(self) -> bool:
        """Whether the schema meets OpenAI's strict structured-output rules (every object
        closed and every property required), so the server may be asked to enforce it."""
        return _strict(self.json_schema, self.json_schema)

    @property
    def structure(self) -> str:
        """The `from_json` structure argument: the DuckDB type as a JSON string."""
        return orjson.dumps(self.duckdb_type).decode()


@functools.lru_cache(maxsize=256)
def parse_output_schema(spec: str) -> OutputSchema:
    """A JSON schema or a DuckDB type, as written in SQL, to an OutputSchema."""
    if spec is None or not spec.strip():
        raise ConfigError(
            "a structured LLM call needs a schema: a JSON schema or a DuckDB type such as STRUCT(a VARCHAR)"
        )
    text = spec.strip()
    if text.startswith("{"):
        try:
            schema = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"the LLM output schema is not valid JSON: {exc}") from None
        return from_json_schema(schema)
    try:
        parsed = duckdb.sqltype(text)
    except Exception as exc:  # duckdb raises several parser exception types
        raise ConfigError(
            f"the LLM output schema is neither JSON nor a DuckDB type: {text!r} ({exc})"
        ) from None
    schema = json_schema_of_type(parsed)
    if schema.get("type") == "object":
        schema.setdefault("additionalProperties", False)
    return OutputSchema(schema, str(parsed), canonical(schema), from_type=True)


def from_json_schema(schema: dict) -> OutputSchema:
    if not isinstance(schema, dict):
        raise ConfigError("the LLM output schema must be a JSON object")
    output = OutputSchema(schema, duckdb_type_of(schema, schema), canonical(schema))
    output.validator  # noqa: B018  (checks the schema against its draft's metaschema now)
    return output


def canonical(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def json_schema_of_type(t: Any) -> dict:
    """JSON schema of a DuckDB type (a DuckDBPyType)."""
    kind = t.id
    name = str(t)
    if kind == "struct":
        props = {field: json_schema_of_type(child) for field, child in t.children}
        return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}
    if kind in ("list", "array"):
        return {"type": "array", "items": json_schema_of_type(dict(t.children)["child"])}
    if kind == "map":
        return {"type": "object", "additionalProperties": json_schema_of_type(dict(t.children)["value"])}
    if kind == "enum":
        return {"type": "string", "enum": list(dict(t.children)["values"])}
    if kind == "decimal" or name in _NUMBERS:
        return {"type": "number"}
    if name in _INTEGERS:
        return {"type": "integer"}
    if name in _SCALARS:
        return dict(_SCALARS[name])
    return {"type": "string"}


def duckdb_type_of(schema: dict, root: dict) -> str:
    """DuckDB type of a JSON schema (objects become STRUCTs, arrays lists)."""
    schema = resolve(schema, root)
    if "enum" in schema:
        values = schema["enum"]
        if values and all(isinstance(v, bool) for v in values):
            return "BOOLEAN"
        if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            return "BIGINT"
        return "VARCHAR"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if resolve(s, root).get("type") != "null"]
            return duckdb_type_of(options[0], root) if len(options) == 1 else "JSON"
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    if kind == "object":
        props = schema.get("properties") or {}
        if not props:
            return "JSON"
        return (
            "STRUCT("
            + ", ".join(f"{quote_name(k)} {duckdb_type_of(v, root)}" for k, v in props.items())
            + ")"
        )
    if kind == "array":
        return duckdb_type_of(schema.get("items") or {}, root) + "[]"
    names = {"string": "VARCHAR", "integer": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN"}
    return names.get(kind, "JSON") if isinstance(kind, str) else "JSON"


def quote_name(name: str) -> str:
    return name if _PLAIN_NAME.match(name) else '"' + name.replace('"', '""') + '"'


def resolve(schema: Any, root: dict) -> dict:
    while isinstance(schema, dict) and "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise ConfigError(f"only local $ref are supported in LLM output schemas, not {ref!r}")
        node: Any = root
        for part in ref[2:].split("/"):
            node = node[part]
        schema = node
    return schema if isinstance(schema, dict) else {}


_SHOWN = 80  # characters of an answer's value shown in a problem


def answer_validator(schema: dict, *, from_type: bool = False) -> Validator:
    """A jsonschema validator for answers (ConfigError if the schema itself is invalid)."""
    from jsonschema import Draft202012Validator  # imported on first use: 0.04 s
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    cls = validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise ConfigError(
            f"the LLM output schema is not a valid JSON schema: {exc.message} (at {exc.json_path})"
        ) from None
    if from_type:
        return cls(_open(schema), format_checker=_duckdb_formats())
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def describe(error: ValidationError) -> str:
    """One problem for the re-ask prompt: where, what (long values shortened), and for
    anyOf/oneOf the closest option's problem."""
    from jsonschema.exceptions import best_match

    message = error.message
    shown = repr(error.instance)
    if len(shown) > _SHOWN:
        message = message.replace(shown, shown[:_SHOWN] + "...")
    if error.context:
        message += f" (closest: {describe(best_match(error.context))})"
    return f"{error.json_path}: {message}"


def _open(schema: Any) -> Any:
    """The schema without `additionalProperties: false`, at any depth."""
    if isinstance(schema, dict):
        return {k: _open(v) for k, v in schema.items() if not (k == "additionalProperties" and v is False)}
    if isinstance(schema, list):
        return [_open(v) for v in schema]
    return schema


def _iso(parse: Callable[[str], object]) -> Callable[[object], bool]:
    def check(value: object) -> bool:
        return not isinstance(value, str) or parse(value) is not None

    return check


@functools.cache
def _duckdb_formats() -> FormatChecker:
    """Formats of schemas made from DuckDB types: what DuckDB's casts read (ISO 8601)."""
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    checker.checks("date", raises=ValueError)(_iso(date.fromisoformat))
    checker.checks("date-time", raises=ValueError)(_iso(datetime.fromisoformat))
    checker.checks("time", raises=ValueError)(_iso(time.fromisoformat))
    return checker


def _strict(schema: Any, root: dict) -> bool:
    schema = resolve(schema, root)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema and not all(_strict(s, root) for s in schema[key]):
            return False
    if schema.get("type") == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False or set(schema.get("required", [])) != set(props):
            return False
        return all(_strict(v, root) for v in props.values())
    if schema.get("type") == "array":
        return _strict(schema.get("items") or {}, root)
    return True


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def parse_answer(text: str | None, schema: OutputSchema) -> tuple[Any, str | None]:
    """(value, None) for an answer that is valid JSON for the schema, else (None, problem)."""
    if text is None or not text.strip():
        return None, "the answer was empty"
    candidates = [text.strip()]
    candidates += [m.group(1).strip() for m in _FENCE.finditer(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    value: Any = None
    for candidate in candidates:
        try:
            value = orjson.loads(candidate)
            break
        except orjson.JSONDecodeError:
            continue
    else:
        return None, "the answer is not valid JSON"
    problems = schema.problems(value)
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        return None, f"the answer does not match the schema: {shown}"
    return value, None


def placeholder(schema: dict, root: dict | None = None, text: str = "") -> Any:
    """The simplest value valid for a schema (first enum value, zeros, `text` for strings,
    the fewest items): what a dry run returns in place of an answer it did not ask for. A
    `text` distinct per request makes the prompts built on it distinct, as real answers
    would, so later steps are counted once per row."""
    root = schema if root is None else root
    schema = resolve(schema, root)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return placeholder(schema[key][0], root, text)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {k: placeholder(v, root, text) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [placeholder(schema.get("items") or {}, root, text) for _ in range(schema.get("minItems", 0))]
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    if kind == "string":
        value = text.ljust(schema.get("minLength", 0), "x")
        return value[: schema["maxLength"]] if "maxLength" in schema else value
    return None


def schema_instructions(schema: OutputSchema) -> str:
    """Instructions appended to the prompt when the server cannot enforce a schema."""
    return (
        "\n\nAnswer with a single JSON value and nothing else (no prose, no code fence). "
        "It must match this JSON schema:\n" + schema.text
    )
