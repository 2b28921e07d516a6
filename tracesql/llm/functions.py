"""The SQL side of the LLM layer: UDFs, the macros users call, and the connection hook.

Users call macros (named arguments need them); each expands to one vectorized Python UDF,
`_tracesql_llm`, which receives a whole chunk of rows and answers it concurrently:

    llm(prompt, model := NULL, system := NULL, vars := NULL, temperature := NULL,
        top_p := NULL, max_tokens := NULL)                       -> VARCHAR
    llm_json(prompt, schema, ...)                                 -> JSON (validated)
    llm_struct(prompt, schema, ...)                               -> typed STRUCT
    llm_judge(prompt, scores, ...)                                -> STRUCT(<score> STRUCT(score, reasoning), ...)
    llm_response(prompt, ...)                                     -> STRUCT(text, reasoning, finish_reason, tokens,
                                                                     cache_hit, error, request_hash)
    llm_render(template, vars)                                    -> VARCHAR (the prompt, for checking)
    FROM llm_call_log()                                           -> the call log (all runs)

`schema` is a JSON schema or a DuckDB type, written as a string literal; `llm_struct`
turns it into the STRUCT type at bind time (`from_json` with a constant structure).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import duckdb
import orjson

try:
    from duckdb.func import ARROW, SPECIAL
except ImportError:  # duckdb 1.x
    from duckdb.functional import ARROW, SPECIAL  # type: ignore[no-redef]

from tracesql.llm.calls import LLM_CALLS_STRUCT, record_dicts
from tracesql.llm.names import CALL_UDF, LOG_UDF, RENDER_UDF, SQL_NAMES, STRUCTURE_UDF
from tracesql.llm.options import RunOptions

if TYPE_CHECKING:
    from tracesql.llm.config import LLMConfig
    from tracesql.llm.runtime import LLMRuntime

__all__ = ["SQL_NAMES", "RuntimeSlot", "configure_llm", "register"]

# llm_response()'s fields; "value" is the text, or the structure of a schema or judge
RESPONSE_FIELDS = {
    "text": "VARCHAR",
    "value": "VARCHAR",
    "reasoning": "VARCHAR",
    "finish_reason": "VARCHAR",
    "input_tokens": "BIGINT",
    "output_tokens": "BIGINT",
    "cache_hit": "BOOLEAN",
    "error": "VARCHAR",
    "request_hash": "VARCHAR",
}
_RESPONSE_KIND = (
    "CASE WHEN scores IS NOT NULL THEN 'full_judge' WHEN schema IS NOT NULL THEN 'full_json' ELSE 'full' END"
)
_OPTIONS = (
    "model := NULL, system := NULL, vars := NULL, temperature := NULL, top_p := NULL, max_tokens := NULL"
)
_PASS = "to_json(vars), model, system, temperature, top_p, max_tokens"
# `spec || ''` keeps DuckDB from checking the from_json structure when the macro is created
# (the argument is only known, and constant, where the macro is used).
MACROS = [
    f"CREATE OR REPLACE TEMP MACRO llm(prompt, {_OPTIONS}) AS {CALL_UDF}('text', prompt, NULL, {_PASS})",
    f"CREATE OR REPLACE TEMP MACRO llm_json(prompt, schema, {_OPTIONS}) AS "
    f"{CALL_UDF}('json', prompt, schema, {_PASS})::JSON",
    f"CREATE OR REPLACE TEMP MACRO llm_struct(prompt, schema, {_OPTIONS}) AS "
    f"from_json({CALL_UDF}('json', prompt, schema, {_PASS}), {STRUCTURE_UDF}('json', schema || ''))",
    f"CREATE OR REPLACE TEMP MACRO llm_judge(prompt, scores, {_OPTIONS}) AS "
    f"from_json({CALL_UDF}('judge', prompt, scores, {_PASS}), {STRUCTURE_UDF}('judge', scores || ''))",
    f"CREATE OR REPLACE TEMP MACRO llm_response(prompt, schema := NULL, scores := NULL, {_OPTIONS}) AS "
    f"from_json({CALL_UDF}({_RESPONSE_KIND}, prompt, coalesce(scores, schema), {_PASS}), "
    f"{STRUCTURE_UDF}({_RESPONSE_KIND}, coalesce(scores, schema) || ''))",
    f"CREATE OR REPLACE TEMP MACRO llm_render(template, vars := NULL) AS {RENDER_UDF}(template, to_json(vars))",
    f"CREATE OR REPLACE TEMP MACRO llm_call_log() AS TABLE SELECT unnest({LOG_UDF}(), recursive := true)",
]


class RuntimeSlot:
    """The LLM runtime of one connection, made at its first use (an LLM function called, or
    `Session.llm` asked for): a connection whose SQL calls no LLM function, such as
    `tracesql query "select 1"`, never imports the runtime, its client, prompts and schemas."""

    def __init__(self, make: Callable[[], LLMRuntime]) -> None:
        self._make = make
        self._runtime: LLMRuntime | None = None
        self._lock = threading.Lock()
        self._interrupted: str | None = None

    def get(self) -> LLMRuntime:
        if self._runtime is None:
            with self._lock:
                if self._runtime is None:
                    self._runtime = self._make()
                    if self._interrupted is not None:  # stopped before it existed
                        self._runtime.interrupt(self._interrupted)
        return self._runtime

    @property
    def started(self) -> LLMRuntime | None:
        """The runtime if it has been made, else None."""
        return self._runtime

    def interrupt(self, reason: str) -> None:
        """Interrupt the runtime, now or when it is made (no lock: called from a signal handler)."""
        self._interrupted = reason
        runtime = self._runtime
        if runtime is not None:
            runtime.interrupt(reason)


def register(con: duckdb.DuckDBPyConnection, runtime: Callable[[], LLMRuntime]) -> None:
    """Register the UDFs and macros; `runtime()` gives the runtime when a UDF is called."""
    varchar, double, bigint = duckdb.sqltype("VARCHAR"), duckdb.sqltype("DOUBLE"), duckdb.sqltype("BIGINT")
    two_texts: list[Any] = [varchar, varchar]
    call_params: list[Any] = [varchar] * 6 + [double, double, bigint]

    # pyarrow Arrays in and out; annotated Any, as DuckDB evaluates a UDF's annotations
    # and pyarrow is imported only when the function is called
    def call(
        kind: Any,
        prompt: Any,
        spec: Any,
        variables: Any,
        model: Any,
        system: Any,
        temperature: Any,
        top_p: Any,
        max_tokens: Any,
    ) -> Any:
        import pyarrow as pa  # loaded by DuckDB already, to hand over these arrays

        arrays = (kind, prompt, spec, variables, model, system, temperature, top_p, max_tokens)
        return pa.array(runtime().run_batch([a.to_pylist() for a in arrays]), type=pa.string())

    def structure(kind: str, spec: str | None) -> str:
        return structure_of(kind, spec)

    def render(template: str, variables: str | None) -> str:
        from tracesql.llm.prompts import render_json_vars

        return render_json_vars(template, variables)

    def call_log() -> list[dict]:
        return record_dicts(runtime().call_log())

    con.create_function(
        CALL_UDF,
        call,
        call_params,
        varchar,
        type=ARROW,
        null_handling=SPECIAL,
        side_effects=True,
    )
    # no side effects: DuckDB folds it on the constant schema while binding from_json
    con.create_function(STRUCTURE_UDF, structure, two_texts, varchar, null_handling=SPECIAL)
    con.create_function(RENDER_UDF, render, two_texts, varchar, null_handling=SPECIAL)
    con.create_function(LOG_UDF, call_log, [], duckdb.sqltype(LLM_CALLS_STRUCT), side_effects=True)
    for macro in MACROS:
        con.execute(macro)


def structure_of(kind: str, spec: str | None) -> str:
    """The `from_json` structure of a call's value (`full*`: of llm_response()'s struct)."""
    from tracesql.llm import judge
    from tracesql.llm.jobs import FULL_KINDS
    from tracesql.llm.structured import parse_output_schema

    base = FULL_KINDS.get(kind, kind)
    if base == "text":
        value: Any = "VARCHAR"
    else:
        schema = judge.judge_schema(spec or "") if base == "judge" else parse_output_schema(spec or "")
        value = schema.duckdb_type
    if kind not in FULL_KINDS:
        return orjson.dumps(value).decode()
    return orjson.dumps({**RESPONSE_FIELDS, "value": value}).decode()


def configure_llm(
    con: duckdb.DuckDBPyConnection,
    config: LLMConfig | None,
    *,
    project_dir: str | None = None,
    target_dir: str | None = None,
    run_options: RunOptions | None = None,
    redact: bool = True,
) -> RuntimeSlot:
    """Register the LLM functions on a connection; the slot of the runtime answering them,
    made at its first use (the caller closes it with the connection)."""

    def make() -> LLMRuntime:
        from tracesql.llm.client import prefetch_openai
        from tracesql.llm.runtime import LLMRuntime

        runtime = LLMRuntime(
            config, project_dir=project_dir, target_dir=target_dir, run_options=run_options, redact=redact
        )
        if runtime.config.models and not runtime.dry_run:
            prefetch_openai()  # the first LLM call should not wait for a 1 s import
        return runtime

    slot = RuntimeSlot(make)
    register(con, slot.get)
    return slot
