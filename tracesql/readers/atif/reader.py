"""ATIF trajectories (Agent Trajectory Interchange Format: Harbor and other producers).

One trajectory document (`*.json`) gives one row; ATIF v1.7 `subagent_trajectories`
embedded in it give one more row each (a sidechain of the parent's session). The
OpenAgents streaming variant (`*.atif.jsonl`: a `{"__header__": true, ...}` line, then
one step per line) is read too; select it with `file_pattern := '*.json*'`.

Mapping: a step is one message (agent -> assistant with its reasoning and tool calls,
user, system); each observation result with content follows it as a tool message. Real
producers bend the spec; every bent rule is a warning naming it (see atif_rules.py), and
`strict := true` makes those errors. Files that are not trajectories (Harbor
config.json/result.json, `.index.json` sidecars, `.traces.json` SFT exports) are skipped
with a reason.

Tokens: step `metrics` summed over steps that are not copied context (prompt_tokens
includes cached tokens, so input_tokens = prompt - cached and cache_read_tokens =
cached); `final_metrics` only when no step has metrics.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from tracesql.readers import messages as msgs
from tracesql.readers.atif.rules import RuleLog, document_step_lines
from tracesql.readers.atif.steps import StepReader, apply_usage
from tracesql.readers.base import ReadContext, Trace, TraceReader
from tracesql.readers.files import plain_name
from tracesql.readers.jsonl import (
    first_line,
    iter_jsonl,
    jsonl_records,
    load_json_document,
    read_document,
    strip_bom,
)

SOURCE_KIND = "atif"
_ATIF_VERSION = re.compile(rb'"schema_version"\s*:\s*"ATIF-v')


HEAD_LIMIT = 64 * 1024  # traces() offers the first 64 KiB of a file


class AtifReader(TraceReader):
    name = SOURCE_KIND
    function_name = "atif_traces"
    sniff_priority = 10
    default_path = None
    default_pattern = "*.json"
    version = 4

    def accepts(self, relpath: str) -> str | None:
        if relpath.endswith(".json") or relpath.endswith(".jsonl"):
            return None
        return "not a .json or .jsonl file, not an ATIF trajectory"

    def sniff(self, path: str, head: bytes) -> bool:
        if path.endswith(".jsonl"):
            first = strip_bom(head).lstrip()[:4096]
            return first.startswith(b'{"__header__"') or (b'"__header__"' in first and b"ATIF-v" in first)
        if not path.endswith(".json"):
            return False
        if _ATIF_VERSION.search(head):
            return True
        return b'"steps"' in head and b'"step_id"' in head and b'"source"' in head

    def explain(self, path: str, head: bytes) -> str | None:
        """Files found beside trajectories: Harbor trial configs and results, index sidecars,
        SFT exports (judged from the whole document when it fits in the head)."""
        if not path.endswith(".json") or len(head) >= HEAD_LIMIT:
            return None
        try:
            doc = orjson.loads(strip_bom(head))
        except orjson.JSONDecodeError:
            return None
        reason = not_a_trajectory(doc)
        if reason is None or reason.startswith(("no 'steps' list", "the top level is")):
            return None
        return f"not a trajectory: {reason}"

    def read_file(self, path: str, ctx: ReadContext) -> list[Trace]:
        if plain_name(path).endswith(".jsonl"):
            return read_stream(path, jsonl_records(path, ctx), ctx)
        data = read_document(path, ctx)
        if data is None:
            return []
        if first_line(data[:HEAD_LIMIT]).startswith(b'{"__header__"'):
            return read_stream(path, iter_jsonl(data, ctx), ctx)
        doc = load_json_document(data, ctx)
        if doc is None:
            return []
        reason = not_a_trajectory(doc)
        if reason:
            ctx.skip(f"not a trajectory: {reason}")
            return []
        known: list[int] = []

        def step_line(index: int) -> int | None:
            if index >= len(known):  # walk the document only as far as needed
                known[:] = document_step_lines(data, index) or []
            return known[index] if index < len(known) else None

        return read_trajectory(path, doc, ctx, step_line)


def not_a_trajectory(doc: Any) -> str | None:
    """Why a JSON document is not an ATIF trajectory, or None if it is one."""
    if isinstance(doc, list):
        if doc and all(isinstance(x, dict) and ("conversations" in x or "messages" in x) for x in doc[:5]):
            return "an SFT conversations export (a list of chats)"
        return "the top level is a JSON array"
    if not isinstance(doc, dict):
        return f"the top level is {type(doc).__name__}"
    if isinstance(doc.get("steps"), list):
        return None
    if "steps" in doc:
        return f"'steps' is {type(doc['steps']).__name__}, not a list"
    if "checkpoint" in doc or ("status" in doc and "session_id" in doc):
        return "an ATIF index sidecar (checkpoint and status of a run)"
    if "conversations" in doc:
        return "an SFT conversations export"
    if {"trial_name", "task_name", "verifier_result", "agent_result", "trials_dir", "environment"} & set(doc):
        return "a Harbor trial config or result file"
    keys = ", ".join(sorted(map(str, doc))[:8])
    return f"no 'steps' list (top-level keys: {keys})"


def read_stream(path: str, lines: Iterable[tuple[int, dict]], ctx: ReadContext) -> list[Trace]:
    """The streaming variant: a header line, then one step per line (maybe a trailer)."""
    records = list(lines)
    if not records:
        if not ctx.skipped:
            ctx.skip("no JSON records in this file")
        return []
    first_line, header = records[0]
    if not header.get("__header__"):
        ctx.skip("not a trajectory: JSONL without an ATIF '__header__' first line", line=first_line)
        return []
    doc = {k: v for k, v in header.items() if k != "__header__"}
    steps, step_lines = [], []
    for line, record in records[1:]:
        if record.get("__header__"):
            ctx.warn("a second '__header__' line; its fields update the header", line=line)
            doc.update((k, v) for k, v in record.items() if k != "__header__")
        elif "step_id" in record or "source" in record:
            steps.append(record)
            step_lines.append(line)
        elif "final_metrics" in record or record.get("__footer__"):
            doc.update((k, v) for k, v in record.items() if k != "__footer__")
        else:
            ctx.warn("neither a step nor a header/trailer record; skipped", line=line)
    doc["steps"] = steps
    log = RuleLog()
    log.breach("document", "", "this is the streaming JSONL variant (a header line, then a step per line)", 0)
    log.report(ctx, lambda _i: first_line)
    traces = read_trajectory(path, doc, ctx, lambda i: step_lines[i] if i < len(step_lines) else None)
    for trace in traces:
        trace.source_meta["file_format"] = "atif_jsonl_stream"
    return traces


def read_trajectory(
    path: str,
    doc: dict,
    ctx: ReadContext,
    step_line: Callable[[int], int | None],
    parent: Trace | None = None,
    prefix: str = "",
) -> list[Trace]:
    log = RuleLog(prefix=prefix)
    schema_version = doc.get("schema_version")
    if not (isinstance(schema_version, str) and schema_version):
        log.breach("schema_version", "", f"got {schema_version!r}")
    trace_id = trajectory_id(path, doc, log, parent)
    root = parent.root_session_id if parent is not None else trace_id
    trace = Trace(trace_id, SOURCE_KIND, path, root)
    if parent is not None:
        trace.is_sidechain = True
        trace.agent_id = msgs.scalar_text(doc.get("trajectory_id")) or trace_id
    agent = doc.get("agent")
    if not isinstance(agent, dict):
        log.breach("agent", "", f"got {type(agent).__name__}")
        agent = {}
    if not (isinstance(agent.get("name"), str) and agent["name"]):
        log.breach("agent_name", "", f"got {agent.get('name')!r}")
    trace.add_model(agent.get("model_name"))
    if doc.get("created_at") is not None:  # the streaming variant's header
        trace.times.add(doc["created_at"])
    steps = doc["steps"]
    if not steps:
        log.breach("steps", "", "the list is empty")
    reader = StepReader(trace, log, agent.get("model_name"))
    for index, step in enumerate(steps):
        reader.read(index, step)
    apply_usage(trace, reader, doc.get("final_metrics"))
    if reader.rejected:
        ctx.warn("token counts that are not whole numbers in 0..2^48 were left out of the usage columns")
    extra = agent.get("extra")
    extra = extra if isinstance(extra, dict) else {}
    trace.cwd = msgs.scalar_text(extra.get("cwd")) or None
    trace.project_path = msgs.scalar_text(extra.get("project_path")) or trace.cwd
    trace.git_branch = msgs.scalar_text(extra.get("git_branch")) or None
    trace.source_meta = source_meta(doc, agent, reader, schema_version)
    log.report(ctx, step_line if parent is None else (lambda _i: None))
    traces = [trace]
    subs = doc.get("subagent_trajectories")
    for n, sub in enumerate(subs if isinstance(subs, list) else []):
        where = f"{prefix}subagent_trajectories[{n}] "
        reason = not_a_trajectory(sub)
        if reason:
            ctx.warn(f"{where.strip()} is not a trajectory ({reason}); skipped")
            continue
        traces.extend(read_trajectory(path, sub, ctx, step_line, parent=trace, prefix=where))
    return traces


def trajectory_id(path: str, doc: dict, log: RuleLog, parent: Trace | None) -> str:
    session_id = doc.get("session_id")
    if (
        isinstance(session_id, str)
        and session_id
        and (parent is None or session_id != parent.root_session_id)
    ):
        return session_id
    sub_id = msgs.scalar_text(doc.get("trajectory_id"))
    if parent is not None:
        return f"{parent.trace_id}:{sub_id}" if sub_id else f"{parent.trace_id}:sub"
    fallback = sub_id or os.path.basename(plain_name(path)).rsplit(".json", 1)[0]
    log.breach("session_id", "", f"got {session_id!r}; using {fallback!r}")
    return fallback


def source_meta(doc: dict, agent: dict, reader: StepReader, schema_version: Any) -> dict:
    """The reference's keys (same names and values), then tracesql's additions."""
    meta: dict[str, Any] = {
        "schema_version": schema_version,
        "step_count": len(doc["steps"]),
        "agent_name": agent.get("name"),
    }
    for key in ("version", "model_name"):
        value = msgs.scalar_text(agent.get(key))
        if value:
            meta[key] = value
    if reader.copied_ids:
        meta["copied_context_step_ids"] = reader.copied_ids
    if reader.subagent_refs:
        meta["subagent_trajectory_refs"] = reader.subagent_refs
    for key in ("notes", "continued_trajectory_ref"):
        value = msgs.scalar_text(doc.get(key))
        if value:
            meta[key] = value
    for key in ("final_metrics", "extra"):
        if isinstance(doc.get(key), dict) and doc[key]:
            meta[key] = doc[key]
    if doc.get("trajectory_id") is not None:
        meta["trajectory_id"] = doc["trajectory_id"]
    if isinstance(agent.get("extra"), dict) and agent["extra"]:
        meta["agent_extra"] = agent["extra"]
    definitions = agent.get("tool_definitions")
    if isinstance(definitions, list) and definitions:
        meta["tool_definition_names"] = [
            d["function"]["name"]
            for d in definitions
            if isinstance(d, dict)
            and isinstance(d.get("function"), dict)
            and isinstance(d["function"].get("name"), str)
        ]
    if doc.get("created_at") is not None:
        meta["created_at"] = doc["created_at"]
    return meta
