"""The normalized trace row: its Arrow schema and the SQL types users see.

Every reader produces rows of exactly this shape (see README "The normalized row").
The first 16 columns follow the reference (Data Designer's NormalizedAgentRolloutRecord)
in name and order; the rest are tracesql's additions.
"""

from __future__ import annotations

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

MESSAGE = pa.struct(
    [
        ("role", pa.string()),
        ("content", pa.list_(CONTENT_BLOCK)),
        ("reasoning_content", pa.string()),
        ("tool_calls", pa.list_(TOOL_CALL)),
        ("tool_call_id", pa.string()),
        ("is_error", pa.bool_()),
        ("timestamp", UTC_TS),
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
    ]
)
