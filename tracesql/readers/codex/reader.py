"""OpenAI Codex CLI rollouts (~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl).

Three on-disk generations are read:

- wrapped lines `{timestamp, type, payload}` (session_meta, response_item, event_msg,
  turn_context, compacted, and whatever later builds add);
- legacy rollouts of mid-2025: a bare header `{id, timestamp, instructions, git}`, then
  `{"record_type": "state"}` markers and bare response items with no wrapper;
- both with an optional per-line `ordinal` (ignored).

One file is one trace. Its identity is the FIRST session_meta: a forked or sub-agent
rollout replays its parent's history, parent session_meta lines included, after its own
(`source_meta.replayed_session_ids`). A sub-agent (`source.subagent`) is a side chain:
`agent_id` is its own thread id and `root_session_id` the session at the top of its
spawn chain (see codex_lineage). How items become messages: codex_transcript.
"""

from __future__ import annotations

import os
import re
from typing import Any

from tracesql.readers import messages as msgs
from tracesql.readers.base import ReadContext, Trace, TraceReader
from tracesql.readers.codex import lineage as codex_lineage
from tracesql.readers.codex.transcript import Transcript, codex_blocks
from tracesql.readers.codex.usage import FLAT_USAGE_KEYS, TokenCounts, entry_counts
from tracesql.readers.files import plain_name
from tracesql.readers.jsonl import head_lines, json_object, read_jsonl_records
from tracesql.readers.timestamps import parse_timestamp

RECORD_TYPES = frozenset(("session_meta", "response_item", "event_msg", "turn_context", "compacted"))
LEGACY_HEADER_KEYS = ("instructions", "git", "originator", "cli_version", "cwd")
COPIED_META_KEYS = ("originator", "cli_version", "model_provider")
SUBAGENT_META_KEYS = ("agent_nickname", "agent_role", "agent_path", "depth")
ENVIRONMENT_CWD = re.compile(r"<cwd>(.*?)</cwd>", re.S)


class CodexReader(TraceReader):
    name = "codex"
    function_name = "codex_traces"
    sniff_priority = 30
    default_path = "~/.codex/sessions"
    default_pattern = "rollout-*.jsonl"
    version = 3

    def sniff(self, path: str, head: bytes) -> bool:
        lines = head_lines(head, 2)
        first = lines[0] if lines else b""
        record = json_object(first)
        if record is None:
            # A first line longer than the head (huge base_instructions) cannot be parsed.
            return first.startswith(b"{") and b'"type":"session_meta"' in first and b'"payload"' in first
        rtype = record.get("type")
        if isinstance(rtype, str) and rtype in RECORD_TYPES and isinstance(record.get("payload"), dict):
            return True
        return is_legacy_header(record) or (len(lines) > 1 and lines[1].startswith(b'{"record_type"'))

    def read_file(self, path: str, ctx: ReadContext) -> list[Trace]:
        records = read_jsonl_records(path, ctx)
        if not records:
            return []
        lines = classify(records)
        if not any(kind is not None for _, kind, _, _ in lines):
            first = records[0][1]
            what = f"type {first.get('type')!r}" if "type" in first else f"keys {sorted(first)[:6]}"
            ctx.skip(
                f"not a Codex rollout: no session_meta, response_item or event_msg records (first record has {what})"
            )
            return []
        return [RolloutParser(path, ctx).parse(lines)]


def environment_cwd(messages: list[dict]) -> str | None:
    """The `<cwd>` of the first `<environment_context>` message: where legacy rollouts (no
    cwd in their header, no turn_context) say which folder the session ran in."""
    for m in messages:
        if m["role"] not in ("user", "system"):
            continue
        for block in m["content"]:
            text = block.get("text")
            if text and "<environment_context>" in text:
                found = ENVIRONMENT_CWD.search(text)
                if found and found.group(1).strip():
                    return found.group(1).strip()
    return None


def is_legacy_header(record: dict) -> bool:
    """The bare first line of a pre-envelope rollout: {id, timestamp, instructions, git...}."""
    if "type" in record or "payload" in record or "role" in record or "messages" in record:
        return False
    return "id" in record and "timestamp" in record and any(k in record for k in LEGACY_HEADER_KEYS)


def classify(records: list[tuple[int, dict]]) -> list[tuple[int, str | None, Any, Any]]:
    """(line, kind, payload, timestamp) per record; kind None for records not of Codex."""
    out: list[tuple[int, str | None, Any, Any]] = []
    legacy = bool(records) and is_legacy_header(records[0][1])
    for index, (lineno, rec) in enumerate(records):
        rtype = rec.get("type")
        if not isinstance(rtype, str):
            rtype = None
        if "payload" in rec or rtype in RECORD_TYPES:
            out.append(
                (
                    lineno,
                    rtype if isinstance(rtype, str) and rtype else "unknown",
                    rec.get("payload"),
                    rec.get("timestamp"),
                )
            )
        elif "record_type" in rec:
            out.append((lineno, "state", None, None))
        elif index == 0 and legacy:
            out.append((lineno, "legacy_header", rec, rec.get("timestamp")))
        elif legacy and ((isinstance(rtype, str) and rtype) or "role" in rec):
            out.append((lineno, "response_item", rec, rec.get("timestamp")))
        else:
            out.append((lineno, None, rec, rec.get("timestamp")))
    return out


class RolloutParser:
    """Reads the classified lines of one rollout into one Trace."""

    def __init__(self, path: str, ctx: ReadContext) -> None:
        self.path = path
        self.ctx = ctx
        self.transcript = Transcript()
        self.meta: dict | None = None  # this session's own (first) session_meta payload
        self.replayed_ids: list[str] = []
        self.record_types: set[str] = set()
        self.item_types: set[str] = set()
        self.event_types: set[str] = set()
        self.warned_types: set[str] = set()
        self.models: list[str] = []
        self.turn_cwd: str | None = None
        self.turn_model: str | None = None  # the latest turn_context's model
        self.total_usage: dict | None = None
        self.summed_usage: dict[str, int] = {}
        self.token_counts = TokenCounts()
        self.turns: list[tuple[dict, str, Any, dict | None]] = []  # (counts, name, timestamp, message)
        self.counted_upto = 0  # messages before this one have had their token_count
        self.call_failed: dict[str, bool] = {}
        self.compactions = 0
        self.legacy = False
        self.record_count = 0

    def parse(self, lines: list[tuple[int, str | None, Any, Any]]) -> Trace:
        stem = os.path.splitext(os.path.basename(plain_name(self.path)))[0]
        trace = Trace(trace_id=stem, source_kind="codex", source_path=self.path, root_session_id=stem)
        roles_in_items = {
            payload["role"]
            for _, kind, payload, _ in lines
            if kind == "response_item"
            and isinstance(payload, dict)
            and isinstance(payload.get("role"), str)
            and payload.get("type", "message") == "message"
        }
        self.events_for_user = "user" not in roles_in_items
        self.events_for_assistant = "assistant" not in roles_in_items
        self.record_count = len(lines)
        add_time = trace.times.add
        for lineno, kind, payload, raw_ts in lines:
            self.record_types.add(kind or "unknown")
            ts = add_time(raw_ts) if raw_ts is not None else None
            if kind == "response_item":
                self.on_response_item(payload, ts, lineno)
            elif kind == "event_msg":
                self.on_event(payload, ts, raw_ts)
            elif kind == "session_meta" or kind == "legacy_header":
                self.legacy = self.legacy or kind == "legacy_header"
                self.on_session_meta(payload, trace, lineno)
            elif kind == "turn_context":
                self.on_turn_context(payload)
            elif kind == "compacted":
                self.on_compacted(payload, ts)
        self.finish(trace)
        return trace

    # records ---------------------------------------------------------------------

    def on_response_item(self, item: Any, ts: Any, lineno: int) -> None:
        if not isinstance(item, dict):
            self.ctx.warn("response_item payload is not an object; skipped", line=lineno)
            return
        itype = item.get("type")
        if not isinstance(itype, str) or not itype:
            # Some writers leave `type` out of message items: {role, content}.
            itype = "message" if "role" in item and "content" in item else "unknown"
        self.item_types.add(itype)
        problem = self.transcript.response_item(item, itype, ts)
        if problem and problem not in self.warned_types:
            self.warned_types.add(problem)
            self.ctx.warn(problem, line=lineno)

    def on_event(self, event: Any, ts: Any, raw_ts: Any = None) -> None:
        if not isinstance(event, dict):
            return
        etype = event.get("type")
        if not isinstance(etype, str):
            return
        self.event_types.add(etype)
        if etype == "agent_reasoning" or etype == "agent_reasoning_raw_content":
            text = event.get("text")
            if isinstance(text, str):
                self.transcript.reasoning_event(text)
        elif etype == "token_count":
            if "info" not in event and any(k in event for k in FLAT_USAGE_KEYS):
                self.on_token_count({"last_token_usage": event})  # early builds: one turn's usage, flat
            else:
                self.on_token_count(event.get("info"))
            self.on_turn_usage(event, ts, raw_ts)
        elif etype == "user_message" and self.events_for_user:
            blocks = codex_blocks(event.get("message"))
            images = event.get("images")
            if isinstance(images, list):
                blocks.extend(msgs.block({"type": "input_image", "image_url": url}) for url in images)
            self.transcript.non_assistant("user", blocks, ts)
        elif etype == "agent_message" and self.events_for_assistant:
            self.transcript.assistant_text(codex_blocks(event.get("message")), ts)
        elif etype == "exec_command_end" and isinstance(event.get("exit_code"), int):
            self.call_failed[str(event.get("call_id"))] = event["exit_code"] != 0
        elif etype == "patch_apply_end" and isinstance(event.get("success"), bool):
            self.call_failed[str(event.get("call_id"))] = not event["success"]
        elif etype == "mcp_tool_call_end" and isinstance(event.get("result"), dict):
            self.call_failed[str(event.get("call_id"))] = "Err" in event["result"]

    def on_session_meta(self, payload: Any, trace: Trace, lineno: int) -> None:
        if not isinstance(payload, dict):
            self.ctx.warn("session_meta payload is not an object; skipped", line=lineno)
            return
        if self.meta is None:
            self.meta = payload
            trace.times.add(payload.get("timestamp"))
            self.add_model(payload.get("model"))
            return
        replayed = msgs.scalar_text(payload.get("id"))
        own = msgs.scalar_text(self.meta.get("id"))
        if replayed and replayed != own and replayed not in self.replayed_ids:
            self.replayed_ids.append(replayed)

    def on_turn_context(self, payload: Any) -> None:
        if not isinstance(payload, dict):
            return
        self.add_model(payload.get("model"))
        if isinstance(payload.get("model"), str) and payload["model"]:
            self.turn_model = payload["model"]
        if self.turn_cwd is None and isinstance(payload.get("cwd"), str):
            self.turn_cwd = payload["cwd"]

    def on_compacted(self, payload: Any, ts: Any) -> None:
        self.compactions += 1
        if isinstance(payload, dict) and isinstance(payload.get("message"), str) and payload["message"]:
            self.transcript.non_assistant("system", [msgs.text_block(payload["message"])], ts)

    def on_token_count(self, info: Any) -> None:
        if not isinstance(info, dict):
            return
        self.add_model(info.get("model"))
        total = info.get("total_token_usage")
        if isinstance(total, dict):
            self.total_usage = total
        elif isinstance(info.get("last_token_usage"), dict):
            for key, value in info["last_token_usage"].items():
                if isinstance(value, int) and not isinstance(value, bool):
                    self.summed_usage[key] = self.summed_usage.get(key, 0) + value

    def on_turn_usage(self, event: dict, ts: Any, raw_ts: Any) -> None:
        """One turn's usage (codex_usage), for the last assistant message since the previous one."""
        turn = self.token_counts.turn(event)
        if turn is None:
            return
        counts, name = turn
        messages = self.transcript.messages
        message = next((m for m in reversed(messages[self.counted_upto :]) if m["role"] == "assistant"), None)
        self.counted_upto = len(messages)
        info = event.get("info")
        model = info.get("model") if isinstance(info, dict) else None
        model = model if isinstance(model, str) and model else self.turn_model
        self.turns.append((counts, f"codex:{msgs.scalar_text(raw_ts)}:{name}", (ts, model), message))

    def add_model(self, model: Any) -> None:
        if isinstance(model, str) and model and model not in self.models:
            self.models.append(model)

    # the row ---------------------------------------------------------------------

    def finish(self, trace: Trace) -> None:
        meta = self.meta or {}
        messages = self.transcript.messages
        for m in messages:
            if m["role"] == "tool" and m["is_error"] is None and m["tool_call_id"] in self.call_failed:
                m["is_error"] = self.call_failed[m["tool_call_id"]]
        trace.messages = messages
        session_id = msgs.scalar_text(meta.get("id"))
        if session_id:
            trace.trace_id = trace.root_session_id = session_id
        cwd = meta.get("cwd") if isinstance(meta.get("cwd"), str) and meta.get("cwd") else self.turn_cwd
        trace.cwd = trace.project_path = cwd or environment_cwd(messages)
        git = meta.get("git")
        branch = git.get("branch") if isinstance(git, dict) else None
        trace.git_branch = msgs.scalar_text(branch or meta.get("git_branch")) or None
        started_raw = meta.get("timestamp")
        started = parse_timestamp(started_raw)
        if started is not None:
            trace.started_at, trace.started_at_raw = started, started_raw
        for model in self.models:
            trace.add_model(model)
        self.add_usage(trace)
        trace.source_meta = self.source_meta(meta, git, trace)
        self.set_lineage(trace, meta)
        if started is not None:
            replayed = 0
            for m in messages:
                if m["timestamp"] is None or m["timestamp"] >= started:
                    break
                replayed += 1
            if replayed:
                trace.source_meta["replayed_prefix_messages"] = replayed

    def add_usage(self, trace: Trace) -> None:
        session_model = self.meta.get("model") if self.meta else None
        for counts, name, (ts, model), message in self.turns:
            trace.add_usage(name, ts, model or session_model, message=message, **entry_counts(counts))

    def source_meta(self, meta: dict, git: Any, trace: Trace) -> dict:
        out: dict[str, Any] = {
            "record_count": self.record_count,
            "record_types": sorted(self.record_types),
            "response_item_types": sorted(self.item_types),
        }
        for key in COPIED_META_KEYS:
            value = meta.get(key)
            if value:
                out[key] = msgs.scalar_text(value)
        if meta.get("source"):
            out["source"] = meta["source"]
        unattached = self.transcript.pending_reasoning()
        if unattached:
            out["unattached_reasoning"] = list(unattached)
        out["rollout_format"] = "legacy" if self.legacy else "wrapped"
        if isinstance(git, dict) and git:
            out["git"] = git
        if meta.get("forked_from_id"):
            out["forked_from_id"] = meta["forked_from_id"]
        if self.replayed_ids:
            out["replayed_session_ids"] = self.replayed_ids
        if self.event_types:
            out["event_types"] = sorted(self.event_types)
        if self.total_usage or self.summed_usage:
            out["token_usage"] = self.total_usage or self.summed_usage
        if self.compactions:
            out["compactions"] = self.compactions
        return out

    def set_lineage(self, trace: Trace, meta: dict) -> None:
        source = meta.get("source")
        sub = source.get("subagent") if isinstance(source, dict) else None
        parent = meta.get("parent_thread_id")
        details: dict = {}
        if sub is not None:
            kind = sub if isinstance(sub, str) else next(iter(sub), None) if isinstance(sub, dict) else None
            trace.source_meta["subagent"] = kind
            if isinstance(sub, dict) and isinstance(sub.get(kind), dict):
                details = sub[kind]
                parent = details.get("parent_thread_id") or parent
        if sub is None and not parent:
            return
        trace.is_sidechain = True
        trace.agent_id = trace.trace_id
        for key in SUBAGENT_META_KEYS:
            value = details.get(key, meta.get(key))
            if value is not None:
                trace.source_meta[key] = value
        parent = msgs.scalar_text(parent) if parent else None
        if parent:
            trace.source_meta["parent_thread_id"] = parent
            depth = details.get("depth")
            trace.root_session_id = codex_lineage.root_of(parent, depth, self.ctx)
