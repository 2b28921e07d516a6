"""Hermes Agent message lists (OpenAI chat style) as normalized messages.

Shared by the three Hermes artifacts (CLI session log, gateway transcript, sessions
export). A `HermesSession` collects what the messages say about the session while they
are converted: finish reasons, tool names, `session_meta` rows (metadata, not messages),
timestamps. Content follows the reference: `null` content is one empty text block, an
object is sorted-keys JSON text, a list keeps its parts.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import orjson

from tracesql.readers import messages as msgs
from tracesql.readers.timestamps import parse_timestamp

if TYPE_CHECKING:
    from tracesql.readers.base import ReadContext, Trace

CHAT_ROLES = frozenset({"user", "assistant", "system", "tool", "developer"})
META_ROLE = "session_meta"
# Columns of the Hermes `messages` table: not session metadata when found on a session_meta row.
DB_ROW_KEYS = frozenset(
    {
        "id",
        "session_id",
        "role",
        "content",
        "tool_call_id",
        "tool_calls",
        "tool_name",
        "timestamp",
        "token_count",
    }
)


class HermesSession:
    """What one session's messages tell, gathered while converting them."""

    def __init__(self, trace: Trace, ctx: ReadContext, line: int | None = None) -> None:
        self.trace = trace
        self.ctx = ctx
        self.line = line  # the JSONL line holding the whole session (exports), else None
        self.finish_reasons: list[str] = []
        self.tool_names_used: list[str] = []
        self.session_meta: list[dict] = []

    def warn(self, reason: str, line: int | None = None) -> None:
        self.ctx.warn(reason, line=line if line is not None else self.line)

    def convert(
        self, raw_messages: list, lines: list[int] | None = None, what: str = "message"
    ) -> list[dict]:
        """Normalized messages for a raw list; `lines` gives each item's file line (JSONL)."""
        out: list[dict] = []
        for i, raw in enumerate(raw_messages):
            line = lines[i] if lines is not None else None
            label = f"{what} #{i + 1}" if lines is None else what
            if not isinstance(raw, dict):
                self.warn(f"{label} is not an object ({type(raw).__name__}); skipped", line)
                continue
            role = raw.get("role")
            if role == META_ROLE:
                self.absorb_meta(raw)
                continue
            if not isinstance(role, str) or role not in CHAT_ROLES:
                self.warn(f"{label} has unsupported role {role!r}; skipped", line)
                continue
            out.append(self.convert_one(raw, role, label, line))
        return out

    def convert_one(self, raw: dict, role: str, label: str, line: int | None) -> dict:
        stamp = raw.get("timestamp")
        when = parse_timestamp(stamp) if stamp is not None else None
        if when is not None:
            self.trace.times.add(stamp)
        content = msgs.blocks("" if raw.get("content") is None else raw["content"])
        self.collect_tool_names(raw.get("tool_calls"))
        if role == "tool":
            call_id = raw.get("tool_call_id")
            if not (isinstance(call_id, str) and call_id):
                self.warn(f"{label}: tool message without a tool_call_id; kept unlinked", line)
                call_id = msgs.scalar_text(call_id) or None
            return msgs.message("tool", content_blocks=content, tool_call_id=call_id, timestamp=when)
        finish = msgs.scalar_text(raw.get("finish_reason")) if role == "assistant" else None
        if finish and finish not in self.finish_reasons:
            self.finish_reasons.append(finish)
        return msgs.message(
            role,
            content_blocks=content,
            reasoning_content=reasoning_of(raw),
            tool_calls=self.tool_calls(raw.get("tool_calls"), label, line),
            timestamp=when,
        )

    def tool_calls(self, raw_calls: Any, label: str, line: int | None) -> list[dict] | None:
        raw_calls = decode_json_text(raw_calls)
        if raw_calls is None:
            return None
        if not isinstance(raw_calls, list):
            self.warn(f"{label}: tool_calls is {type(raw_calls).__name__}, not a list; ignored", line)
            return None
        calls = []
        for n, call in enumerate(raw_calls, start=1):
            if not isinstance(call, dict):
                self.warn(f"{label}: tool call {n} is not an object; skipped", line)
                continue
            function = call.get("function")
            function = function if isinstance(function, dict) else {}
            call_id = call.get("id") or call.get("call_id")
            name = function.get("name") or call.get("name")
            if not call_id or not name:
                missing = "an id" if not call_id else "a function name"
                self.warn(f"{label}: tool call {n} has no {missing}; kept as is", line)
            arguments = function["arguments"] if "arguments" in function else call.get("arguments")
            calls.append(msgs.tool_call(call_id or None, name or None, arguments))
        return calls

    def collect_tool_names(self, raw_calls: Any) -> None:
        if not isinstance(raw_calls, list):
            return
        for call in raw_calls:
            if isinstance(call, dict):
                function = call.get("function")
                name = function.get("name") if isinstance(function, dict) else None
                if name and isinstance(name, str) and name not in self.tool_names_used:
                    self.tool_names_used.append(name)

    def absorb_meta(self, raw: dict) -> None:
        """A `session_meta` row (gateway first line, or carried into the DB/export): its
        model, platform, tools and timestamp describe the session."""
        fields = {
            k: v
            for k, v in raw.items()
            if k != "role" and v is not None and (k not in DB_ROW_KEYS or k == "timestamp")
        }
        self.session_meta.append(fields)
        if raw.get("timestamp") is not None:
            self.trace.times.add(raw["timestamp"])
        self.trace.add_model(raw.get("model"))


def reasoning_of(raw: dict) -> str | None:
    """Reasoning text from `reasoning`, `reasoning_content`, else `reasoning_details` /
    `codex_reasoning_items` (their text or summary parts). Encrypted parts are skipped."""
    parts: list[str] = []
    for key in ("reasoning", "reasoning_content"):
        text = msgs.scalar_text(raw.get(key))
        if text and text not in parts:
            parts.append(text)
    if not parts:
        for key in ("reasoning_details", "codex_reasoning_items"):
            parts.extend(t for t in detail_texts(decode_json_text(raw.get(key))) if t not in parts)
            if parts:
                break
    return "\n\n".join(parts) or None


def detail_texts(items: Any) -> list[str]:
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        return []
    texts = []
    for item in items:
        if isinstance(item, str) and item:
            texts.append(item)
        elif isinstance(item, dict):
            for key in ("text", "summary", "content"):
                value = item.get(key)
                if isinstance(value, str) and value:
                    texts.append(value)
                    break
                if isinstance(value, list):
                    texts.extend(detail_texts(value))
                    break
    return texts


def decode_json_text(value: Any) -> Any:
    """SQLite-backed exports may keep list/object columns as JSON text."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def tool_names(tools: Any) -> list[str]:
    """Distinct non-empty declared function names, in declaration order."""
    if not isinstance(tools, list):
        return []
    names: list[str] = []
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if isinstance(name, str) and name and name not in names:
            names.append(name)
    return names


def token_count(value: Any) -> int | None:
    """A token count: ints and finite floats (NaN and Infinity parse from JSON too)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if math.isfinite(value) else None
