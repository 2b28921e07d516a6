"""The normalized trace row: its Arrow schema and the SQL types users see.

Every reader produces rows of exactly this shape (see README "The normalized row").
The first 16 columns follow the reference (Data Designer's NormalizedAgentRolloutRecord)
in name and order; the rest are tracesql's additions.
"""

from __future__ import annotations

import math
from datetime import datetime

import pyarrow as pa

UTC_TS = pa.timestamp("us", tz="UTC")

CONTENT_BLOCK = pa.struct(
    [
        ("type", pa.string()),
        ("text", pa.string()),
        # The whole original block as JSON text, for every block that is not plain text
        # (images, tool_reference, redacted_thinking, ...). NULL for {"type":"text","text":...}.
        ("data", pa.string()),
    ]
)

TOOL_CALL = pa.struct(
    [
        ("id", pa.string()),
        ("type", pa.string()),
        ("function", pa.struct([("name", pa.string()), ("arguments", pa.string())])),
    ]
)

# Token counts, where the format records them (see docs/usage.md for each format's rules).
# `input_tokens` excludes cache reads and writes: a prompt's size is the sum of the three.
TOKEN_COUNTS = [
    ("input_tokens", pa.int64()),
    ("output_tokens", pa.int64()),  # reasoning (thinking) tokens included
    ("cache_read_tokens", pa.int64()),
    ("cache_write_tokens", pa.int64()),
    ("reasoning_tokens", pa.int64()),  # the part of output_tokens spent reasoning, where recorded
]

MESSAGE = pa.struct(
    [
        ("role", pa.string()),
        ("content", pa.list_(CONTENT_BLOCK)),
        ("reasoning_content", pa.string()),
        ("tool_calls", pa.list_(TOOL_CALL)),
        ("tool_call_id", pa.string()),
        ("is_error", pa.bool_()),
        ("timestamp", UTC_TS),
        # tracesql additions: the model that wrote an assistant message, and the usage of
        # the API response it is (NULL where the format does not record one per message)
        ("model", pa.string()),
        ("usage", pa.struct(TOKEN_COUNTS)),
    ]
)

# One entry of a trace's `usage`: an API response (a Claude Code message, a Codex turn, a
# Pi message, an ATIF step), or the session's totals where only those are recorded.
USAGE_ENTRY = pa.struct(
    [
        # who the response is: the same response copied into another file (a resumed or
        # forked session) has the same id, so it is counted once (usage models dedupe on it)
        ("id", pa.string()),
        ("timestamp", UTC_TS),
        ("model", pa.string()),
        *TOKEN_COUNTS,
        ("cost_usd", pa.float64()),  # what the agent itself recorded it cost, if it did
        ("message_index", pa.int32()),  # 1-based position in `messages`; NULL: off the path, or totals
    ]
)

TRACE_SCHEMA = pa.schema(
    [
        ("trace_id", pa.string()),
        ("source_kind", pa.string()),
        ("source_path", pa.string()),
        ("root_session_id", pa.string()),
        ("agent_id", pa.string()),
        ("is_sidechain", pa.bool_()),
        ("cwd", pa.string()),
        ("project_path", pa.string()),
        ("git_branch", pa.string()),
        ("started_at", UTC_TS),
        ("ended_at", UTC_TS),
        ("messages", pa.list_(MESSAGE)),
        ("source_meta", pa.string()),  # JSON text; the SQL macro casts it to JSON
        ("message_count", pa.int32()),
        ("tool_call_count", pa.int32()),
        ("final_assistant_message", pa.string()),
        # tracesql additions
        ("trace_key", pa.string()),
        ("models", pa.list_(pa.string())),
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("cache_read_tokens", pa.int64()),
        ("cache_write_tokens", pa.int64()),
        ("usage", pa.list_(USAGE_ENTRY)),
    ]
)


def conform_row(row: dict, problems: list[str]) -> dict:
    """A row whose values all fit TRACE_SCHEMA: a string that cannot be encoded (lone
    surrogates) is escaped, a number out of its column's range or a value of the wrong
    kind becomes text where the column is text and NULL elsewhere. `problems` says what
    changed, by column."""
    return {f.name: _conform(row.get(f.name), f.type, f.name, problems) for f in TRACE_SCHEMA}


_INT_RANGES = {pa.int32(): 2**31, pa.int64(): 2**63}


def _conform(value: object, kind: pa.DataType, where: str, problems: list[str]) -> object:
    if value is None:
        return None
    if pa.types.is_string(kind):
        if not isinstance(value, str):
            problems.append(f"{where}: a {type(value).__name__} stored as text")
            value = str(value)
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            problems.append(f"{where}: text that is not valid Unicode escaped")
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if pa.types.is_integer(kind):
        bound = _INT_RANGES.get(kind, 2**63)
        if isinstance(value, int) and not isinstance(value, bool) and -bound <= value < bound:
            return value
        problems.append(f"{where}: {str(value)[:40]} does not fit the column; NULL")
        return None
    if pa.types.is_floating(kind):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if math.isfinite(number):
                return number
        problems.append(f"{where}: {str(value)[:40]} is not a finite number; NULL")
        return None
    if pa.types.is_boolean(kind):
        return value if isinstance(value, bool) else None
    if pa.types.is_timestamp(kind):
        return value if isinstance(value, datetime) and value.tzinfo is not None else None
    if pa.types.is_list(kind):
        if not isinstance(value, list):
            problems.append(f"{where}: not a list; NULL")
            return None
        item = kind.value_type
        return [_conform(v, item, where, problems) for v in value]
    if pa.types.is_struct(kind):
        if not isinstance(value, dict):
            problems.append(f"{where}: not an object; NULL")
            return None
        return {f.name: _conform(value.get(f.name), f.type, f"{where}.{f.name}", problems) for f in kind}
    return value
