"""The names of the LLM layer's SQL functions, defined once."""

from __future__ import annotations

# The functions that send requests (each may take `model := 'alias'`).
CALLING_FUNCTIONS = ("llm", "llm_json", "llm_struct", "llm_judge", "llm_response")
USER_FUNCTIONS = (*CALLING_FUNCTIONS, "llm_render", "llm_call_log")

CALL_UDF = "_tracesql_llm"
STRUCTURE_UDF = "_tracesql_llm_structure"
RENDER_UDF = "_tracesql_llm_render"
LOG_UDF = "_tracesql_llm_call_log"

SQL_NAMES = frozenset({*USER_FUNCTIONS, CALL_UDF, STRUCTURE_UDF, RENDER_UDF, LOG_UDF})
