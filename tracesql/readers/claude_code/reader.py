"""Claude Code session transcripts (~/.claude/projects/<project>/<session>.jsonl).

One row per session file and one per sub-agent transcript (`<project>/agent-<id>.jsonl`,
`<session>/subagents/agent-<id>.jsonl`, `<session>/subagents/workflows/<run>/agent-*.jsonl`).
Sub-agents written inline into a 1.0.x session (`isSidechain: true` records) become rows
of their own instead of being spliced into the parent conversation. The conversation is
the active path of the uuid/parentUuid tree (claude_code_tree), turned into messages by
claude_code_messages. See docs/readers/claude_code.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from tracesql.readers.base import ReadContext, Trace, TraceReader, warn_off_path
from tracesql.readers.claude_code.messages import MessageBuilder
from tracesql.readers.claude_code.meta import (
    INDEX_KEY,
    SessionName,
    TraceScan,
    agent_sidecar,
    index_entry,
    is_stream_json_init,
    load_session_index,
    not_a_transcript,
    sniff_head,
)
from tracesql.readers.claude_code.tree import (
    CHAT_TYPES,
    Tree,
    active_path,
    build_tree,
    inline_sidechain_runs,
    with_turn_pieces,
)
from tracesql.readers.claude_code.usage import ResponseKeys
from tracesql.readers.claude_code.usage_only import read_usage
from tracesql.readers.jsonl import first_record, jsonl_records


class ClaudeCodeReader(TraceReader):
    name = "claude_code"
    function_name = "claude_code_traces"
    sniff_priority = 50
    default_path = "~/.claude/projects"
    default_pattern = "*.jsonl"
    version = 4

    def accepts(self, relpath: str) -> str | None:
        parts = relpath.split("/")
        base = parts[-1]
        if "tool-results" in parts[:-1]:
            return "saved tool output under tool-results/, not a transcript"
        if base == "history.jsonl":
            return "prompt history (history.jsonl), not a transcript"
        if base == "journal.jsonl" and "workflows" in parts:
            return "workflow journal (journal.jsonl), not a transcript"
        if base.endswith(".meta.json"):
            return "sub-agent sidecar (.meta.json), not a transcript"
        if base == "sessions-index.json":
            return "session index, not a transcript"
        return None

    def sniff(self, path: str, head: bytes) -> bool:
        return path.endswith(".jsonl") and sniff_head(head)

    def explain(self, path: str, head: bytes) -> str | None:
        """Claude Code logs that are not session transcripts (stream-json, web exports)."""
        if not path.endswith(".jsonl"):
            return None
        first = first_record(head)
        if first is None or not ("loglines" in first or is_stream_json_init(first)):
            return None
        return not_a_transcript([first])

    def prepare(self, root: str, recursive: bool, ctx: ReadContext) -> None:
        ctx.shared[INDEX_KEY] = load_session_index(root, recursive, ctx)

    def read_usage(self, path: str, ctx: ReadContext) -> list[Trace]:
        """Only the usage of a session file: parses the lines that can hold it (usage_only)."""
        return read_usage(path, ctx)

    def read_file(self, path: str, ctx: ReadContext) -> list[Trace]:
        records: list[dict] = []
        lines: list[int] = []
        for lineno, rec in jsonl_records(path, ctx):
            records.append(rec)
            lines.append(lineno)
        if not records:
            if not ctx.skipped:
                ctx.skip("no readable JSON records" if ctx.file_diagnostics() else "empty file")
            return []
        reason = not_a_transcript(records)
        if reason:
            ctx.skip(reason)
            return []
        return SessionFile(path, records, lines, ctx).traces()


class SessionFile:
    """One transcript file being turned into traces."""

    def __init__(self, path: str, records: list[dict], lines: list[int], ctx: ReadContext) -> None:
        self.path = path
        self.records = records
        self.lines = lines
        self.ctx = ctx
        self.stamps: list = [None] * len(records)
        naming = ResponseKeys(path)
        self.keys: list[str | None] = [naming.key(rec) for rec in records]
        self.tree: Tree = build_tree(records)
        self.index: dict = ctx.shared.get(INDEX_KEY) or {}
        self.name = SessionName(path)
        self.stem = self.name.stem

    def traces(self) -> list[Trace]:
        nodes = self.tree.nodes
        chat = [n for n in nodes if n.rtype in CHAT_TYPES]
        is_agent_file = self.stem.startswith("agent-") or bool(chat) and all(n.sidechain for n in chat)
        groups = {} if is_agent_file else inline_sidechain_runs(self.tree)
        if not groups:
            trace = self._trace(range(len(self.records)), list(range(len(nodes))), sidechain=is_agent_file)
            return [trace]
        split = {nodes[i].pos for members in groups.values() for i in members}
        main_positions = [p for p in range(len(self.records)) if p not in split]
        main_members = [n.index for n in nodes if n.pos not in split]
        main = self._trace(main_positions, main_members, sidechain=False)
        main.source_meta["inline_sidechain_traces"] = len(groups)
        out = [main]
        for root, members in groups.items():
            positions = [nodes[i].pos for i in members]
            uuid = nodes[root].record.get("uuid")
            run_id = (
                uuid if isinstance(uuid, str) and uuid else f"sidechain-line-{self.lines[nodes[root].pos]}"
            )
            trace = self._trace(positions, members, sidechain=True, inline_root=run_id)
            trace.root_session_id = main.root_session_id
            trace.trace_id = f"{main.root_session_id}:{trace.agent_id}"
            out.append(trace)
        return out

    def _trace(
        self, positions: Sequence[int], members: list[int], sidechain: bool, inline_root: str | None = None
    ) -> Trace:
        scan = TraceScan()
        scan.run(self.records, positions, self.stamps, self.keys)
        meta = scan.source_meta(self.tree.uuids)
        for pos in scan.bad_messages:
            self.ctx.warn(
                f"{self.records[pos]['type']} record without a message object; record skipped",
                line=self.lines[pos],
            )
        session_id = scan.session_id
        root = self.name.root(session_id, sidechain)
        if session_id and session_id != root:
            meta["session_id"] = session_id
        agent_id = None
        if sidechain:
            agent_id = scan.agent_id or inline_root
            if agent_id is None and self.stem.startswith("agent-"):
                agent_id = self.stem[6:]
            if self.name.workflow_run:
                meta["workflow_run_id"] = self.name.workflow_run
            if inline_root is not None:
                meta["inline_sidechain"] = True
            else:
                meta.update(agent_sidecar(self.path, self.ctx))
        entry = index_entry(self.index, root, self.path, self.ctx)
        if entry.get("summary"):
            meta["summary"] = entry["summary"]
        if entry.get("firstPrompt"):
            meta["first_prompt"] = entry["firstPrompt"]
        trace = Trace(
            trace_id=f"{root}:{agent_id}" if agent_id else root,
            source_kind="claude_code",
            source_path=self.path,
            root_session_id=root,
            agent_id=agent_id,
            is_sidechain=sidechain,
            cwd=scan.cwd,
            project_path=entry.get("projectPath") or scan.cwd,
            git_branch=scan.git_branch,
            times=scan.times,
            source_meta=meta,
            models=scan.models,
        )
        builder = self._messages(members, meta)
        trace.messages = builder.messages
        if scan.responses.add_to(trace, builder.response_messages):
            self.ctx.warn(
                "token counts that are not whole numbers in 0..2^48 were left out of the usage columns"
            )
        return trace

    def _messages(self, members: list[int], meta: dict) -> MessageBuilder:
        tree = self.tree
        nodes = tree.nodes
        path = active_path(tree, members)
        selected = with_turn_pieces(tree, members, path)
        chat_members = sum(1 for i in members if nodes[i].rtype in CHAT_TYPES)
        chat_selected = sum(1 for i in selected if nodes[i].rtype in CHAT_TYPES)
        if chat_members > chat_selected:
            meta["has_branches"] = True
            meta["off_path_records"] = chat_members - chat_selected
            warn_off_path(self.ctx, chat_members - chat_selected, chat_members, "message records")
        for key, value in (
            ("duplicate_records", tree.duplicates),
            ("uuid_collisions", tree.uuid_collisions),
            ("broken_parent_links", tree.broken_links),
            ("compactions", tree.compactions),
        ):
            if value:
                meta[key] = value
        builder = MessageBuilder(self.ctx)
        lines, stamps, keys = self.lines, self.stamps, self.keys
        for i in selected:
            node = nodes[i]
            if node.rtype in CHAT_TYPES:
                builder.add(node.record, node.rtype, lines[node.pos], stamps[node.pos], keys[node.pos])
        return builder
