"""Hermes Agent sessions (NousResearch/hermes-agent, `~/.hermes/sessions`).

Four artifacts live in that folder, told apart by content, not only by name:

- CLI session log `session_<id>.json`: one JSON document, one trace.
- gateway transcript `<id>.jsonl`: one message per line, the first line usually a
  `{"role": "session_meta", ...}` record (tools, model, platform), read into source_meta.
  Start/end and token counts come from the `sessions.json` index next to it.
- `hermes sessions export` JSONL: one whole session per line, one trace per line.
- `sessions.json`: the gateway's session index (metadata, not a trace).

`request_dump_*.json` (HTTP dumps of failed API calls) and other JSON files are skipped
with a reason. `session_meta` rows inside message lists are metadata, never messages.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from tracesql.readers import messages as msgs
from tracesql.readers.base import ReadContext, Trace, TraceReader
from tracesql.readers.files import plain_name
from tracesql.readers.hermes_agent.index import INDEX_NAME, index_entry, load_index_data
from tracesql.readers.hermes_agent.messages import HermesSession, decode_json_text, token_count, tool_names
from tracesql.readers.jsonl import first_line, jsonl_records, load_json_document, read_document
from tracesql.readers.timestamps import parse_timestamp

USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
SOURCE_KIND = "hermes_agent"
# sessions.json entry fields copied to source_meta (as the reference does).
INDEX_FIELDS = (
    "session_key",
    "display_name",
    "platform",
    "chat_type",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "total_tokens",
    "last_prompt_tokens",
    "estimated_cost_usd",
    "cost_status",
    "memory_flushed",
)
# Export session fields that become columns or messages rather than source_meta keys.
EXPORT_CONSUMED = frozenset({"messages", "system_prompt", "id", "started_at", "ended_at", "model_config"})
EXPORT_RENAMED = {
    "source": "platform",
    "message_count": "exported_message_count",
    "tool_call_count": "exported_tool_call_count",
}
CLI_KNOWN = frozenset(
    {"session_id", "messages", "system_prompt", "tools", "session_start", "last_updated", "message_count"}
)


class HermesAgentReader(TraceReader):
    name = SOURCE_KIND
    function_name = "hermes_agent_traces"
    sniff_priority = 40
    default_path = "~/.hermes/sessions"
    default_pattern = "*.json*"
    version = 3

    def accepts(self, relpath: str) -> str | None:
        name = relpath.rsplit("/", 1)[-1]
        if not (name.endswith(".json") or name.endswith(".jsonl")):
            return "not a .json or .jsonl file (a backup or other artifact), not a Hermes session"
        if name.startswith("request_dump_"):
            return "Hermes request dump (the HTTP request of a failed API call), not a conversation"
        return None

    def sniff(self, path: str, head: bytes) -> bool:
        name = os.path.basename(path)
        if name.endswith(".jsonl"):
            return jsonl_kind(head) in ("gateway", "export")
        if not name.endswith(".json") or name.startswith("request_dump_"):
            return False
        if name == INDEX_NAME:
            return b'"session_id"' in head or b'"session_key"' in head
        if b'"steps"' in head or b'"session_id"' not in head:
            return False
        return b'"session_start"' in head or b'"last_updated"' in head or b'"messages"' in head

    def read_file(self, path: str, ctx: ReadContext) -> list[Trace]:
        if plain_name(path).endswith(".jsonl"):
            return read_jsonl(path, ctx)
        data = read_document(path, ctx)
        if data is None:
            return []
        if os.path.basename(plain_name(path)) == INDEX_NAME:
            _, error = load_index_data(data)
            ctx.skip(
                f"malformed Hermes sessions index: {error}"
                if error
                else "Hermes sessions index (metadata merged into gateway transcripts), not a trace"
            )
            return []
        doc = load_json_document(data, ctx)
        if doc is None:
            return []
        reason = not_a_cli_session(doc)
        if reason:
            ctx.skip(reason)
            return []
        return [read_cli_session(path, doc, ctx)]


# --- CLI session log -------------------------------------------------------------------


def not_a_cli_session(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return f"not a Hermes session: the top level is {type(doc).__name__}, not an object"
    if isinstance(doc.get("messages"), list):
        return None
    if isinstance(doc.get("request"), dict) and ("error" in doc or "response" in doc):
        return "Hermes request dump (the HTTP request of a failed API call), not a conversation"
    keys = ", ".join(sorted(map(str, doc))[:8])
    return f"not a Hermes CLI session: no 'messages' list (top-level keys: {keys})"


def read_cli_session(path: str, doc: dict, ctx: ReadContext) -> Trace:
    stem = os.path.basename(plain_name(path))[: -len(".json")]
    trace_id = msgs.scalar_text(doc.get("session_id")) or stem.removeprefix("session_")
    trace = Trace(trace_id, SOURCE_KIND, path, trace_id)
    session = HermesSession(trace, ctx)
    raw_messages = doc["messages"]
    trace.messages = system_prompt_messages(doc.get("system_prompt")) + session.convert(raw_messages)
    set_time(trace, "start", doc.get("session_start"))
    set_time(trace, "end", doc.get("last_updated"))
    model_config = decode_json_text(doc.get("model_config"))
    cwd = doc.get("cwd")
    if not isinstance(cwd, str) and isinstance(model_config, dict):
        cwd = model_config.get("cwd")
    if isinstance(cwd, str) and cwd:
        trace.cwd = trace.project_path = cwd
    trace.add_model(doc.get("model"))
    names = tool_names(doc.get("tools"))
    meta: dict[str, Any] = {
        "record_count": len(raw_messages),
        "session_format": "cli_session_log",
        "available_tool_count": len(names),
        "available_tool_names": names,
        "finish_reasons": session.finish_reasons,
    }
    for key in ("model", "base_url", "platform"):
        value = msgs.scalar_text(doc.get(key))
        if value:
            meta[key] = value
    add_system_prompt_meta(meta, doc.get("system_prompt"))
    if isinstance(doc.get("tools"), list) and doc["tools"]:
        meta["tools"] = msgs.stringify_json_value(doc["tools"])
    meta["tool_names_used"] = session.tool_names_used
    if model_config is not None:
        meta["model_config"] = model_config
    if doc.get("message_count") is not None:
        meta["declared_message_count"] = doc["message_count"]
    for key, value in doc.items():  # additive schema drift (tags, client metadata...)
        if key not in CLI_KNOWN and key not in meta and value is not None:
            meta[key] = value
    add_session_meta(meta, session)
    trace.source_meta = meta
    return trace


# --- JSONL: gateway transcript or sessions export ----------------------------------------


def jsonl_kind(head: bytes) -> str:
    """'gateway', 'export', or a reason the JSONL is neither, from its first record."""
    first = first_line(head)
    try:
        record = orjson.loads(first)
    except orjson.JSONDecodeError:
        if head.find(b"\n", head.find(first) + len(first)) >= 0:  # the whole line is there
            return "not a Hermes transcript: the first line is not JSON"
        # A first line longer than the sniffed head: judge by the keys seen so far.
        if first.startswith(b'{"role"'):
            return "gateway"
        if b'"started_at"' in first and (b'"end_reason"' in first or b'"system_prompt"' in first):
            return "export"
        return "not a Hermes transcript: the first record is not a session or a message"
    return record_kind(record)


def record_kind(record: Any) -> str:
    if not isinstance(record, dict):
        return "not a Hermes transcript: the first record is not a JSON object"
    if isinstance(record.get("messages"), list) and "role" not in record:
        return "export"
    if "role" in record and "type" not in record:
        return "gateway"
    if "conversations" in record:
        return "Hermes ShareGPT trajectory (a training-data export), not a session"
    if "type" in record:
        kind = record.get("type")
        return f"not a Hermes transcript: records have a 'type' field ({kind!r}; another agent's JSONL?)"
    keys = ", ".join(sorted(map(str, record))[:8])
    return f"not a Hermes transcript: the first record has neither 'role' nor 'messages' (keys: {keys})"


def read_jsonl(path: str, ctx: ReadContext) -> list[Trace]:
    records = list(jsonl_records(path, ctx))
    if not records:
        if not ctx.skipped:
            ctx.skip("no JSON records in this file (empty transcript)")
        return []
    kind = record_kind(records[0][1])
    if kind == "gateway":
        return [read_gateway(path, records, ctx)]
    if kind == "export":
        return read_export(path, records, ctx)
    ctx.skip(kind, line=records[0][0])
    return []


def read_gateway(path: str, records: list[tuple[int, dict]], ctx: ReadContext) -> Trace:
    trace_id = os.path.basename(plain_name(path))[: -len(".jsonl")]
    trace = Trace(trace_id, SOURCE_KIND, path, trace_id)
    session = HermesSession(trace, ctx)
    lines = [line for line, _ in records]
    trace.messages = session.convert([record for _, record in records], lines, what="record")
    entry = index_entry(os.path.dirname(path), trace_id, ctx)
    meta: dict[str, Any] = {
        "record_count": len(records),
        "session_format": "gateway_transcript",
        "finish_reasons": session.finish_reasons,
        "tool_names_used": session.tool_names_used,
    }
    for key in INDEX_FIELDS:
        if key in entry:
            meta[key] = entry[key]
    if isinstance(entry.get("origin"), dict) and entry["origin"]:
        meta["origin"] = entry["origin"]
    if entry:
        set_time(trace, "start", entry.get("created_at"))
        set_time(trace, "end", entry.get("updated_at"))
        trace.add_model(entry.get("model"))
        add_usage(trace, entry)
    add_session_meta(meta, session)
    trace.source_meta = meta
    return trace


def read_export(path: str, records: list[tuple[int, dict]], ctx: ReadContext) -> list[Trace]:
    """`hermes sessions export`: one session per line."""
    sessions: list[tuple[int, dict]] = []
    for line, record in records:
        if isinstance(record.get("messages"), list):
            sessions.append((line, record))
        else:
            ctx.warn("not an exported session (no 'messages' list); line skipped", line=line)
    stem = os.path.basename(plain_name(path))[: -len(".jsonl")]
    ids = {
        line: msgs.scalar_text(s.get("id") or s.get("session_id")) or f"{stem}:{line}" for line, s in sessions
    }
    parents = {ids[line]: msgs.scalar_text(s.get("parent_session_id")) for line, s in sessions}
    traces = []
    for line, record in sessions:
        trace_id = ids[line]
        trace = Trace(trace_id, SOURCE_KIND, path, chain_root(trace_id, parents))
        session = HermesSession(trace, ctx, line=line)
        trace.messages = system_prompt_messages(record.get("system_prompt")) + session.convert(
            record["messages"]
        )
        set_time(trace, "start", record.get("started_at"))
        set_time(trace, "end", record.get("ended_at"))
        trace.add_model(record.get("model"))
        add_usage(trace, record)
        if isinstance(record.get("cwd"), str) and record["cwd"]:
            trace.cwd = record["cwd"]
            trace.project_path = record.get("git_repo_root") or record["cwd"]
        if isinstance(record.get("git_branch"), str):
            trace.git_branch = record["git_branch"]
        meta: dict[str, Any] = {
            "record_count": len(record["messages"]),
            "session_format": "sessions_export",
            "line": line,
            "finish_reasons": session.finish_reasons,
            "tool_names_used": session.tool_names_used,
        }
        add_system_prompt_meta(meta, record.get("system_prompt"))
        if record.get("model_config") is not None:
            meta["model_config"] = decode_json_text(record["model_config"])
        for key, value in record.items():
            if key not in EXPORT_CONSUMED and value is not None:
                meta[EXPORT_RENAMED.get(key, key)] = value
        add_session_meta(meta, session)
        trace.source_meta = meta
        traces.append(trace)
    if not traces and not ctx.skipped:
        ctx.skip("no exported sessions in this file")
    return traces


def chain_root(session_id: str, parents: dict[str, str | None]) -> str:
    """The first session of a chain split by context compression (parent_session_id links)."""
    current, seen = session_id, {session_id}
    while True:
        parent = parents.get(current)
        if not parent or parent in seen:
            return current
        seen.add(parent)
        current = parent


# --- shared helpers ----------------------------------------------------------------------


def system_prompt_messages(prompt: Any) -> list[dict]:
    return [msgs.message("system", prompt)] if isinstance(prompt, str) and prompt else []


def add_system_prompt_meta(meta: dict, prompt: Any) -> None:
    if isinstance(prompt, str) and prompt:
        meta["has_system_prompt"] = True
        meta["system_prompt_chars"] = len(prompt)


def set_time(trace: Trace, which: str, raw: Any) -> None:
    """A start/end the format names explicitly (kept raw in source_meta); an absent or
    unparseable value leaves the range of message timestamps in charge."""
    if raw is None:
        return
    parsed = parse_timestamp(raw)
    if parsed is None:  # keep the raw spelling, take the instant from the messages
        parsed = trace.times.start if which == "start" else trace.times.end
    if which == "start":
        trace.started_at, trace.started_at_raw = parsed, raw
    else:
        trace.ended_at, trace.ended_at_raw = parsed, raw


def add_usage(trace: Trace, record: dict) -> None:
    """The session's token totals (Hermes records no per-message usage) as one usage entry,
    named by the session id: the same session read from its transcript and from an export
    is counted once."""
    counts = {key: token_count(record.get(key)) for key in USAGE_KEYS}
    if all(value is None for value in counts.values()):
        return
    cost = record.get("actual_cost_usd")
    trace.add_usage(
        f"hermes:{trace.trace_id}",
        trace.ended_at or trace.times.end or trace.started_at or trace.times.start,
        record.get("model"),
        input=counts["input_tokens"],
        output=counts["output_tokens"],
        cache_read=counts["cache_read_tokens"],
        cache_write=counts["cache_write_tokens"],
        reasoning=counts["reasoning_tokens"],
        cost_usd=cost if cost is not None else record.get("estimated_cost_usd"),
    )


def add_session_meta(meta: dict, session: HermesSession) -> None:
    """`session_meta` records: model, platform, tools fill gaps; all kept as `session_meta`."""
    if not session.session_meta:
        return
    meta["session_meta"] = session.session_meta
    for fields in session.session_meta:
        for key in ("model", "platform"):
            value = msgs.scalar_text(fields.get(key))
            if value and key not in meta:
                meta[key] = value
        if isinstance(fields.get("tools"), list) and "available_tool_names" not in meta:
            names = tool_names(fields["tools"])
            meta["available_tool_count"] = len(names)
            meta["available_tool_names"] = names
            meta["tools"] = msgs.stringify_json_value(fields["tools"])
    for fields in session.session_meta:  # the tools are in `tools`; keep the rest small
        fields.pop("tools", None)
