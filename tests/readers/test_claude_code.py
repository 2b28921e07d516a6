"""Claude Code reader: parity with the reference on the shared corpus (every difference a
declared deviation), the upstream Data Designer test cases, and one focused test per
deviation on a small fixture under tests/fixtures/claude_code/."""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from tests.readers.parity import (
    CORPUS,
    CORPUS_MATERIAL,
    Material,
    assert_parity,
    materials,
    needs_corpus,
    our_rows,
    reference_form,
    reference_rows,
)
from tracesql.readers.base import ReadContext
from tracesql.readers.claude_code.reader import ClaudeCodeReader
from tracesql.readers.registry import get_reader
from tracesql.readers.schema import TRACE_SCHEMA

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "claude_code"
ROOT = CORPUS / "claude_code"

# ---------------------------------------------------------------------------------------
# Deviations from the reference, per corpus file and field. Each names the test below
# that pins the improved behaviour.

SPLIT = (
    "an API response written as several lines is one assistant message (test_split_response_is_one_message)"
)
BRANCH = "only the active path of the uuid tree is the conversation (test_rewind_keeps_the_active_branch)"
WORKFLOW = "sub-agents carry the parent session id from their folder (test_workflow_subagent_gets_the_parent_session)"
SPLIT_FILES = [
    "claude-code-log/real_projects/-Users-dain-workspace-claude-code-log-sample/fe869ecb-c176-478f-9734-7e4b8ef12cff.jsonl",
    "claude-code-log/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-ea02459f.jsonl",
    "claude-code-log/real_projects/-Users-dain-workspace-coderabbit-review-helper/cb2e607c-c758-415a-8b45-c49e4631906a.jsonl",
    "claude-code-log/real_projects/-Users-dain-workspace-danieldemmel-me-next/4379d1bf-ccb1-414e-a856-9791b73f3af2.jsonl",
    "claude-code-log/real_projects/-experiments-worktrees/ef958aa1-0e93-49f0-bb71-150f63befcd1.jsonl",
    *(
        f"claude-code-log/real_projects/-experiments-worktrees/ef958aa1-0e93-49f0-bb71-150f63befcd1/subagents/agent-{a}.jsonl"
        for a in (
            "a36efb2a1231c41e2",
            "a4ca7529859c158c2",
            "a52886dc180afb356",
            "a6aa8ad077d9ea083",
            "ab1e6e141221a29ab",
            "aef063ba534d73153",
        )
    ),
    "claude-code-log/real_projects/-src-deep-manifest/a7da6a22-facc-4fcd-8bab-f83c87862004.jsonl",
    "claude-code-log/real_projects/-src-deep-manifest/agent-c8d9b115.jsonl",
]
# the last assistant message is a merged response, so its text is all of its lines
SPLIT_FINAL_FILES = [
    f"claude-code-log/teammates/ef000000-0000-4000-8000-000000000001/subagents/agent-{a}.jsonl"
    for a in ("aaaa111111111111", "bbbb222222222222")
]
BRANCH_FILES = [
    "claude-code-log/dag_compact_after_rewind.jsonl",
    "claude-code-log/dag_fork.jsonl",
    "claude-code-log/dag_within_fork.jsonl",
    # /doctor and /status local commands hang beside the path; also split responses
    "claude-code-log/real_projects/-Users-dain-workspace-claude-code-log-sample/0d3a8e6f-290f-4105-a327-a2496e5e2a83.jsonl",
]
BRANCH_FINAL_FILES = [
    "claude-code-log/real_projects/-experiments-ideas/03eb5929-52b3-4b13-ada3-b93ae35806b8.jsonl"
]
WORKFLOW_FILES = [
    f"claude-code-log/workflow_basic/11110000-0000-4000-8000-000000000001/subagents/workflows/wf_demo01/agent-ag00000{i}.jsonl"
    for i in (1, 2, 3)
]

DEVIATIONS: dict[tuple[str, str], str] = {}
for _f in SPLIT_FILES:
    DEVIATIONS.update({(_f, "messages"): SPLIT, (_f, "message_count"): SPLIT})
for _f in SPLIT_FINAL_FILES:
    DEVIATIONS.update(
        {(_f, "messages"): SPLIT, (_f, "message_count"): SPLIT, (_f, "final_assistant_message"): SPLIT}
    )
for _f in BRANCH_FILES:
    DEVIATIONS.update({(_f, "messages"): BRANCH, (_f, "message_count"): BRANCH})
for _f in BRANCH_FINAL_FILES:
    DEVIATIONS.update(
        {(_f, "messages"): BRANCH, (_f, "message_count"): BRANCH, (_f, "final_assistant_message"): BRANCH}
    )
for _f in WORKFLOW_FILES:
    DEVIATIONS.update({(_f, "root_session_id"): WORKFLOW, (_f, "trace_id"): WORKFLOW})

WORKFLOW_JOURNAL = "claude-code-log/workflow_basic/11110000-0000-4000-8000-000000000001/subagents/workflows/wf_demo01/journal.jsonl"
NOT_A_TRANSCRIPT = (
    "a file that is not a transcript is skipped (test_files_that_are_not_transcripts_are_skipped)"
)
DEVIATIONS[(WORKFLOW_JOURNAL, "rows")] = NOT_A_TRANSCRIPT
# the reference skipped these (a tool_use without an id); EXPECTED.md wants a row each
REFERENCE_SKIPPED = {
    "agent-sessions/small.jsonl",
    "agent-sessions/subagent/0a1b2c3d-4e5f-4061-8071-2a3b4c5d6e7f.jsonl",
    "agent-sessions/subagent/0a1b2c3d-4e5f-4061-8071-2a3b4c5d6e7f/subagents/agent-a0ad4f44468bdf20d.jsonl",
}


# The same on the in-repo fixtures (tests/fixtures-expected/claude_code.dd.jsonl).
JSON_NOT_REPR = "object content is JSON text, not Python repr (test_object_content_is_json_not_python_repr)"
PARALLEL = "parallel tool calls are one response (test_parallel_tool_results_beside_the_path_are_kept)"
RESUME = "records a resumed session repeats are read once (test_resume_duplicates_are_read_once)"
FIXTURE_DEVIATIONS: dict[tuple[str, str], str] = {
    **{
        (f"not_transcripts/{name}", "rows"): NOT_A_TRANSCRIPT
        for name in os.listdir(FIXTURES / "not_transcripts")
    },
    (
        "inline_sidechain.jsonl",
        "rows",
    ): "an inline side chain is a trace of its own (test_inline_sidechain_is_its_own_trace)",
    ("content_shapes.jsonl", "messages"): JSON_NOT_REPR,
    ("parallel_siblings.jsonl", "messages"): PARALLEL,
    ("parallel_siblings.jsonl", "message_count"): PARALLEL,
    ("resume_duplicates.jsonl", "messages"): RESUME,
    ("resume_duplicates.jsonl", "message_count"): RESUME,
    ("rewind.jsonl", "messages"): BRANCH,
    ("rewind.jsonl", "message_count"): BRANCH,
    ("split_response.jsonl", "messages"): SPLIT,
    ("split_response.jsonl", "message_count"): SPLIT,
    ("sidechain_ancestor.jsonl", "is_sidechain"): (
        "records the main conversation continues from stay in it "
        "(test_sidechain_records_the_main_conversation_continues_from_stay_in_it)"
    ),
    ("project/-home-me-repo/session-1/subagents/workflows/wf_1/agent-w1.jsonl", "trace_id"): WORKFLOW,
    ("project/-home-me-repo/session-1/subagents/workflows/wf_1/agent-w1.jsonl", "root_session_id"): WORKFLOW,
    ("project/-home-me-repo/session-1/subagents/workflows/wf_1/agent-w1.jsonl", "project_path"): (
        "sub-agents inherit their session's sessions-index entry (test_project_layout_with_subagents_and_index)"
    ),
}


def material_rows(material: Material) -> dict[str, list[dict]]:
    """Our rows for a material's claude_code folder in the reference's shape, by path (each
    with our own row under `_row`)."""
    root = material.root("claude_code")
    out: dict[str, list[dict]] = {}
    for row in our_rows("claude_code", root):
        form = reference_form(row, root)
        form["_row"] = row
        out.setdefault(form["source_path"], []).append(form)
    return out


@pytest.fixture(scope="module")
def corpus_rows() -> dict[str, list[dict]]:
    return material_rows(CORPUS_MATERIAL)


def deviations_of(material: Material) -> dict[tuple[str, str], str]:
    return DEVIATIONS if material is CORPUS_MATERIAL else FIXTURE_DEVIATIONS


def test_matches_the_reference_except_declared_deviations():
    """On the in-repo fixtures, and on the shared corpus when it is present."""
    for material in materials():
        ours = material_rows(material)
        assert_parity(ours, reference_rows("claude_code", material), deviations_of(material))


def _atoms(messages: list[dict]) -> Counter:
    """Every piece of content (blocks, reasoning parts, tool calls, tool results), as a
    multiset: regrouping changes messages but must not change this."""
    out: Counter = Counter()
    for m in messages:
        for b in m["content"]:
            out["block", m["role"], json.dumps(b, sort_keys=True)] += 1
        for part in (m.get("reasoning_content") or "").split("\n\n") if m.get("reasoning_content") else ():
            out["reasoning", part] += 1
        for c in m.get("tool_calls") or ():
            out["call", json.dumps(c, sort_keys=True)] += 1
        if m.get("tool_call_id"):
            out["result", m["tool_call_id"]] += 1
    return out


def test_content_is_regrouped_never_lost():
    """Merging split responses loses no block, reasoning part, call or result; following
    the tree drops exactly the off-path records, and says so in source_meta (on the
    fixtures, and on the shared corpus when it is present)."""
    for material in materials():
        rows, deviations = material_rows(material), deviations_of(material)
        for path, (expected,) in reference_rows("claude_code", material).items():
            why = deviations.get((path, "messages"))
            if (path, "rows") in deviations or why == JSON_NOT_REPR:
                continue
            ours = rows[path][0]
            mine, theirs = _atoms(ours["messages"]), _atoms(expected["messages"])
            if why in (BRANCH, RESUME):
                assert mine - theirs == Counter() and mine != theirs, path
            else:
                assert mine == theirs, path
            if why == BRANCH:
                assert ours["source_meta"]["has_branches"] is True
                assert ours["source_meta"]["off_path_records"] > 0
            else:
                assert "has_branches" not in ours["source_meta"], path


@needs_corpus
def test_corpus_gives_what_expected_md_says(corpus_rows):
    files = sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*.jsonl"))
    empty = "claude-code-log/real_projects/-Users-dain-workspace-claude-code-log-sample/4fe49c7c-ff82-4ac7-b3f2-79c22036bd58.jsonl"
    assert set(corpus_rows) == set(files) - {empty, WORKFLOW_JOURNAL}
    assert len(corpus_rows) == 40
    # small.jsonl's sidechain-flagged records start its main conversation: not a sub-agent run
    assert sum(len(rows) for rows in corpus_rows.values()) == 40
    for path, rows in corpus_rows.items():
        main = rows[0]
        if "/subagents/" in path or Path(path).name.startswith("agent-"):
            assert main["is_sidechain"] is True and main["agent_id"], path
            parent = path.split("/subagents/")[0].rsplit("/", 1)[-1] if "/subagents/" in path else None
            if parent:
                assert main["root_session_id"] == parent, path
            assert main["trace_id"] == f"{main['root_session_id']}:{main['agent_id']}", path
    for path in (
        "ccusage/projects/project-alpha/session-alpha/chat.jsonl",
        "claude-code-log/real_projects/-experiments-ideas/a95fea4a-b88a-4e49-ac07-4cc323d8700c.jsonl",
        "claude-code-log/real_projects/-Users-dain-workspace-claude-code-log-sample/4e27c414-a885-46a0-b5c8-d58e1417377d.jsonl",
    ):
        assert corpus_rows[path][0]["message_count"] == 0, path
    usage = corpus_rows["ccusage/projects/project-alpha/session-alpha/chat.jsonl"][0]["_row"]
    assert (
        usage["input_tokens"],
        usage["output_tokens"],
        usage["cache_read_tokens"],
        usage["cache_write_tokens"],
    ) == (600, 250, 70, 75)
    assert usage["models"] == ["claude-sonnet-4-20250514", "claude-opus-4-20250514"]
    for path in (
        "claude-code-log/dag_fork.jsonl",
        "claude-code-log/dag_resume.jsonl",
        "claude-code-log/dag_within_fork.jsonl",
        "claude-code-log/dag_compact_after_rewind.jsonl",
    ):
        assert corpus_rows[path][0]["trace_id"] == "s1"


@needs_corpus
def test_corpus_skips_say_why(sql):
    sql.rows(f"SELECT count(*) FROM claude_code_traces('{ROOT}')")
    skips = {
        r["path"]: r["reason"] for r in sql.rows("SELECT * FROM trace_diagnostics() WHERE severity = 'skip'")
    }
    assert set(skips) == {
        str(ROOT / WORKFLOW_JOURNAL),
        str(
            ROOT
            / "claude-code-log/real_projects/-Users-dain-workspace-claude-code-log-sample/4fe49c7c-ff82-4ac7-b3f2-79c22036bd58.jsonl"
        ),
    }
    assert "workflow journal" in skips[str(ROOT / WORKFLOW_JOURNAL)]
    assert any("empty" in reason for reason in skips.values())


@needs_corpus
def test_corpus_files_the_reference_rejected_are_read(corpus_rows):
    for path in REFERENCE_SKIPPED:
        assert corpus_rows[path][0]["message_count"] > 0, path
    sub = corpus_rows[sorted(REFERENCE_SKIPPED)[-1]][0]
    assert sub["root_session_id"] == "0a1b2c3d-4e5f-4061-8071-2a3b4c5d6e7f"
    assert sub["source_meta"]["session_id"] == "agent-a0ad4f44468bdf20d"
    assert sub["source_meta"]["agent_type"] == "general-purpose"


# ---------------------------------------------------------------------------------------
# Reading fixtures directly through the reader (no SQL layer)


def read(path: Path, root: Path | None = None):
    """(traces, diagnostics) for one file, as a scan would read it."""
    reader = ClaudeCodeReader()
    ctx = ReadContext("claude_code", str(root or path.parent))
    reader.prepare(str(root or path.parent), True, ctx)
    ctx.diagnostics = []
    ctx.for_file(str(path))
    traces = (
        [] if reader.accepts(str(path.relative_to(root or path.parent))) else reader.read_file(str(path), ctx)
    )
    return traces, ctx.diagnostics


def roles(trace) -> list[str]:
    return [m["role"] for m in trace.messages]


def texts(trace) -> list[str]:
    return [" ".join(b["text"] or "" for b in m["content"]) for m in trace.messages]


def test_split_response_is_one_message():
    (trace,), diags = read(FIXTURES / "split_response.jsonl")
    assert diags == []
    assert roles(trace) == ["user", "assistant", "tool", "tool", "assistant"]
    merged = trace.messages[1]
    assert merged["reasoning_content"] == "Two commands."
    assert [b["text"] for b in merged["content"]] == ["I'll look."]
    assert [c["id"] for c in merged["tool_calls"]] == ["t1", "t2"]
    assert merged["tool_calls"][1]["function"] == {"name": "Bash", "arguments": '{"command": "pytest"}'}
    assert [m["tool_call_id"] for m in trace.messages[2:4]] == ["t1", "t2"]
    row = trace.to_row()
    assert row["tool_call_count"] == 2 and row["final_assistant_message"] == "One test fails."
    # usage counted once per response: the last line of msg_1 (output 190) plus msg_2
    assert (trace.input_tokens, trace.output_tokens, trace.cache_read_tokens, trace.cache_write_tokens) == (
        14,
        195,
        100,
        920,
    )
    assert trace.models == ["claude-sonnet-4-5"]
    assert merged["timestamp"].isoformat() == "2025-08-01T10:00:01+00:00"


def test_tool_results_keep_source_order_and_is_error():
    (trace,), _ = read(FIXTURES / "split_response.jsonl")
    assert [m["is_error"] for m in trace.messages if m["role"] == "tool"] == [None, True]
    (shapes,), _ = read(FIXTURES / "content_shapes.jsonl")
    tail = shapes.messages[-4:-1]  # the user record [tool_result, text, tool_result]
    assert [(m["role"], m["tool_call_id"]) for m in tail] == [
        ("tool", "t1"),
        ("user", None),
        ("tool", "srv1"),
    ]
    assert tail[1]["content"][0]["text"] == "[Request interrupted by user for tool use]"
    assert tail[2]["is_error"] is False


def test_object_content_is_json_not_python_repr():
    (trace,), _ = read(FIXTURES / "content_shapes.jsonl")
    assert trace.messages[1]["content"][0]["text"] == '{"kind": "note", "value": 1}'
    assert trace.messages[-2]["content"][0]["text"] == '{"hits": 0}'


def test_reference_content_rules_are_kept():
    """Data Designer's message rules (tests doc section H) where they are right."""
    (trace,), _ = read(FIXTURES / "content_shapes.jsonl")
    user_null, user_dict, asst_empty, asst_blocks, tool = trace.messages[:5]
    assert user_null["content"] == []  # content null -> a message with no blocks; [] -> no message
    assert user_dict["role"] == "user"
    assert asst_empty["content"] == [
        {"type": "text", "text": "", "data": None}
    ]  # "" -> one empty block; [] -> none
    assert asst_blocks["reasoning_content"] == "fallback reasoning"  # thinking falls back to text
    kinds = [b["type"] for b in asst_blocks["content"]]
    assert kinds == ["redacted_thinking", "text", "server_tool_use"]  # kept verbatim, in order
    assert json.loads(asst_blocks["content"][0]["data"]) == {"type": "redacted_thinking", "data": "opaque"}
    assert asst_blocks["content"][1]["text"] == ""  # text null -> ""
    assert asst_blocks["tool_calls"][0]["function"]["arguments"] == "{}"  # input null -> "{}"
    assert [b["type"] for b in tool["content"]] == ["text", "image"]
    assert json.loads(tool["content"][1]["data"])["source"]["media_type"] == "image/png"
    # an API error turn: kept (as the reference), counted, its <synthetic> model skipped
    assert trace.messages[-1]["content"][0]["text"] == "ok"
    assert trace.source_meta["api_error_messages"] == 1 and trace.models == ["claude-sonnet-4-5"]


def test_rewind_keeps_the_active_branch():
    (trace,), _ = read(FIXTURES / "rewind.jsonl")
    assert texts(trace) == ["Start", "Ready", "Second attempt", "Second answer"]
    assert trace.source_meta["has_branches"] is True
    assert trace.source_meta["off_path_records"] == 2
    assert trace.times.end_raw == "2025-08-01T10:00:12.000Z"  # times cover the whole file


def test_parallel_tool_results_beside_the_path_are_kept():
    (trace,), _ = read(FIXTURES / "parallel_siblings.jsonl")
    assert roles(trace) == ["user", "assistant", "tool", "tool", "assistant", "tool", "tool", "assistant"]
    assert [c["id"] for c in trace.messages[1]["tool_calls"]] == ["t1", "t2"]
    assert [c["id"] for c in trace.messages[4]["tool_calls"]] == ["t3", "t4"]
    assert [m["tool_call_id"] for m in trace.messages if m["role"] == "tool"] == ["t1", "t2", "t4", "t3"]
    assert "has_branches" not in trace.source_meta


def test_compact_boundary_is_bridged():
    (trace,), _ = read(FIXTURES / "compaction.jsonl")
    assert texts(trace) == [
        "Long task",
        "Working",
        "This session is being continued from a previous conversation.",
        "Go on",
        "Done",
    ]
    assert trace.source_meta["compactions"] == 1 and "has_branches" not in trace.source_meta


def test_parent_cycle_does_not_hang():
    (trace,), _ = read(FIXTURES / "cycle.jsonl")
    assert texts(trace) == ["one", "two", "three", "four"]
    assert trace.source_meta["broken_parent_links"] == 1


def test_resume_duplicates_are_read_once():
    (trace,), _ = read(FIXTURES / "resume_duplicates.jsonl")
    assert texts(trace) == ["Hello", "Hi", "Again", "Sure"]
    assert trace.source_meta["duplicate_records"] == 2
    assert trace.source_meta["session_ids"] == ["sess-0", "sess-1"]
    assert trace.root_session_id == "sess-1"


def test_dangling_parent_is_bridged_not_truncated():
    (trace,), _ = read(FIXTURES / "dangling_parent.jsonl")
    assert texts(trace) == ["First", "One", "Second", "Two"]
    assert trace.source_meta["broken_parent_links"] == 1


def test_records_without_uuids_read_in_file_order():
    (trace,), _ = read(FIXTURES / "no_uuids.jsonl")
    assert texts(trace) == ["Hi", "Hello", "Bye", "Bye!"]
    assert trace.trace_id == "plain"


def test_inline_sidechain_is_its_own_trace():
    main, side = read(FIXTURES / "inline_sidechain.jsonl")[0]
    assert texts(main) == ["Research X", "", "X is in x.py", "Found it: x.py"]
    assert (main.is_sidechain, main.agent_id, main.source_meta["inline_sidechain_traces"]) == (False, None, 1)
    assert texts(side) == ["Find X", "X is in x.py"]
    assert (side.is_sidechain, side.agent_id, side.trace_id) == (True, "s-u1", "sess-1:s-u1")
    assert side.root_session_id == "sess-1" and side.source_meta["inline_sidechain"] is True
    assert side.models == ["claude-haiku-4-5"] and main.models == ["claude-sonnet-4-5"]
    assert (main.source_meta["record_count"], side.source_meta["record_count"]) == (4, 2)


def test_sidechain_records_the_main_conversation_continues_from_stay_in_it():
    (trace,), _ = read(FIXTURES / "sidechain_ancestor.jsonl")
    assert texts(trace) == ["Hello", "Hi", "Go on", "Going"]
    assert (trace.is_sidechain, trace.agent_id, trace.trace_id) == (False, None, "sess-1")
    assert "inline_sidechain_traces" not in trace.source_meta


def test_bad_records_are_warnings_with_line_numbers():
    """The reference skips the whole file for each of these."""
    (trace,), diags = read(FIXTURES / "bad_records.jsonl")
    assert texts(trace) == ["Go", "", "a.py", "Still here?"]
    assert trace.messages[1]["tool_calls"][0]["id"] is None
    assert trace.messages[2]["tool_call_id"] is None
    found = sorted((d.line, d.severity, d.reason.split(";")[0]) for d in diags)
    assert [(line, sev) for line, sev, _ in found] == [
        (2, "warning"),
        (3, "warning"),
        (4, "warning"),
        (6, "warning"),
    ]
    assert "tool_use block without an id" in found[0][2]
    assert "tool_result block without a tool_use_id" in found[1][2]
    assert "assistant record without a message object" in found[2][2]
    assert "invalid JSON" in found[3][2]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("stream_json.jsonl", "stream-json"),
        ("web_export.jsonl", "loglines"),
        ("rollout-codex.jsonl", "no Claude Code records"),
        ("journal.jsonl", "workflow journal"),
    ],
)
def test_files_that_are_not_transcripts_are_skipped(name, reason):
    traces, diags = read(FIXTURES / "not_transcripts" / name)
    assert traces == []
    (diag,) = diags
    assert diag.severity == "skip" and reason in diag.reason


def test_handled_files():
    """Upstream test 5 and the layout rules: which paths are transcripts at all."""
    reader = ClaudeCodeReader()
    assert reader.accepts("project/session.jsonl") is None
    assert "tool-results" in reader.accepts("project/tool-results/calls.jsonl")
    assert "history" in reader.accepts("project/history.jsonl")
    assert "journal" in reader.accepts("p/s/subagents/workflows/wf/journal.jsonl")
    assert "sidecar" in reader.accepts("p/s/subagents/agent-a.meta.json")


def test_project_layout_with_subagents_and_index(sql, tmp_path):
    """Upstream end-to-end case 20/21, with every sub-agent layout."""
    root = tmp_path / "projects"
    shutil.copytree(FIXTURES / "project", root)
    rows = sql.rows(f"SELECT * FROM claude_code_traces('{root}') ORDER BY source_path")
    got = {r["trace_id"]: r for r in rows}
    assert set(got) == {"session-1", "session-1:a1b2", "session-1:w1", "session-1:0c0ffee0"}
    main, sub, wf, old = (
        got["session-1"],
        got["session-1:a1b2"],
        got["session-1:w1"],
        got["session-1:0c0ffee0"],
    )
    assert (
        main["final_assistant_message"],
        main["tool_call_count"],
        main["agent_id"],
        main["is_sidechain"],
    ) == ("Repo inspected", 1, None, False)
    assert (sub["final_assistant_message"], sub["tool_call_count"], sub["agent_id"], sub["is_sidechain"]) == (
        "Tests checked",
        0,
        "a1b2",
        True,
    )
    assert {r["project_path"] for r in rows} == {"/home/me/repo"}  # index beats cwd, sub-agents inherit
    assert json.loads(main["source_meta"])["summary"] == "Repo inspection"
    assert json.loads(main["source_meta"])["first_prompt"] == "Inspect the repo"
    meta = json.loads(sub["source_meta"])
    assert (meta["agent_type"], meta["agent_description"], meta["agent_meta"]["toolUseId"]) == (
        "general-purpose",
        "run tests",
        "tA",
    )
    assert wf["root_session_id"] == "session-1" and old["root_session_id"] == "session-1"
    skipped = {
        Path(r["path"]).name: r["reason"]
        for r in sql.rows("SELECT * FROM trace_diagnostics() WHERE severity = 'skip'")
    }
    assert set(skipped) == {"history.jsonl", "toolu_1.jsonl"}


def test_workflow_subagent_gets_the_parent_session():
    root = FIXTURES / "project"
    path = root / "-home-me-repo/session-1/subagents/workflows/wf_1/agent-w1.jsonl"
    (trace,), _ = read(path, root)
    assert (trace.root_session_id, trace.agent_id, trace.trace_id) == ("session-1", "w1", "session-1:w1")
    assert trace.source_meta["session_id"] == "session-1#agent-w1"
    assert trace.source_meta["workflow_run_id"] == "wf_1"


def test_index_respects_recursive(sql, tmp_path):
    """Upstream seed-reader test 11."""
    shutil.copy(FIXTURES / "no_uuids.jsonl", tmp_path / "top-session.jsonl")
    (tmp_path / "sessions-index.json").write_text(
        json.dumps({"entries": [{"sessionId": "plain", "projectPath": "/from-top-index"}]})
    )
    nested = tmp_path / "project-a"
    nested.mkdir()
    shutil.copy(FIXTURES / "rewind.jsonl", nested / "session.jsonl")
    (nested / "sessions-index.json").write_text(
        json.dumps({"entries": [{"sessionId": "sess-1", "projectPath": "/from-nested-index"}]})
    )
    rows = sql.rows(f"SELECT project_path FROM claude_code_traces('{tmp_path}')")
    assert {r["project_path"] for r in rows} == {"/from-top-index", "/from-nested-index"}
    rows = sql.rows(f"SELECT project_path FROM claude_code_traces('{tmp_path}', recursive := false)")
    assert [r["project_path"] for r in rows] == ["/from-top-index"]


@pytest.mark.parametrize(
    ("content", "problem"), [("{not json", "not valid JSON"), ("[1, 2]", "a JSON array")]
)
def test_malformed_session_index_is_a_warning(tmp_path, content, problem):
    shutil.copy(FIXTURES / "rewind.jsonl", tmp_path / "s.jsonl")
    (tmp_path / "sessions-index.json").write_text(content)
    reader = ClaudeCodeReader()
    ctx = ReadContext("claude_code", str(tmp_path))
    reader.prepare(str(tmp_path), True, ctx)
    (diag,) = ctx.diagnostics
    assert diag.path.endswith("sessions-index.json") and problem in diag.reason and diag.severity == "warning"
    ctx.for_file(str(tmp_path / "s.jsonl"))
    (trace,) = reader.read_file(str(tmp_path / "s.jsonl"), ctx)
    assert trace.project_path == "/repo"


def test_traces_detects_claude_code_and_rejects_look_alikes(tmp_path):
    for name in (
        "split_response.jsonl",
        "not_transcripts/stream_json.jsonl",
        "not_transcripts/web_export.jsonl",
    ):
        shutil.copy(FIXTURES / name, tmp_path / Path(name).name)
    auto = get_reader("auto")
    found = tmp_path / "split_response.jsonl"
    assert auto.detect(str(found), found.name, found.read_bytes()).name == "claude_code"
    reader = ClaudeCodeReader()
    for name in ("stream_json.jsonl", "web_export.jsonl"):
        assert not reader.sniff(str(tmp_path / name), (tmp_path / name).read_bytes())
    assert not reader.sniff("x.jsonl", (FIXTURES / "not_transcripts/rollout-codex.jsonl").read_bytes())
    # a first line longer than the sniffed head (a pasted image) is judged by its keys
    head = (FIXTURES / "split_response.jsonl").read_bytes()[:60]
    assert reader.sniff("big.jsonl", head.replace(b'"type": "user"', b'"parentUuid": null'))


def test_happy_path_from_upstream(tmp_path):
    """Upstream test 1: thinking + tool_use, a tool_result given as a single dict."""
    lines = [
        {"type": "user", "sessionId": "s1", "message": {"content": "Do something"}},
        {
            "type": "assistant",
            "sessionId": "s1",
            "message": {
                "content": [
                    {"type": "thinking", "thinking": "Let me think..."},
                    {
                        "type": "tool_use",
                        "id": "tool-1",
                        "name": "read_file",
                        "input": {"path": f"{tmp_path}/x"},
                    },
                ]
            },
        },
        {
            "type": "user",
            "sessionId": "s1",
            "message": {
                "content": {"type": "tool_result", "tool_use_id": "tool-1", "content": "file contents"}
            },
        },
        {"type": "assistant", "sessionId": "s1", "message": {"content": [{"type": "text", "text": "Done"}]}},
    ]
    (tmp_path / "session.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    (tmp_path / "sessions-index.json").write_text(
        json.dumps(
            {"entries": [{"sessionId": "s1", "projectPath": "/my/project", "summary": "A test session"}]}
        )
    )
    (trace,), _ = read(tmp_path / "session.jsonl")
    row = trace.to_row()
    assert (row["root_session_id"], row["source_kind"], row["final_assistant_message"]) == (
        "s1",
        "claude_code",
        "Done",
    )
    assert (row["tool_call_count"], row["message_count"]) == (1, 4)
    assert trace.messages[1]["reasoning_content"] == "Let me think..."
    assert trace.messages[2]["tool_call_id"] == "tool-1"
    assert row["project_path"] == "/my/project" and trace.source_meta["summary"] == "A test session"


def test_odd_values_cost_neither_the_file_nor_the_read():
    """Lists where strings belong, an id that is a number, token counts beyond 64 bits."""
    (trace,), diags = read(FIXTURES / "odd_values.jsonl")
    assert roles(trace) == ["user", "assistant", "tool"]
    assert trace.messages[1]["tool_calls"][0]["id"] == "7"
    assert trace.messages[2]["tool_call_id"] == "7"
    assert '["user"]' in trace.source_meta["record_types"]
    assert trace.output_tokens is None and trace.input_tokens is None  # "10" and 10**20 are not counts
    reasons = [d.reason for d in diags]
    assert any("token counts" in r for r in reasons)
    assert any("tool_use block without a name" in r for r in reasons)


def test_traces_reads_claude_code_like_claude_code_traces(sql):
    snapshot_only = (
        "claude-code-log/real_projects/-experiments-ideas/a95fea4a-b88a-4e49-ac07-4cc323d8700c.jsonl"
    )
    for material in materials():
        root = material.root("claude_code")
        # (the fixtures hold a Codex rollout among the look-alikes, which traces() reads as Codex)
        auto = sql.rows(
            f"SELECT source_kind, source_path, trace_id FROM traces('{root}') WHERE source_kind = 'claude_code'"
        )
        direct = sql.rows(f"SELECT source_kind, source_path, trace_id FROM claude_code_traces('{root}')")
        assert auto and sorted(map(tuple, (r.values() for r in auto))) == sorted(
            map(tuple, (r.values() for r in direct))
        )
        if material is CORPUS_MATERIAL:
            assert str(root / snapshot_only) in {r["source_path"] for r in auto}


_ODD_VALUES = [None, 0, -1, 1.5, True, "", "x", [], {}, [1, "a"], {"k": [None]}, 2**70]


def _slots(value, out: list) -> list:
    """Every (container, key) position inside a record, at any depth."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        out.append((value, key))
        _slots(child, out)
    return out


def _mutate(record, rng) -> None:
    """Replace one value, anywhere in a record, by a value of another type."""
    slots = _slots(record, [])
    if slots:
        container, key = rng.choice(slots)
        container[key] = copy.deepcopy(rng.choice(_ODD_VALUES))


def test_mutated_sessions_never_raise(tmp_path):
    """Seeded fuzzing: fixture sessions with values of the wrong type anywhere, duplicated
    and replaced records, still read into rows that Arrow accepts (a reader exception
    would cost the file; a bad value would fail the whole batch)."""
    rng = random.Random(20260801)
    sources = sorted(p for p in FIXTURES.rglob("*.jsonl") if "not_transcripts" not in p.parts)
    reader = ClaudeCodeReader()
    for i in range(300):
        records = [json.loads(line) for line in rng.choice(sources).read_text().splitlines() if _parses(line)]
        for _ in range(rng.randint(1, 6)):
            j = rng.randrange(len(records))
            roll = rng.random()
            if roll < 0.7:
                _mutate(records[j], rng)
            elif roll < 0.85:
                records.insert(rng.randrange(len(records)), copy.deepcopy(records[j]))
            else:
                records[j] = copy.deepcopy(rng.choice(_ODD_VALUES))
        path = tmp_path / f"m{i}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        ctx = ReadContext("claude_code", str(tmp_path))
        ctx.for_file(str(path))
        rows = [t.to_row() for t in reader.read_file(str(path), ctx)]
        pa.Table.from_pylist(rows, schema=TRACE_SCHEMA)


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True
