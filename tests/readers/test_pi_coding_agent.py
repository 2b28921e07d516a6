"""Pi Coding Agent reader: the reference's tests (Data Designer test_pi_coding_agent.py and
its verified behaviours) ported, EXPECTED.md for the corpus, parity with the reference's
rows, and one focused test per deviation from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.readers.conftest import diagnostics, trace_rows
from tests.readers.parity import (
    CORPUS,
    CORPUS_MATERIAL,
    assert_parity,
    materials,
    needs_corpus,
    reference_forms_by_path,
    reference_rows,
)
from tracesql.readers.pi_coding_agent.reader import PiCodingAgentReader

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pi_coding_agent"
V1 = FIXTURES / "v1"
TREE = FIXTURES / "tree"
LARGE = "pi-mono/test-fixtures/large-session.jsonl"
BEFORE = "pi-mono/test-fixtures/before-compaction.jsonl"
V1_WHY = "a v1 session (no entry ids) is read in file order; the reference keeps only its last entry"
TIMES_WHY = "the row's times cover every message's own timestamp (test_pi_errors_models_and_times)"

# Where our rows differ from the reference's on the corpus, and why (each has a test below).
DEVIATIONS = {
    (LARGE, "messages"): V1_WHY,
    (LARGE, "message_count"): V1_WHY,
    (LARGE, "tool_call_count"): V1_WHY,
    (LARGE, "source_meta.entry_types"): V1_WHY,
    (LARGE, "source_meta.stop_reasons"): V1_WHY,
    (LARGE, "source_meta.models_used"): V1_WHY,
    (BEFORE, "messages"): V1_WHY,
    (BEFORE, "message_count"): V1_WHY,
    (BEFORE, "tool_call_count"): V1_WHY,
    (BEFORE, "final_assistant_message"): V1_WHY,
    (BEFORE, "source_meta.entry_types"): V1_WHY,
    (BEFORE, "source_meta.stop_reasons"): V1_WHY,
    (LARGE, "started_at"): TIMES_WHY,
    (BEFORE, "started_at"): TIMES_WHY,
}
# The same on the in-repo fixtures (tests/fixtures-expected/pi_coding_agent.dd.jsonl). The
# reference skips the tree fixture for its line with two entries (test_two_entries_on_one_line...).
_V1 = "v1/--work-app--/2025-11-01T10-00-00-000Z_v1-session-0001.jsonl"
FIXTURE_DEVIATIONS = {
    (_V1, field): V1_WHY
    for field in (
        "messages",
        "message_count",
        "tool_call_count",
        "final_assistant_message",
        "source_meta.entry_types",
        "source_meta.stop_reasons",
        "source_meta.bash_execution_count",
    )
}
_ERRORS = "fidelity/pi-errors-and-times.jsonl"
FIXTURE_DEVIATIONS |= {
    (_ERRORS, "started_at"): TIMES_WHY,
    (_ERRORS, "ended_at"): TIMES_WHY,
    (
        _ERRORS,
        "messages",
    ): "error and aborted turns are marked, with their reason (test_pi_errors_models_and_times)",
    (
        _ERRORS,
        "final_assistant_message",
    ): "an aborted turn's cut-off text is no final answer (test_pi_errors...)",
}

HEADER = {
    "type": "session",
    "version": 3,
    "id": "abc-123",
    "timestamp": "2026-04-07T10:00:00.000Z",
    "cwd": "/home/user/project",
}


def rows(con, path, **args) -> list[dict]:
    return trace_rows(con, "pi_coding_agent_traces", path, **args)


def one(con, path, **args) -> dict:
    (row,) = rows(con, path, **args)
    return row


def texts(message: dict) -> list[str | None]:
    return [b["text"] for b in message["content"]]


def write(path: Path, records: list, header: dict | None = HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ([header] if header else []) + records
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in lines))
    return path


def entry(
    eid: str, parent: str | None, message: dict | None = None, *, ts: str = "2026-04-07T10:00:01.000Z", **kw
):
    rec = {
        "type": "message" if message is not None else kw.pop("type"),
        "id": eid,
        "parentId": parent,
        "timestamp": ts,
    }
    if message is not None:
        rec["message"] = message
    rec.update(kw)
    return rec


def user(text) -> dict:
    return {"role": "user", "content": [{"type": "text", "text": text}] if isinstance(text, str) else text}


def assistant(*blocks, stop: str = "stop", model: str | None = None) -> dict:
    out = {"role": "assistant", "content": list(blocks), "stopReason": stop}
    if model:
        out.update(provider="tcri", model=model)
    return out


def text(value: str) -> dict:
    return {"type": "text", "text": value}


def call(cid: str, name: str, **arguments) -> dict:
    return {"type": "toolCall", "id": cid, "name": name, "arguments": arguments}


def result(cid: str, value: str, **kw) -> dict:
    return {"role": "toolResult", "toolCallId": cid, "toolName": "t", "content": [text(value)], **kw}


# --- the reference's tests, ported -------------------------------------------------------


def test_happy_path(con, tmp_path):
    path = write(
        tmp_path / "subdir" / "session.jsonl",
        [
            entry("m1", None, type="model_change", provider="tcri", modelId="tcri/donatello-70b"),
            entry("t1", "m1", type="thinking_level_change", thinkingLevel="high"),
            entry("e1", "t1", user([text("Explore the repo")])),
            entry(
                "e2",
                "e1",
                assistant(
                    {"type": "thinking", "thinking": "Let me explore the repo."},
                    text("Looking around."),
                    call("tooluse_abc123", "bash", command="ls"),
                    stop="toolUse",
                ),
            ),
            entry("e3", "e2", result("tooluse_abc123", "README.md")),
            entry(
                "e4",
                "e3",
                assistant(call("tooluse_read1", "read", path="a"), call("tooluse_read2", "read", path="b")),
            ),
            entry("e5", "e4", result("tooluse_read1", "A")),
            entry("e6", "e5", result("tooluse_read2", "B")),
            entry("e7", "e6", assistant(text("All done.")), ts="2026-04-07T10:01:00.000Z"),
        ],
    )
    row = one(con, tmp_path)
    assert row["trace_id"] == row["root_session_id"] == "abc-123" and row["source_path"] == str(path)
    assert row["cwd"] == row["project_path"] == "/home/user/project"
    assert row["meta"]["started_at_raw"] == "2026-04-07T10:00:00.000Z"
    assert row["meta"]["ended_at_raw"] == "2026-04-07T10:01:00.000Z"
    assert row["ended_at"].isoformat() == "2026-04-07T10:01:00+00:00"
    assert row["final_assistant_message"] == "All done."
    assert (row["message_count"], row["tool_call_count"]) == (7, 3)
    m = row["messages"]
    assert (
        m[1]["reasoning_content"] == "Let me explore the repo."
        and m[1]["tool_calls"][0]["function"]["name"] == "bash"
    )
    assert m[2]["tool_call_id"] == "tooluse_abc123"
    assert [c["id"] for c in m[3]["tool_calls"]] == ["tooluse_read1", "tooluse_read2"]
    assert [m[4]["tool_call_id"], m[5]["tool_call_id"]] == ["tooluse_read1", "tooluse_read2"]
    assert m[6]["tool_calls"] is None
    ids = {c["id"] for x in m for c in x["tool_calls"] or ()}
    assert ids == {x["tool_call_id"] for x in m if x["role"] == "tool"}
    meta = row["meta"]
    assert (meta["record_count"], meta["session_version"], meta["stop_reasons"]) == (
        10,
        3,
        ["toolUse", "stop"],
    )
    assert meta["models_used"] == ["tcri/donatello-70b"]
    assert {"model_change", "thinking_level_change"} <= set(meta["entry_types"])
    assert "has_branches" not in meta


def test_tool_calls_without_text(con, tmp_path):
    write(
        tmp_path / "s.jsonl",
        [
            entry("e1", None, user("read three files")),
            entry(
                "e2", "e1", assistant(*(call(f"c{i}", "read", path=str(i)) for i in range(3)), stop="toolUse")
            ),
            entry("e3", "e2", result("c0", "0")),
            entry("e4", "e3", result("c1", "1")),
            entry("e5", "e4", result("c2", "2")),
            entry("e6", "e5", assistant(text("Read them all."))),
        ],
    )
    row = one(con, tmp_path)
    assert (row["message_count"], row["tool_call_count"]) == (6, 3)
    assert [c["function"]["name"] for c in row["messages"][1]["tool_calls"]] == ["read", "read", "read"]
    assert texts(row["messages"][1]) == [""]
    assert [m["tool_call_id"] for m in row["messages"] if m["role"] == "tool"] == ["c0", "c1", "c2"]
    assert row["final_assistant_message"] == "Read them all."


def test_active_branch(con, tmp_path):
    write(
        tmp_path / "s.jsonl",
        [
            entry("e1", None, user("start")),
            entry("e2a", "e1", assistant(text("Branch A"))),
            entry("e2b", "e1", assistant(text("Branch B"))),
        ],
    )
    row = one(con, tmp_path)
    assert row["message_count"] == 2 and texts(row["messages"][1]) == ["Branch B"]
    assert row["meta"]["has_branches"] is True and row["meta"]["off_path_entries"] == 1


def test_excluded_bash_execution(con, tmp_path):
    bash = {
        "role": "bashExecution",
        "command": "ls",
        "output": "x",
        "exitCode": 0,
        "excludeFromContext": True,
    }
    write(tmp_path / "s.jsonl", [entry("e1", None, bash)])
    row = one(con, tmp_path)
    assert row["message_count"] == 0 and row["meta"]["bash_execution_count"] == 1


def test_missing_header_is_skipped_with_a_reason(con, tmp_path):
    write(tmp_path / "s.jsonl", [entry("e1", None, user("hi"))], header=None)
    assert rows(con, tmp_path) == []
    (diag,) = diagnostics(con)
    assert diag["severity"] == "skip" and "not a Pi session" in diag["reason"] and diag["line"] == 1


def test_empty_file_is_skipped(con, tmp_path):
    (tmp_path / "s.jsonl").write_text("")
    assert rows(con, tmp_path) == []
    assert "empty" in diagnostics(con)[0]["reason"]


def test_default_pattern_reads_jsonl_files_only(con, tmp_path):
    write(tmp_path / "deep/er/s.jsonl", [entry("e1", None, user("hi"))])
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("notes")
    assert [r["trace_id"] for r in rows(con, tmp_path)] == ["abc-123"]


def test_model_changes(con, tmp_path):
    write(
        tmp_path / "s.jsonl",
        [
            entry("e1", None, type="model_change", provider="krang", modelId="krang/raphael-405b"),
            entry("e2", "e1", assistant(text("hi"), model="krang/raphael-405b")),
        ],
    )
    assert one(con, tmp_path)["meta"]["models_used"] == ["krang/raphael-405b"]


@pytest.mark.parametrize("role", ["compactionSummary", "branchSummary"])
def test_summary_roles_are_system_messages(con, tmp_path, role):
    write(
        tmp_path / "s.jsonl",
        [entry("e1", None, {"role": role, "summary": "Earlier work."}), entry("e2", "e1", user("next"))],
    )
    system, next_user = one(con, tmp_path)["messages"]
    assert system["role"] == "system" and texts(system) == ["Earlier work."] and texts(next_user) == ["next"]


def test_compaction_entry(con, tmp_path):
    write(
        tmp_path / "s.jsonl",
        [
            entry("c1", None, type="compaction", summary="Summary.", firstKeptEntryId="c1", tokensBefore=9),
            entry("e1", "c1", user("continue")),
        ],
    )
    row = one(con, tmp_path)
    assert [m["role"] for m in row["messages"]] == ["system", "user"]
    assert row["meta"]["compactions"] == [
        {
            "kind": "compaction",
            "entry_id": "c1",
            "summary_message": 1,
            "tokens_before": 9,
            "first_kept_message": 1,
        }
    ]


def test_branch_summary_entry(con, tmp_path):
    write(
        tmp_path / "s.jsonl",
        [
            entry("e1", None, user("Try approach A")),
            entry("e2", "e1", assistant(text("A failed."))),
            entry("e3", "e1", type="branch_summary", fromId="e2", summary="Approach A failed."),
            entry("e4", "e3", user("Try approach B instead.")),
        ],
    )
    row = one(con, tmp_path)
    assert [(m["role"], texts(m)) for m in row["messages"]] == [
        ("user", ["Try approach A"]),
        ("system", ["Approach A failed."]),
        ("user", ["Try approach B instead."]),
    ]


def test_parent_session(con, tmp_path):
    write(
        tmp_path / "s.jsonl",
        [entry("e1", None, user("hi"))],
        header={**HEADER, "parentSession": "/p/a.jsonl"},
    )
    assert one(con, tmp_path)["meta"]["parent_session"] == "/p/a.jsonl"


def test_bare_string_assistant_content(con, tmp_path):
    write(tmp_path / "s.jsonl", [entry("e1", None, {"role": "assistant", "content": "Plain text response."})])
    row = one(con, tmp_path)
    assert row["message_count"] == 1 and row["final_assistant_message"] == "Plain text response."


def test_tool_call_ids_and_unknown_roles(con, tmp_path):
    no_id = {"type": "toolCall", "name": "a", "arguments": {}}
    null_id = {"type": "toolCall", "id": None, "name": "b", "arguments": None}
    write(
        tmp_path / "s.jsonl",
        [
            entry("e1", None, assistant(no_id, null_id)),
            entry("e2", "e1", {"role": "mystery", "content": "?"}),
        ],
    )
    (only,) = one(con, tmp_path)["messages"]
    assert [(c["id"], c["function"]["arguments"]) for c in only["tool_calls"]] == [("", "{}"), (None, "{}")]


def test_last_entry_without_parent_is_the_whole_path(con, tmp_path):
    write(tmp_path / "s.jsonl", [entry("e1", None, user("old")), entry("e2", None, user("new root"))])
    assert [texts(m) for m in one(con, tmp_path)["messages"]] == [["new root"]]


def test_missing_parent_and_cycles_stop_the_path_with_a_warning(con, tmp_path):
    write(tmp_path / "a" / "s.jsonl", [entry("e1", None, user("lost")), entry("e2", "gone", user("kept"))])
    write(tmp_path / "b" / "s.jsonl", [entry("x", "y", user("x")), entry("y", "x", user("y"))])
    got = {Path(r["source_path"]).parent.name: r for r in rows(con, tmp_path)}
    assert [texts(m) for m in got["a"]["messages"]] == [["kept"]]
    assert [texts(m) for m in got["b"]["messages"]] == [["x"], ["y"]]
    reasons = [d["reason"] for d in diagnostics(con)]
    assert any("names no entry" in r for r in reasons) and any("cycle" in r for r in reasons)


# --- corpus: EXPECTED.md and parity with the reference ----------------------------------


@needs_corpus
def test_every_corpus_file_gives_a_row(con):
    got = {
        str(Path(r["source_path"]).relative_to(CORPUS / "pi_coding_agent")): r
        for r in rows(con, CORPUS / "pi_coding_agent")
    }
    assert set(got) == {"agent-sessions/small.jsonl", "agentsview/session.jsonl", LARGE, BEFORE}
    (bad,) = diagnostics(con)
    assert (
        bad["path"].endswith("agentsview/session.jsonl")
        and bad["line"] == 10
        and bad["severity"] == "warning"
    )
    kept = got["agentsview/session.jsonl"]
    assert kept["message_count"] == 6 and "unknown_future_entry_type" in kept["meta"]["entry_types"]
    assert kept["meta"]["branched_from"].endswith("_parent-uuid.jsonl")


def test_parity_with_the_reference(con):
    """On the in-repo fixtures, and on the shared corpus when it is present."""
    for material in materials():
        root = material.root("pi_coding_agent")
        ours = reference_forms_by_path(rows(con, root), root)
        deviations = DEVIATIONS if material is CORPUS_MATERIAL else FIXTURE_DEVIATIONS
        assert_parity(ours, reference_rows("pi_coding_agent", material), deviations)


# --- one test per deviation ----------------------------------------------------------------


@needs_corpus
def test_real_v1_sessions_are_read_in_file_order(con):
    got = {Path(r["source_path"]).name: r for r in rows(con, CORPUS / "pi_coding_agent/pi-mono")}
    large, before = got["large-session.jsonl"], got["before-compaction.jsonl"]
    # Every message entry (914) of the real session, in file order.
    assert large["message_count"] == 914 and large["meta"]["session_layout"] == "v1_linear"
    assert texts(large["messages"][0]) == ["/mode"]
    assert large["meta"]["models_used"] == ["gpt-5.1-codex", "claude-sonnet-4-5"]
    # 990 message entries and 2 compaction summaries; the 3 `!commands` are user messages.
    assert before["message_count"] == 992 and before["meta"]["bash_execution_count"] == 3
    assert before["tool_call_count"] == 454


def test_v1_fixture(con):
    row = one(con, V1)
    assert row["trace_id"] == "v1-session-0001" and row["meta"]["session_layout"] == "v1_linear"
    assert [m["role"] for m in row["messages"]] == [
        "user",
        "assistant",
        "tool",
        "user",
        "assistant",
        "user",
        "system",
        "assistant",
    ]
    assert row["models"] == ["anthropic/claude-sonnet-4-5", "openai/gpt-5.1-codex"]
    assert (
        row["input_tokens"],
        row["output_tokens"],
        row["cache_read_tokens"],
        row["cache_write_tokens"],
    ) == (
        90,
        120,
        300,
        5,
    )
    assert row["messages"][2]["is_error"] is True


def test_v1_compaction_points_at_the_first_kept_message(con):
    row = one(con, V1)
    (compaction,) = row["meta"]["compactions"]
    # firstKeptEntryIndex 7 counts the header: the 7th entry, the user's second request.
    assert compaction["summary_message"] == 7 and compaction["first_kept_message"] == 6
    assert texts(row["messages"][compaction["first_kept_message"] - 1]) == [
        "Fix it and show me a screenshot."
    ]
    summary = row["messages"][compaction["summary_message"] - 1]
    assert summary["role"] == "system" and texts(summary) == ["User asked to run tests; one fails on line 3."]


def test_compaction_context_is_rebuildable_in_sql(con):
    got = con.execute(
        f"""
        WITH t AS (SELECT messages, source_meta FROM pi_coding_agent_traces('{V1}')),
        c AS (SELECT messages,
                     (source_meta->'$.compactions[0].summary_message')::INT AS s,
                     (source_meta->'$.compactions[0].first_kept_message')::INT AS k FROM t)
        SELECT [m.role FOR m IN list_concat([messages[s]], messages[k:s-1], messages[s+1:])] FROM c
        """
    ).fetchone()[0]
    assert got == ["system", "user", "assistant"]


def test_timestamps_are_compared_chronologically(con):
    row = one(con, TREE)
    # "…T13:00:00+05:00" is the earliest instant and an epoch-ms number the latest.
    assert row["started_at"].isoformat() == "2026-02-01T08:00:00+00:00"
    assert row["meta"]["started_at_raw"] == "2026-02-01T13:00:00+05:00"
    assert row["ended_at"].isoformat() == "2026-02-01T08:05:00+00:00"
    assert row["messages"][0]["timestamp"].isoformat() == "2026-02-01T08:00:00+00:00"


def test_images_in_assistant_messages_are_kept(con):
    drawing = one(con, TREE)["messages"][1]
    assert [b["type"] for b in drawing["content"]] == ["text", "image"]
    assert json.loads(drawing["content"][1]["data"]) == {
        "type": "image",
        "data": "iVBORw0KGgo=",
        "mimeType": "image/png",
    }
    blocks = one(con, V1)["messages"][7]["content"]
    assert [(b["type"], b["text"]) for b in blocks] == [
        ("text", "Fixed. Screenshot:"),
        ("image", None),
        ("text", "All green."),
    ]


def test_odd_parent_id_is_a_diagnostic(con):
    row = one(con, TREE)
    assert row["meta"]["off_path_entries"] == 2  # the abandoned branch and the odd entry
    (odd,) = [d for d in diagnostics(con) if "parentId" in d["reason"]]
    assert odd["line"] == 5 and odd["severity"] == "warning" and "list" in odd["reason"]


def test_two_entries_on_one_line_are_both_read(con):
    row = one(con, TREE)
    assert ["Make it SVG."] in [texts(m) for m in row["messages"]]
    assert row["messages"][4]["tool_calls"][0]["id"] == "call_x|fc_y"
    assert row["final_assistant_message"] == "Done: logo.svg"
    (split,) = [d for d in diagnostics(con) if "one line" in d["reason"]]
    assert split["line"] == 8


def test_user_commands_are_what_the_model_saw(con, tmp_path):
    bash = {"role": "bashExecution", "command": "ls -la", "output": "total 0", "exitCode": 0}
    failed = {"role": "bashExecution", "command": "make", "output": "", "exitCode": 2, "cancelled": False}
    write(tmp_path / "s.jsonl", [entry("e1", None, bash), entry("e2", "e1", failed)])
    row = one(con, tmp_path)
    assert [(m["role"], texts(m)) for m in row["messages"]] == [
        ("user", ["Ran `ls -la`\n```\ntotal 0\n```"]),
        ("user", ["Ran `make`\n(no output)\n\nCommand exited with code 2"]),
    ]
    assert row["tool_call_count"] == 0 and row["meta"]["bash_execution_count"] == 2


def test_hidden_extension_messages_are_kept(con, tmp_path):
    write(
        tmp_path / "s.jsonl",
        [
            entry("e1", None, type="custom_message", customType="x", content="shown", display=True),
            entry("e2", "e1", type="custom_message", customType="x", content="hidden", display=False),
            entry(
                "e3", "e2", {"role": "custom", "customType": "x", "content": "hidden too", "display": False}
            ),
            entry("e4", "e3", user("go")),
        ],
    )
    row = one(con, tmp_path)
    assert [(m["role"], texts(m)) for m in row["messages"]] == [
        ("system", ["shown"]),
        ("system", ["hidden"]),
        ("system", ["hidden too"]),
        ("user", ["go"]),
    ]


def test_usage_counts_every_response_and_messages_carry_theirs(con):
    row = one(con, TREE)
    assert row["models"] == ["anthropic/claude-opus-4-5"]
    # The abandoned branch's response (1000/1000 tokens) was paid for too: it is a usage
    # entry with no message, and in the totals; the messages carry the active path's.
    assert (
        row["input_tokens"],
        row["output_tokens"],
        row["cache_read_tokens"],
        row["cache_write_tokens"],
    ) == (1028, 1030, 9, 1)
    off_path = [u for u in row["usage"] if u["message_index"] is None]
    assert [(u["input_tokens"], u["output_tokens"]) for u in off_path] == [(1000, 1000)]
    on_path = [u for u in row["usage"] if u["message_index"] is not None]
    for u in on_path:
        message = row["messages"][u["message_index"] - 1]
        assert (
            message["role"] == "assistant" and message["model"] == u["model"] == "anthropic/claude-opus-4-5"
        )
        assert message["usage"]["input_tokens"] == u["input_tokens"]
    assert (
        sum(u["input_tokens"] for u in on_path)
        == sum(m["usage"]["input_tokens"] for m in row["messages"] if m["usage"])
        == 28
    )
    assert all(u["id"].startswith("pi:") for u in row["usage"])
    assert row["meta"]["session_name"] == "Logo work"


def test_header_without_id_uses_the_file_name(con, tmp_path):
    header = {k: v for k, v in HEADER.items() if k != "id"}
    write(
        tmp_path / "2026-01-01T00-00-00-000Z_1234-abcd.jsonl", [entry("e1", None, user("hi"))], header=header
    )
    assert one(con, tmp_path)["trace_id"] == "1234-abcd"
    assert "no id" in diagnostics(con)[0]["reason"]


def test_sniff():
    reader = PiCodingAgentReader()
    assert reader.sniff("s.jsonl", json.dumps(HEADER).encode() + b"\n")
    assert not reader.sniff("s.jsonl", b'{"timestamp":"t","type":"session_meta","payload":{"id":"x"}}\n')
    assert not reader.sniff("s.jsonl", b'{"type":"summary","summary":"x","leafUuid":"u"}\n')


def test_traces_detects_pi_sessions(con):
    got = con.execute(f"SELECT source_kind, count(*) FROM traces('{FIXTURES}') GROUP BY ALL").fetchall()
    assert got == [("pi_coding_agent", 3)]


def test_tool_result_without_call_id_is_kept(con, tmp_path):
    write(tmp_path / "s.jsonl", [entry("e1", None, {"role": "toolResult", "content": [text("orphan")]})])
    (tool,) = one(con, tmp_path)["messages"]
    assert tool["role"] == "tool" and tool["tool_call_id"] is None and texts(tool) == ["orphan"]
    (diag,) = diagnostics(con)
    assert diag["severity"] == "warning" and "toolCallId" in diag["reason"] and diag["line"] == 2
