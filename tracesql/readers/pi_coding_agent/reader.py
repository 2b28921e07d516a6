"""Pi Coding Agent sessions (~/.pi/agent/sessions/--<cwd>--/<ts>_<uuid>.jsonl).

Line 1 is the header `{type: "session", id, timestamp, cwd, version?}`; every other line
is an entry. Which entries make the trace:

- v1 sessions (no `version`, entries without `id`/`parentId`; every session written
  before late 2025) are linear: every entry, in file order.
- v2/v3 entries form a tree (`id`/`parentId`): the trace is the active path, from the
  last entry back to the root, as Pi itself rebuilds it. Abandoned branches are counted
  in `source_meta.off_path_entries`.

A compaction keeps the whole path (no turn is lost) with the summary as a system message
where the compaction happened; `source_meta.compactions` says, for each one, where its
summary is and which message is the first one the model still saw after it, so the
model's context at any point can be rebuilt in SQL. Entry → message mapping: pi_messages.
"""

from __future__ import annotations

import os
from typing import Any

from tracesql.readers import messages as msgs
from tracesql.readers.base import ReadContext, Trace, TraceReader, warn_off_path
from tracesql.readers.files import plain_name
from tracesql.readers.jsonl import first_record, read_jsonl_records
from tracesql.readers.pi_coding_agent.messages import EntryMapper, add_usage


class PiCodingAgentReader(TraceReader):
    name = "pi_coding_agent"
    function_name = "pi_coding_agent_traces"
    sniff_priority = 20
    default_path = "~/.pi/agent/sessions"
    default_pattern = "*.jsonl"
    version = 3

    def sniff(self, path: str, head: bytes) -> bool:
        record = first_record(head)
        return (
            record is not None
            and record.get("type") == "session"
            and isinstance(record.get("id"), str)
            and ("cwd" in record or "timestamp" in record)
        )

    def read_file(self, path: str, ctx: ReadContext) -> list[Trace]:
        records = read_jsonl_records(path, ctx)
        if not records:
            return []
        header_line, header = records[0]
        if header.get("type") != "session":
            ctx.skip(
                f"not a Pi session: the first record (line {header_line}) is not a session header "
                f"(type {header.get('type')!r})",
                line=header_line,
            )
            return []
        return [read_session(path, header, records[1:], len(records), ctx)]


def read_session(
    path: str, header: dict, entries: list[tuple[int, dict]], record_count: int, ctx: ReadContext
) -> Trace:
    session_id = header.get("id")
    if not isinstance(session_id, str) or not session_id:
        session_id = session_id_from_name(path)
        ctx.warn(f"session header has no id; using {session_id!r} from the file name", line=1)
    trace = Trace(
        trace_id=session_id, source_kind="pi_coding_agent", source_path=path, root_session_id=session_id
    )
    cwd = header.get("cwd")
    trace.cwd = trace.project_path = cwd if isinstance(cwd, str) and cwd else None

    trace.times.add(header.get("timestamp"))
    for _, entry in entries:  # every time a message of the row can carry is within the row's
        trace.times.add(entry.get("timestamp"))
        message = entry.get("message")
        if isinstance(message, dict) and message.get("timestamp") is not None:
            trace.times.add(message["timestamp"])

    is_tree = any("parentId" in e or isinstance(e.get("id"), str) for _, e in entries)
    meta: dict[str, Any] = {"record_count": record_count}
    if is_tree:
        path_entries, has_branches = active_path(entries, ctx)
        off_path = len(entries) - len(path_entries)
        on_path = {id(e) for _, e in path_entries}
        messages = [e for _, e in entries if e.get("type") == "message"]
        warn_off_path(ctx, sum(id(e) not in on_path for e in messages), len(messages), "message entries")
    else:
        path_entries, has_branches, off_path = entries, False, 0

    mapper = EntryMapper(trace, ctx)
    mapper.map_entries(path_entries, linear=not is_tree)
    if add_usage(trace, entries, mapper.message_of):
        ctx.warn("token counts that are not whole numbers in 0..2^48 were left out of the usage columns")
    model_id = header.get("modelId")
    if not trace.models and isinstance(model_id, str) and model_id:  # v1: the header's model
        provider = header.get("provider")
        trace.add_model(f"{provider}/{model_id}" if isinstance(provider, str) and provider else model_id)

    meta["entry_types"] = sorted(mapper.entry_types)
    meta["stop_reasons"] = mapper.stop_reasons
    if "version" in header:
        meta["session_version"] = header["version"]
    if mapper.models_used:
        meta["models_used"] = mapper.models_used
    if has_branches:
        meta["has_branches"] = True
    if mapper.failed_turns:
        meta["failed_turns"] = mapper.failed_turns
    if mapper.bash_execution_count:
        meta["bash_execution_count"] = mapper.bash_execution_count
    if header.get("parentSession"):
        meta["parent_session"] = header["parentSession"]
    meta["session_layout"] = "tree" if is_tree else "v1_linear"
    if off_path:
        meta["off_path_entries"] = off_path
    if header.get("branchedFrom"):
        meta["branched_from"] = header["branchedFrom"]
    if mapper.compactions:
        meta["compactions"] = mapper.compactions
    if mapper.session_name:
        meta["session_name"] = mapper.session_name
    trace.source_meta = meta
    trace.messages = mapper.messages
    return trace


def active_path(entries: list[tuple[int, dict]], ctx: ReadContext) -> tuple[list[tuple[int, dict]], bool]:
    """Entries from the root to the last entry, following parentId; and whether any
    entry has two children (the file holds branches)."""
    by_id: dict[str, int] = {}
    children: dict[str, int] = {}
    has_branches = False
    for index, (lineno, entry) in enumerate(entries):
        eid = entry.get("id")
        if isinstance(eid, str):
            by_id[eid] = index
        parent = entry.get("parentId")
        if isinstance(parent, str):
            count = children.get(parent, 0) + 1
            children[parent] = count
            has_branches = has_branches or count >= 2
        elif parent is not None:
            ctx.warn(
                f"entry {msgs.scalar_text(eid)!r} has a parentId that is {type(parent).__name__}, "
                "not a string; treated as a root",
                line=lineno,
            )
    if not entries:
        return [], False
    path = [len(entries) - 1]
    seen = {path[0]}
    while True:
        lineno, entry = entries[path[-1]]
        parent = entry.get("parentId")
        if not isinstance(parent, str):
            break
        parent_index = by_id.get(parent)
        if parent_index is None:
            ctx.warn(
                f"parentId {parent!r} names no entry in the file; the active path starts here", line=lineno
            )
            break
        if parent_index in seen:
            ctx.warn(f"parentId {parent!r} closes a cycle; the active path stops here", line=lineno)
            break
        seen.add(parent_index)
        path.append(parent_index)
    return [entries[i] for i in reversed(path)], has_branches


def session_id_from_name(path: str) -> str:
    """`<timestamp>_<uuid>.jsonl` -> the uuid; any other name -> the file stem."""
    stem = os.path.splitext(os.path.basename(plain_name(path)))[0]
    return stem.rsplit("_", 1)[-1] if "_" in stem else stem
