"""The names of the LLM layer's SQL functions, defined once."""

from __future__ import annotations

import re

# The functions that send requests (each may take `model := 'alias'`).
CALLING_FUNCTIONS = ("llm", "llm_json", "llm_struct", "llm_judge", "llm_response")
USER_FUNCTIONS = (*CALLING_FUNCTIONS, "llm_render", "llm_call_log")

CALL_UDF = "_tracesql_llm"
STRUCTURE_UDF = "_tracesql_llm_structure"
RENDER_UDF = "_tracesql_llm_render"
LOG_UDF = "_tracesql_llm_call_log"

SQL_NAMES = frozenset({*USER_FUNCTIONS, CALL_UDF, STRUCTURE_UDF, RENDER_UDF, LOG_UDF})


_CALL = re.compile(r"\bllm(?:_json|_struct|_judge|_response)?\s*\(", re.IGNORECASE)
_MODEL_ARG = re.compile(r"\bmodel\s*:=\s*'((?:[^']|'')*)'", re.IGNORECASE)


def model_aliases_in(sql: str) -> list[str | None]:
    """The model aliases a SQL text's LLM calls name (None for the default model), found
    cheaply in the text; [] when it calls no LLM function."""
    if not _CALL.search(sql):
        return []
    aliases: list[str | None] = [m.group(1).replace("''", "'") for m in _MODEL_ARG.finditer(sql)]
    calls = len(_CALL.findall(sql))
    if calls > len(aliases):
        aliases.append(None)
    return list(dict.fromkeys(aliases))
