"""Reading only the token usage of a Claude Code session file (`tracesql usage`).

The full reader parses every line and rebuilds the conversation; usage needs the lines
of API responses alone, and those are the lines holding `"usage"`: every other line is
split off and counted, never parsed (`lines.MarkedLines`). Lines are read in full until
the first `cwd` (the trace's project), then only marked ones. The responses go through
the same rules as the full reader's (`claude_code_usage.Responses`), so the entries are
the same; the file is one trace (a 1.0.x file's inline sub-agent runs, which the full
reader splits into traces of their own, stay in it: same session, same project).
"""

from __future__ import annotations

from tracesql.readers.base import ReadContext, Trace
from tracesql.readers.claude_code.meta import INDEX_KEY, SessionName, index_entry
from tracesql.readers.claude_code.usage import ResponseKeys, Responses
from tracesql.readers.jsonl import open_stream, parse_lines
from tracesql.readers.lines import Junk, MarkedLines
from tracesql.readers.messages import scalar_text

MARKERS = (b'"usage"',)


def read_usage(path: str, ctx: ReadContext) -> list[Trace]:
    stream = open_stream(path, ctx)
    if stream is None:
        return []
    junk = Junk()
    lines = MarkedLines(stream, ctx.options.max_line_bytes, junk, None)
    naming, responses = ResponseKeys(path), Responses()
    cwd = session_id = agent_id = None
    records = 0
    all_sidechain = True  # every response record is a side chain's
    try:
        with stream:
            for _lineno, rec in parse_lines(lines, junk, ctx):
                records += 1
                if session_id is None and rec.get("sessionId"):
                    session_id = scalar_text(rec["sessionId"])
                if cwd is None and rec.get("cwd"):
                    cwd = scalar_text(rec["cwd"])
                    lines.markers = MARKERS
                key = naming.key(rec)
                if key is None:
                    continue
                responses.add(key, rec)
                if not rec.get("isSidechain"):
                    all_sidechain = False
                elif agent_id is None and rec.get("agentId"):
                    agent_id = scalar_text(rec["agentId"])
    except (OSError, EOFError, ValueError) as exc:
        ctx.warn(f"reading stopped: {exc}")
    junk.report(ctx, ctx.options.max_line_bytes)
    if not records and not ctx.skipped:
        ctx.skip("no readable JSON records")
    if not responses.last:
        return []
    name = SessionName(path)
    sidechain = name.stem.startswith("agent-") or all_sidechain
    root = name.root(session_id, sidechain)
    if sidechain and agent_id is None and name.stem.startswith("agent-"):
        agent_id = name.stem[6:]
    agent_id = agent_id if sidechain else None
    entry = index_entry(ctx.shared.get(INDEX_KEY) or {}, root, path, ctx)
    trace = Trace(
        trace_id=f"{root}:{agent_id}" if agent_id else root,
        source_kind="claude_code",
        source_path=path,
        root_session_id=root,
        agent_id=agent_id,
        is_sidechain=sidechain,
        cwd=cwd,
        project_path=entry.get("projectPath") or cwd,
    )
    if responses.add_to(trace):
        ctx.warn("token counts that are not whole numbers in 0..2^48 were left out of the usage columns")
    return [trace]
