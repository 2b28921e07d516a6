"""Building normalized chat messages (the `messages` column) from raw format values.

One place decides how raw content becomes blocks, how tool-call arguments become
strings and how the derived columns are computed, so every format agrees.

Differences from the reference, on purpose: an object-valued content or tool output is
JSON text (sorted keys), never Python repr text; non-text blocks keep their whole payload
as JSON in the block's `data` field.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import orjson

ROLES = ("user", "assistant", "system", "tool")
ROLE_ALIASES = {"developer": "system"}


_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=True)


def dumps(value: Any) -> str:
    """JSON text the way the reference writes arguments: sorted keys, ASCII, `", "` separators."""
    return _ENCODER.encode(value)


def payload(value: Any) -> str:
    """A block's whole payload as JSON text (sorted keys; orjson: base64 images are big)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):  # integers beyond 64 bits, lone surrogates
        return dumps(value)


def stringify_json_value(value: Any) -> str:
    """Tool-call arguments: strings verbatim, None as "{}", anything else as sorted JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return "{}"
    return dumps(value)


def scalar_text(value: Any) -> str | None:
    """A scalar column value as text: None stays None, strings pass, JSON values become JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return dumps(value)


def text_block(text: Any) -> dict:
    return {
        "type": "text",
        "text": "" if text is None else (text if isinstance(text, str) else scalar_text(text)),
        "data": None,
    }


def block(raw: Any) -> dict:
    """One raw content element as a normalized block."""
    if isinstance(raw, dict):
        btype = raw.get("type")
        if btype is None:
            if "text" in raw:
                return text_block(raw["text"])
            return text_block(dumps(raw))
        btype = str(btype)
        text = raw.get("text")
        if btype == "text" and set(raw) <= {"type", "text"} and (text is None or isinstance(text, str)):
            return text_block(text)
        return {"type": btype, "text": text if isinstance(text, str) else None, "data": payload(raw)}
    if isinstance(raw, str):
        return text_block(raw)
    return text_block(dumps(raw))


def blocks(content: Any) -> list[dict]:
    """Message content as a list of blocks: None -> [], a list -> one block per element,
    anything else -> one text block (objects as JSON text)."""
    if content is None:
        return []
    if isinstance(content, list):
        return [block(item) for item in content]
    if isinstance(content, str):
        return [text_block(content)]
    return [text_block(dumps(content))]


def tool_call(call_id: Any, name: Any, arguments: Any) -> dict:
    return {
        "id": scalar_text(call_id),
        "type": "function",
        "function": {"name": scalar_text(name), "arguments": stringify_json_value(arguments)},
    }


def message(
    role: str,
    content: Any = None,
    *,
    reasoning_content: str | None = None,
    tool_calls: list[dict] | None = None,
    tool_call_id: str | None = None,
    is_error: bool | None = None,
    timestamp: datetime | None = None,
    content_blocks: list[dict] | None = None,
    model: str | None = None,
) -> dict:
    """A normalized message. `content` is raw (normalized with `blocks`) unless
    `content_blocks` is given already normalized."""
    role = ROLE_ALIASES.get(role, role)
    if role not in ROLES:
        raise ValueError(f"unsupported message role {role!r}")
    return {
        "role": role,
        "content": content_blocks if content_blocks is not None else blocks(content),
        "reasoning_content": reasoning_content or None,
        "tool_calls": tool_calls or None,
        "tool_call_id": tool_call_id,
        "is_error": is_error,
        "timestamp": timestamp,
        "model": model,
        "usage": None,  # set when a usage entry is linked to the message (Trace.link_usage)
    }


def message_text(msg: dict) -> str:
    """Text of a message: its non-empty text parts joined by blank lines."""
    parts = [b["text"] for b in msg.get("content") or () if b.get("text")]
    return "\n\n".join(parts)


def final_assistant_message(messages: list[dict]) -> str | None:
    """Text of the last assistant message that has text and is not marked as an error
    (an aborted turn's cut-off text is no final answer)."""
    for msg in reversed(messages):
        if msg["role"] != "assistant" or msg.get("is_error"):
            continue
        text = message_text(msg)
        if text:
            return text
    return None


def tool_call_count(messages: list[dict]) -> int:
    return sum(len(m["tool_calls"] or ()) for m in messages)
