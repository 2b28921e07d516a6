"""Codex reader: the reference's tests (Data Designer test_codex.py and its verified
behaviours) ported, EXPECTED.md for the corpus, parity with the reference's rows, and one
focused test per deviation from it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.readers.conftest import diagnostics, trace_rows
from tests.readers.parity import (
    CORPUS,
    CORPUS_MATERIAL,
    Material,
    assert_parity,
    materials,
    needs_corpus,
    reference_form,
    reference_forms_by_path,
    reference_rows,
)
from tracesql.connection import open_connection
from tracesql.readers.codex.reader import CodexReader

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "codex"
MODERN = FIXTURES / "modern"
SPAWN = "claude-code-log/sessions/2026/01/03/rollout-2026-01-03T04-05-06-22222222-2222-4222-8222-222222222222.jsonl"
CHILD = "claude-code-log/sessions/2026/01/03/rollout-2026-01-03T04-05-10-33333333-3333-4333-8333-333333333333.jsonl"
LISTING = "claude-code-log/sessions/2026/01/02/rollout-2026-01-02T03-04-05-11111111-1111-4111-8111-111111111111.jsonl"

TEXT = "input_text/output_text blocks are plain text blocks (test_text_block_types_are_normalized...)"
# Where our rows differ from the reference's on the corpus, and why (each has a test below).
DEVIATIONS = {
    (LISTING, "messages"): TEXT,
    (SPAWN, "messages"): "the user prompt, recorded only as an event_msg, is kept",
    (SPAWN, "message_count"): "the user prompt, recorded only as an event_msg, is kept",
    (CHILD, "messages"): "the sub-agent's own prompt and answer (event_msg only) are kept",
    (CHILD, "message_count"): "the sub-agent's own prompt and answer (event_msg only) are kept",
    (CHILD, "final_assistant_message"): "the sub-agent's own prompt and answer (event_msg only) are kept",
    (CHILD, "root_session_id"): "a sub-agent belongs to the session that spawned it",
    (CHILD, "agent_id"): "a sub-agent's agent_id is its own thread id",
    (CHILD, "is_sidechain"): "a sub-agent is a side chain",
    (CHILD, "source_meta.source"): "an object-valued source stays JSON, not Python repr",
}

# The same on the in-repo fixtures (tests/fixtures-expected/codex.dd.jsonl).
BUILTIN = "built-in tool items are tool calls (test_builtin_tool_items_are_tool_calls)"
LEGACY = "a legacy rollout (header line, untyped records) is read whole (test_legacy_rollout)"
NESTED = "a sub-agent belongs to the top session that spawned it (test_nested_sub_agents_belong_to_the_top_session)"
FIRST_META = (
    "the first session_meta is the session's, later ones are replayed (test_first_session_meta_is...)"
)
JSON_SOURCE = "an object-valued source stays JSON, not Python repr (test_object_valued_source_is_json)"
_SUB = "subagents/2026/01/05/rollout-2026-01-05T10-00-"
_MODERN = "modern/2026/03/10/rollout-2026-03-10T09-00-00-modern-0001.jsonl"
_LEGACY = "legacy/rollout-2025-08-20T13-20-47-0c27a914.jsonl"
LEGACY_FIELDS = (
    "trace_id",
    "root_session_id",
    "git_branch",
    "messages",
    "message_count",
    "tool_call_count",
    "final_assistant_message",
    "source_meta.record_types",
    "source_meta.response_item_types",
)
_LEGACY_ENV = "fidelity/rollout-2025-07-02T09-12-01-5b1e77aa.jsonl"
ENV_CWD = (
    "a legacy rollout's cwd is in its environment context (test_codex_legacy_rollout_takes_its_cwd_from...)"
)
FIXTURE_DEVIATIONS = {
    (f"{_SUB}00-root-0001.jsonl", "messages"): TEXT,
    (f"{_SUB}10-child-0002.jsonl", "messages"): TEXT,
    (f"{_SUB}10-child-0002.jsonl", "trace_id"): FIRST_META,
    (f"{_SUB}10-child-0002.jsonl", "started_at"): FIRST_META,
    (f"{_SUB}10-child-0002.jsonl", "source_meta.source"): FIRST_META,
    (f"{_SUB}10-child-0002.jsonl", "agent_id"): NESTED,
    (f"{_SUB}10-child-0002.jsonl", "is_sidechain"): NESTED,
    (f"{_SUB}20-grandchild-0003.jsonl", "messages"): TEXT,
    (f"{_SUB}20-grandchild-0003.jsonl", "root_session_id"): NESTED,
    (f"{_SUB}20-grandchild-0003.jsonl", "agent_id"): NESTED,
    (f"{_SUB}20-grandchild-0003.jsonl", "is_sidechain"): NESTED,
    (f"{_SUB}20-grandchild-0003.jsonl", "source_meta.source"): JSON_SOURCE,
    (f"{_SUB}40-review-0004.jsonl", "messages"): TEXT,
    (f"{_SUB}40-review-0004.jsonl", "agent_id"): NESTED,
    (f"{_SUB}40-review-0004.jsonl", "is_sidechain"): NESTED,
    (f"{_SUB}40-review-0004.jsonl", "source_meta.source"): JSON_SOURCE,
    (_MODERN, "messages"): BUILTIN,
    (_MODERN, "message_count"): BUILTIN,
    (_MODERN, "tool_call_count"): BUILTIN,
    (_MODERN, "git_branch"): "git_branch comes from session_meta.git.branch (test_modern_rollout)",
    **{(_LEGACY, field): LEGACY for field in LEGACY_FIELDS},
    **{(_LEGACY_ENV, field): LEGACY for field in LEGACY_FIELDS},
    (_LEGACY_ENV, "cwd"): ENV_CWD,
    (_LEGACY_ENV, "project_path"): ENV_CWD,
    ("fidelity/rollout-2025-08-05T14-00-00-flat0001.jsonl", "messages"): TEXT,
}


def rows(con, path, **args) -> list[dict]:
    return trace_rows(con, "codex_traces", path, **args)


def one(con, path, **args) -> dict:
    (row,) = rows(con, path, **args)
    return row


def texts(message: dict) -> list[str | None]:
    return [b["text"] for b in message["content"]]


def write(path: Path, records: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def line(kind: str, payload, second: int = 0) -> dict:
    return {"timestamp": f"2026-03-10T10:00:{second:02d}.000Z", "type": kind, "payload": payload}


def meta(**fields) -> dict:
    return line(
        "session_meta", {"id": "sess-1", "timestamp": "2026-03-10T10:00:00.000Z", "cwd": "/project", **fields}
    )


def message(role: str, text: str, second: int = 0) -> dict:
    kind = "output_text" if role == "assistant" else "input_text"
    return line(
        "response_item", {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}, second
    )


def item(payload: dict, second: int = 0) -> dict:
    return line("response_item", payload, second)


def event(payload: dict, second: int = 0) -> dict:
    return line("event_msg", payload, second)


# --- the reference's tests, ported -------------------------------------------------------


def test_comprehensive_session(con, tmp_path):
    path = write(
        tmp_path / "rollout-abc.jsonl",
        [
            meta(git_branch="main", originator="codex-cli", cli_version="1.0.0"),
            message("user", "List files", 1),
            event({"type": "agent_reasoning", "text": "Thinking step 1"}, 2),
            event({"type": "agent_reasoning", "text": "Thinking step 2"}, 3),
            message("assistant", "Here are the files", 4),
            item(
                {"type": "function_call", "call_id": "call-1", "name": "shell", "arguments": '{"cmd": "ls"}'},
                5,
            ),
            item({"type": "function_call_output", "call_id": "call-1", "output": "file1.txt\nfile2.txt"}, 6),
        ],
    )
    row = one(con, tmp_path)
    assert row["trace_id"] == row["root_session_id"] == "sess-1"
    assert row["source_kind"] == "codex" and row["source_path"] == str(path)
    assert (row["cwd"], row["project_path"], row["git_branch"]) == ("/project", "/project", "main")
    assert row["meta"]["originator"] == "codex-cli" and row["meta"]["cli_version"] == "1.0.0"
    assert row["final_assistant_message"] == "Here are the files"
    assert row["tool_call_count"] == 1
    # The text and the call it announces are one assistant turn (the reference: two messages).
    user, assistant, tool = row["messages"]
    assert texts(user) == ["List files"]
    assert assistant["reasoning_content"] == "Thinking step 1\n\nThinking step 2"
    assert texts(assistant) == ["Here are the files"]
    assert assistant["tool_calls"][0]["function"] == {"name": "shell", "arguments": '{"cmd": "ls"}'}
    assert tool["tool_call_id"] == "call-1" and texts(tool) == ["file1.txt\nfile2.txt"]
    assert row["started_at"].isoformat() == "2026-03-10T10:00:00+00:00"
    assert row["ended_at"].isoformat() == "2026-03-10T10:00:06+00:00"


def test_unattached_reasoning_is_kept_in_source_meta(con, tmp_path):
    write(
        tmp_path / "rollout-x.jsonl",
        [meta(), event({"type": "agent_reasoning", "text": "Orphan thought"}, 1)],
    )
    row = one(con, tmp_path)
    assert row["meta"]["unattached_reasoning"] == ["Orphan thought"]
    assert row["message_count"] == 0


def test_reasoning_response_item(con, tmp_path):
    summary = [{"type": "summary_text", "text": "Step A"}, {"type": "summary_text", "text": "Step B"}]
    write(
        tmp_path / "rollout-x.jsonl",
        [
            meta(),
            message("user", "Go"),
            item({"type": "reasoning", "summary": summary}),
            message("assistant", "Done reasoning"),
        ],
    )
    row = one(con, tmp_path)
    assert row["messages"][1]["reasoning_content"] == "Step A\n\nStep B"
    assert "reasoning" in row["meta"]["response_item_types"]


def test_custom_tool_call_and_apply_patch_call(con, tmp_path):
    patch = "--- a/file.py\n+++ b/file.py"
    write(
        tmp_path / "rollout-x.jsonl",
        [
            meta(),
            item(
                {
                    "type": "custom_tool_call",
                    "call_id": "ct-1",
                    "name": "my_tool",
                    "input": "plain text input",
                }
            ),
            item({"type": "custom_tool_call_output", "call_id": "ct-1", "output": "ok"}),
            item({"type": "apply_patch_call", "call_id": "ap-1", "name": "apply_patch", "input": patch}),
            item({"type": "apply_patch_call_output", "call_id": "ap-1", "output": "applied"}),
        ],
    )
    row = one(con, tmp_path)
    assert row["tool_call_count"] == 2
    calls = [m["tool_calls"][0] for m in row["messages"] if m["tool_calls"]]
    assert [(c["id"], c["function"]["arguments"]) for c in calls] == [
        ("ct-1", "plain text input"),
        ("ap-1", patch),
    ]
    assert [m["tool_call_id"] for m in row["messages"] if m["role"] == "tool"] == ["ct-1", "ap-1"]


def test_unknown_response_item_type_is_reported_and_the_file_read(con, tmp_path):
    write(
        tmp_path / "rollout-x.jsonl",
        [meta(), message("user", "hi"), item({"type": "brand_new_type", "x": 1})],
    )
    row = one(con, tmp_path)
    assert row["message_count"] == 1 and "brand_new_type" in row["meta"]["response_item_types"]
    (diag,) = diagnostics(con)
    assert "brand_new_type" in diag["reason"] and diag["severity"] == "warning" and diag["line"] == 3


def test_default_pattern_reads_rollout_files_only(con, tmp_path):
    for name in ("rollout-abc.jsonl", "subdir/rollout-xyz.jsonl", "session.jsonl", "rollout-abc.json"):
        write(tmp_path / name, [meta(id=name)])
    assert sorted(r["trace_id"] for r in rows(con, tmp_path)) == [
        "rollout-abc.jsonl",
        "subdir/rollout-xyz.jsonl",
    ]


def test_message_roles_and_argument_shapes(con, tmp_path):
    write(
        tmp_path / "rollout-x.jsonl",
        [
            meta(),
            message("developer", "be careful"),
            line("response_item", {"type": "message", "role": "tool", "content": "raw tool text"}),
            item({"type": "function_call", "call_id": "c1", "name": "f", "arguments": {"b": 1, "a": [2]}}),
            item(
                {
                    "type": "function_call_output",
                    "call_id": "c1",
                    "output": [{"type": "output_text", "text": "x"}],
                }
            ),
            item({"type": "function_call", "call_id": "c2", "name": "g", "arguments": None}),
            item({"type": "function_call_output", "call_id": "c2", "output": "y"}),
            item({"type": "custom_tool_call", "call_id": "c3", "name": "h"}),
        ],
    )
    system, tool, call1, out1, call2, _, call3 = one(con, tmp_path)["messages"]
    assert system["role"] == "system" and texts(system) == ["be careful"]
    assert tool["role"] == "tool" and tool["tool_call_id"] is None and texts(tool) == ["raw tool text"]
    assert call1["tool_calls"][0]["function"]["arguments"] == '{"a": [2], "b": 1}'
    assert out1["content"] == [{"type": "text", "text": "x", "data": None}]
    assert call2["tool_calls"][0]["function"]["arguments"] == "{}"
    assert call3["tool_calls"][0]["function"]["arguments"] == ""


def test_records_with_non_object_payload_still_count_and_give_times(con, tmp_path):
    write(
        tmp_path / "rollout-x.jsonl",
        [meta(), line("response_item", "not an object", 9), message("user", "hi", 1)],
    )
    row = one(con, tmp_path)
    assert row["meta"]["record_count"] == 3 and row["message_count"] == 1
    assert row["ended_at"].isoformat() == "2026-03-10T10:00:09+00:00"
    assert [d["line"] for d in diagnostics(con)] == [2]


# --- corpus: EXPECTED.md and parity with the reference ----------------------------------


@needs_corpus
def test_every_corpus_file_gives_a_row_with_a_file_pattern(con):
    got = {
        str(Path(r["source_path"]).relative_to(CORPUS / "codex")): r
        for r in rows(con, CORPUS / "codex", file_pattern="*.jsonl")
    }
    assert len(got) == 13
    assert got["agent-sessions/codex_050_legacy.jsonl"]["trace_id"] == "test-legacy-session"
    usage_only = got["ccusage/sessions/project-alpha/session-alpha.jsonl"]
    assert usage_only["message_count"] == 0 and usage_only["trace_id"] == "session-alpha"
    # The last token_count snapshot holds the totals (input 3500 of which 750 cached).
    assert (usage_only["input_tokens"], usage_only["cache_read_tokens"], usage_only["output_tokens"]) == (
        2750,
        750,
        425,
    )
    assert usage_only["models"] == ["gpt-5.2-codex", "gpt-5.3-codex"]
    malformed = got["claude-code-log/malformed/rollout-66666666-6666-4666-8666-666666666666.jsonl"]
    assert [texts(m) for m in malformed["messages"]] == [["Safe line before malformed input."]]
    (bad,) = [
        d
        for d in diagnostics(con)
        if d["path"].endswith("rollout-66666666-6666-4666-8666-666666666666.jsonl")
    ]
    assert bad["line"] == 3 and bad["severity"] == "warning" and "invalid JSON" in bad["reason"]


def test_parity_with_the_reference():
    """On the in-repo fixtures, and on the shared corpus when it is present."""
    for material in materials():
        connection = open_connection()
        try:
            root = material.root("codex")
            ours = reference_forms_by_path(rows(connection, root, file_pattern="*.jsonl"), root)
        finally:
            connection.close()
        deviations = DEVIATIONS if material is CORPUS_MATERIAL else FIXTURE_DEVIATIONS
        assert_parity(ours, reference_rows("codex", material), deviations)


def reference_messages(relpath: str, material: Material = CORPUS_MATERIAL) -> list[dict]:
    (row,) = reference_rows("codex", material)[relpath]
    return row["messages"]


def as_text_blocks(messages: list[dict]) -> list[dict]:
    """The reference's messages with input_text/output_text renamed to text."""
    out = json.loads(json.dumps(messages))
    for m in out:
        for b in m["content"]:
            if b.get("type") in ("input_text", "output_text"):
                b["type"] = "text"
    return out


def our_reference_messages(con, relpath: str, material: Material = CORPUS_MATERIAL) -> list[dict]:
    root = material.root("codex")
    (row,) = [r for r in rows(con, root, file_pattern="*.jsonl") if r["source_path"] == str(root / relpath)]
    return reference_form(row, root)["messages"]


# --- one test per deviation ----------------------------------------------------------------


def test_text_block_types_are_normalized_and_nothing_else_differs(con):
    """In every file whose messages differ only by this: on the fixtures, and on the corpus."""
    for material in materials():
        deviations = DEVIATIONS if material is CORPUS_MATERIAL else FIXTURE_DEVIATIONS
        paths = [path for (path, field), why in deviations.items() if field == "messages" and why == TEXT]
        assert paths
        for path in paths:
            assert our_reference_messages(con, path, material) == as_text_blocks(
                reference_messages(path, material)
            )


def test_text_blocks_keep_annotations_as_data(con, tmp_path):
    cited = {
        "type": "output_text",
        "text": "See docs.",
        "annotations": [{"type": "url_citation", "url": "u"}],
    }
    write(
        tmp_path / "rollout-x.jsonl",
        [meta(), item({"type": "message", "role": "assistant", "content": [cited]})],
    )
    (block,) = one(con, tmp_path)["messages"][0]["content"]
    assert block["type"] == "text" and block["text"] == "See docs." and json.loads(block["data"]) == cited


@needs_corpus
def test_prompts_recorded_only_as_events_are_kept(con):
    spawn = our_reference_messages(con, SPAWN)
    assert spawn == [
        {"role": "user", "content": [{"type": "text", "text": "Spawn a synthetic researcher."}]}
    ] + (as_text_blocks(reference_messages(SPAWN)))


def test_event_messages_do_not_double_response_items(con):
    row = one(con, MODERN)
    prompts = [texts(m) for m in row["messages"] if m["role"] == "user"]
    assert prompts.count(["Why do the tests fail?"]) == 1
    answers = [texts(m) for m in row["messages"] if m["role"] == "assistant"]
    assert answers.count(["The fixture scope is wrong."]) == 1


@needs_corpus
def test_sub_agent_rollout_from_the_corpus(con):
    root = CORPUS / "codex"
    child = one(con, root / CHILD)
    assert child["trace_id"] == child["agent_id"] == "33333333-3333-4333-8333-333333333333"
    assert child["root_session_id"] == "22222222-2222-4222-8222-222222222222" and child["is_sidechain"]
    assert child["meta"]["source"] == {
        "subagent": {
            "thread_spawn": {
                "parent_thread_id": "22222222-2222-4222-8222-222222222222",
                "forked_from_id": "fork-item-001",
                "spawn_call_id": "call-spawn-001",
            }
        }
    }
    # Its own work follows the replayed parent prefix (2 messages timestamped before it started).
    assert child["meta"]["replayed_prefix_messages"] == 2
    assert [texts(m) for m in child["messages"][2:]] == [
        ["Inspect fixtures."],
        ["The fixtures are fully synthetic."],
    ]
    assert child["final_assistant_message"] == "The fixtures are fully synthetic."
    assert child["started_at"].isoformat() == "2026-01-03T04:05:10+00:00"


def test_nested_sub_agents_belong_to_the_top_session(con):
    got = {r["trace_id"]: r for r in rows(con, FIXTURES / "subagents")}
    root, child, grandchild, review = (
        got[k] for k in ("root-0001", "child-0002", "grandchild-0003", "review-0004")
    )
    assert (root["root_session_id"], root["agent_id"], root["is_sidechain"]) == ("root-0001", None, False)
    assert (child["root_session_id"], child["agent_id"], child["is_sidechain"]) == (
        "root-0001",
        "child-0002",
        True,
    )
    assert child["meta"]["agent_nickname"] == "Scout" and child["meta"]["agent_role"] == "explorer"
    # No depth recorded: the chain is followed through the other rollouts of the folder.
    assert (
        grandchild["root_session_id"] == "root-0001"
        and grandchild["meta"]["parent_thread_id"] == "child-0002"
    )
    assert (review["root_session_id"], review["is_sidechain"], review["meta"]["subagent"]) == (
        "review-0004",
        True,
        "review",
    )


def test_lineage_does_not_depend_on_which_files_are_selected(con):
    grandchild = FIXTURES / "subagents/2026/01/05/rollout-2026-01-05T10-00-20-grandchild-0003.jsonl"
    assert one(con, grandchild)["root_session_id"] == "root-0001"


def test_first_session_meta_is_the_session_and_later_ones_are_replayed(con):
    child = {r["trace_id"]: r for r in rows(con, FIXTURES / "subagents")}["child-0002"]
    assert child["meta"]["replayed_session_ids"] == ["root-0001"]  # the reference: last one wins
    assert child["meta"]["replayed_prefix_messages"] == 1
    assert child["started_at"].isoformat() == "2026-01-05T10:00:10+00:00"


def test_object_valued_source_is_json(con, tmp_path):
    write(tmp_path / "rollout-x.jsonl", [meta(source={"subagent": {"other": "guardian"}})])
    row = one(con, tmp_path)
    assert row["meta"]["source"] == {"subagent": {"other": "guardian"}} and row["meta"]["subagent"] == "other"


# --- the other fixes of normalized-schema.md item 3, each on a fixture ----------------------


def test_modern_rollout(con):
    row = one(con, MODERN)
    assert row["git_branch"] == "feature/fix-tests"  # from session_meta.git.branch
    assert row["models"] == ["gpt-5-codex"]
    # Totals from the last token_count; input_tokens excludes the cached part.
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (3000, 6000, 700)
    roles = [m["role"] for m in row["messages"]]
    assert roles == [
        "system", "user", "user", "assistant", "tool", "tool", "assistant", "assistant",
        "assistant", "user", "assistant", "tool", "assistant", "system",
    ]  # fmt: skip
    assert row["final_assistant_message"] == "Explained."
    assert row["meta"]["unattached_reasoning"] == ["**Wrapping up**"]
    assert row["meta"]["compactions"] == 1 and texts(row["messages"][-1]) == [
        "Summary of the session so far."
    ]


def test_reasoning_written_twice_is_kept_once(con):
    reasoning = [m["reasoning_content"] for m in one(con, MODERN)["messages"] if m["reasoning_content"]]
    assert reasoning == ["**Checking the tests**", "**Searching the web**", "**Planning a fix**"]


def test_reasoning_before_a_user_message_is_kept(con):
    messages = one(con, MODERN)["messages"]
    aborted, user = messages[8], messages[9]
    assert aborted["role"] == "assistant" and aborted["content"] == []
    assert aborted["reasoning_content"] == "**Planning a fix**" and texts(user) == ["Stop, just explain."]


def test_parallel_calls_and_their_announcement_are_one_assistant_message(con):
    turn, shell_out, ls_out = one(con, MODERN)["messages"][3:6]
    assert texts(turn) == ["Running the suite and listing files."]
    assert [c["id"] for c in turn["tool_calls"]] == ["call-shell", "call-ls"]
    assert (shell_out["tool_call_id"], ls_out["tool_call_id"]) == ("call-shell", "call-ls")


def test_builtin_tool_items_are_tool_calls(con):
    calls = {c["function"]["name"]: c for m in one(con, MODERN)["messages"] for c in m["tool_calls"] or ()}
    assert json.loads(calls["local_shell"]["function"]["arguments"])["command"] == ["pytest", "-q"]
    assert json.loads(calls["web_search"]["function"]["arguments"]) == {
        "type": "search",
        "query": "pytest fixture scope",
    }
    assert calls["web_search"]["id"] == "ws_1"
    assert json.loads(calls["tool_search"]["function"]["arguments"]) == {"query": "docs"}
    assert set(calls) == {"local_shell", "list_files", "web_search", "tool_search"}


def test_tool_errors_come_from_exec_events(con):
    tools = {m["tool_call_id"]: m for m in one(con, MODERN)["messages"] if m["role"] == "tool"}
    assert tools["call-shell"]["is_error"] is True and tools["call-ls"]["is_error"] is None


def test_object_tool_output_is_json_text(con, tmp_path):
    write(
        tmp_path / "rollout-x.jsonl",
        [
            meta(),
            item({"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}),
            item({"type": "function_call_output", "call_id": "c1", "output": {"stdout": "ok", "exit": 0}}),
            item({"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{}"}),
            item(
                {
                    "type": "function_call_output",
                    "call_id": "c2",
                    "output": {"content": "boom", "success": False},
                }
            ),
        ],
    )
    messages = one(con, tmp_path)["messages"]
    assert texts(messages[1]) == ['{"exit": 0, "stdout": "ok"}']
    assert texts(messages[3]) == ["boom"] and messages[3]["is_error"] is True


def test_legacy_rollout(con):
    row = one(con, FIXTURES / "legacy")
    assert row["trace_id"] == "0c27a914-legacy" and row["git_branch"] == "main"
    assert row["meta"]["rollout_format"] == "legacy"
    assert [m["role"] for m in row["messages"]] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
    ]
    assert row["messages"][1]["reasoning_content"] == "Listing files first"
    assert [c["function"]["name"] for m in row["messages"] for c in m["tool_calls"] or ()] == [
        "shell",
        "local_shell",
    ]
    assert row["final_assistant_message"] == "The repo has a README."
    assert row["started_at"].isoformat() == "2025-08-20T13:20:47.060000+00:00"


def test_legacy_header_with_cwd_and_untyped_message_items(con, tmp_path):
    write(
        tmp_path / "session.jsonl",
        [
            {
                "id": "mid-2025",
                "timestamp": "2025-09-13T01:00:00.000Z",
                "cwd": "/p",
                "originator": "codex_cli_rs",
            },
            {"record_type": "state"},
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hello"}]},
        ],
    )
    row = one(con, tmp_path, file_pattern="*.jsonl")
    assert (row["trace_id"], row["cwd"], row["meta"]["originator"]) == ("mid-2025", "/p", "codex_cli_rs")
    assert [texts(m) for m in row["messages"]] == [["hi"], ["hello"]]


def test_files_not_named_rollout_are_read_when_pointed_at(con, tmp_path):
    path = write(tmp_path / "export.jsonl", [meta(), message("user", "hi")])
    assert one(con, path)["trace_id"] == "sess-1"


def test_a_bad_line_keeps_the_rest_of_the_session(con, tmp_path):
    write(
        tmp_path / "rollout-x.jsonl",
        [meta(), message("user", "before"), "{broken", message("assistant", "after")],
    )
    row = one(con, tmp_path)
    assert [texts(m) for m in row["messages"]] == [["before"], ["after"]]
    assert [(d["line"], d["severity"]) for d in diagnostics(con)] == [(3, "warning")]


def test_unsupported_role_costs_one_message_not_the_file(con, tmp_path):
    write(tmp_path / "rollout-x.jsonl", [meta(), message("critic", "nope"), message("user", "yes")])
    row = one(con, tmp_path)
    assert [texts(m) for m in row["messages"]] == [["yes"]]
    assert "critic" in diagnostics(con)[0]["reason"]


def test_unparseable_session_start_falls_back_to_the_earliest_record(con, tmp_path):
    write(tmp_path / "rollout-x.jsonl", [meta(timestamp="yesterday"), message("user", "hi", 5)])
    row = one(con, tmp_path)
    assert row["started_at"].isoformat() == "2026-03-10T10:00:00+00:00"
    assert row["meta"]["started_at_raw"] == "2026-03-10T10:00:00.000Z"


def test_not_a_rollout_and_empty_files_are_skipped_with_a_reason(con, tmp_path):
    write(
        tmp_path / "claude.jsonl",
        [{"type": "user", "uuid": "u1", "message": {"role": "user", "content": "hi"}}],
    )
    (tmp_path / "empty.jsonl").write_text("\n")
    assert rows(con, tmp_path, file_pattern="*.jsonl") == []
    reasons = {Path(d["path"]).name: d for d in diagnostics(con)}
    assert (
        reasons["claude.jsonl"]["severity"] == "skip"
        and "not a Codex rollout" in reasons["claude.jsonl"]["reason"]
    )
    assert reasons["empty.jsonl"]["severity"] == "skip" and "empty" in reasons["empty.jsonl"]["reason"]


def test_traces_detects_codex_files(con):
    kinds = con.execute(f"SELECT DISTINCT source_kind FROM traces('{FIXTURES}')").fetchall()
    assert kinds == [("codex",)]


def test_sniff_recognizes_all_generations_and_rejects_look_alikes():
    reader = CodexReader()
    wrapped = json.dumps(meta()).encode()
    assert reader.sniff("x.jsonl", wrapped + b"\n")
    assert reader.sniff(
        "x.jsonl", b'{"id":"a","timestamp":"t","instructions":null}\n{"record_type":"state"}\n'
    )
    huge = b'{"timestamp":"t","type":"session_meta","payload":{"base_instructions":"' + b"x" * 70000
    assert reader.sniff("x.jsonl", huge[: 64 * 1024])
    assert not reader.sniff("x.jsonl", b'{"type":"user","uuid":"u","sessionId":"s","message":{}}\n')
    assert not reader.sniff("x.jsonl", b'{"role":"session_meta","tools":[],"model":"m","timestamp":"t"}\n')
    assert not reader.sniff("x.jsonl", b'{"type":"session","version":3,"id":"p","cwd":"/"}\n')
    assert not reader.sniff("x.jsonl", b'{"id":"h","source":"cli","messages":[],"started_at":1.0}\n')


def test_reasoning_before_a_tool_output_waits_for_the_next_step(con, tmp_path):
    write(
        tmp_path / "rollout-x.jsonl",
        [
            meta(),
            item({"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}),
            item({"type": "reasoning", "summary": [{"type": "summary_text", "text": "next step"}]}),
            item({"type": "function_call_output", "call_id": "c1", "output": "done"}),
            message("assistant", "finished"),
        ],
    )
    call, output, answer = one(con, tmp_path)["messages"]
    assert output["tool_call_id"] == "c1" and answer["reasoning_content"] == "next step"


def test_odd_values_where_strings_belong_never_break_the_read(con, tmp_path):
    write(
        tmp_path / "rollout-x.jsonl",
        [
            meta(),
            {"timestamp": "2026-03-10T10:00:01Z", "type": ["not", "a", "type"], "payload": {}},
            item({"type": "message", "role": {"r": 1}, "content": []}),
            item({"type": "reasoning", "summary": True}),
            event({"type": "user_message", "message": "typed", "images": 1.5}),
            item(
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": ["output_text"], "text": "odd"}],
                }
            ),
        ],
    )
    row = one(con, tmp_path)
    assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
    assert row["messages"][1]["content"][0]["text"] == "odd"
    assert "unknown" in row["meta"]["record_types"]
    assert any("role" in d["reason"] for d in diagnostics(con))


def test_raw_reasoning_events_do_not_leak_into_the_next_turn(con, tmp_path):
    reasoning = {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "Short plan"}],
        "content": [{"type": "reasoning_text", "text": "Long raw thoughts"}],
    }
    write(
        tmp_path / "rollout-x.jsonl",
        [
            meta(),
            message("user", "q1"),
            item(reasoning),
            message("assistant", "a1"),
            event({"type": "agent_reasoning", "text": "Short plan"}),
            event({"type": "agent_reasoning_raw_content", "text": "Long raw thoughts"}),
            message("assistant", "a2"),
        ],
    )
    _, first, second = one(con, tmp_path)["messages"]
    assert first["reasoning_content"] == "Short plan" and second["reasoning_content"] is None
