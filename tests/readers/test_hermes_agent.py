"""Hermes Agent reader: the four artifacts of ~/.hermes/sessions, the reference's tests
(Data Designer test_hermes_agent.py and seed-reader cases) ported, parity with the
reference on the corpus, and one test per deviation from it."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
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
from tracesql.readers.hermes_agent.reader import HermesAgentReader

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hermes_agent"

# Where our rows differ from the reference's on the corpus, and why (each has a test below).
SMALL = "agent-sessions/session_20260429_hermes_small.json"
DEVIATIONS = {
    (SMALL, "cwd"): "the session records cwd; the reference drops it (test_cli_session_cwd_is_kept)",
    (SMALL, "project_path"): "falls back to cwd, as in other formats (test_cli_session_cwd_is_kept)",
}
# On the in-repo fixtures: none. The reference skips the export and the gateway transcript
# that starts with a session_meta record (tests/fixtures-expected/hermes_agent.dd-warnings.jsonl).
FIXTURE_DEVIATIONS: dict[tuple[str, str], str] = {}


def rows(con, folder, **args) -> list[dict]:
    return trace_rows(con, "hermes_agent_traces", folder, **args)


def by_id(con, folder, **args) -> dict[str, dict]:
    return {r["trace_id"]: r for r in rows(con, folder, **args)}


def texts(message: dict) -> list[str | None]:
    return [b["text"] for b in message["content"]]


def write(path: Path, value) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(value, list):
        path.write_text("".join(json.dumps(v) + "\n" for v in value))
    else:
        path.write_text(json.dumps(value))
    return path


# --- the reference's tests, ported -------------------------------------------------------


def test_cli_session_log(con):
    row = by_id(con, FIXTURES / "sessions")["20260407_092759_baeaac"]
    assert row["root_session_id"] == "20260407_092759_baeaac"
    assert row["source_kind"] == "hermes_agent"
    assert row["meta"]["started_at_raw"] == "2026-04-07T09:39:07.028463"
    assert row["meta"]["ended_at_raw"] == "2026-04-07T09:51:07.905570"
    assert row["started_at"].isoformat() == "2026-04-07T09:39:07.028463+00:00"  # naive = UTC
    assert (row["message_count"], row["tool_call_count"]) == (5, 1)
    assert row["final_assistant_message"] == "Done."
    system, user, assistant, tool, final = row["messages"]
    assert system["role"] == "system" and texts(system) == ["You are Hermes."]
    assert assistant["tool_calls"][0]["id"] == "tooluse_1"
    assert assistant["tool_calls"][0]["function"] == {
        "name": "terminal",
        "arguments": '{"command":"uv init"}',
    }
    assert tool["tool_call_id"] == "tooluse_1"
    meta = row["meta"]
    assert meta["model"] == "anthropic/claude-sonnet-4.6"
    assert meta["base_url"] == "https://openrouter.ai/api/v1"
    assert meta["available_tool_names"] == ["terminal"] and meta["available_tool_count"] == 1
    assert json.loads(meta["tools"])[0]["function"]["name"] == "terminal"
    assert meta["has_system_prompt"] is True and meta["system_prompt_chars"] == 15
    assert meta["finish_reasons"] == ["tool_calls", "stop"]
    assert meta["record_count"] == 4 and meta["session_format"] == "cli_session_log"
    assert row["models"] == ["anthropic/claude-sonnet-4.6"]


def test_gateway_transcript_with_sessions_index(con):
    row = by_id(con, FIXTURES / "sessions")["gateway-session-1"]
    assert row["started_at"] is None and row["ended_at"] is None
    assert row["tool_call_count"] == 1
    assert row["final_assistant_message"] == "I'll inspect the logs."
    assert row["meta"]["session_format"] == "gateway_transcript"
    assert row["meta"]["session_key"] == "slack:thread-1"
    assert row["meta"]["tool_names_used"] == ["terminal"]


def test_folder_with_request_dump_session_index_and_transcripts(con):
    found = by_id(con, FIXTURES / "sessions")
    assert sorted(found) == ["20260407_092759_baeaac", "20260407_100000_abcd1234", "gateway-session-1"]
    reasons = {Path(d["path"]).name: d["reason"] for d in diagnostics(con)}
    assert reasons == {
        "request_dump_20260407_100500_abcd1234.json": (
            "Hermes request dump (the HTTP request of a failed API call), not a conversation"
        ),
        "sessions.json": "Hermes sessions index (metadata merged into gateway transcripts), not a trace",
    }


def test_cli_session_without_messages_is_skipped_with_the_reason(con, tmp_path):
    write(tmp_path / "session_x.json", {"session_id": "x", "model": "m"})
    assert rows(con, tmp_path) == []
    (diag,) = diagnostics(con)
    assert diag["severity"] == "skip"
    assert (
        diag["reason"] == "not a Hermes CLI session: no 'messages' list (top-level keys: model, session_id)"
    )


def test_which_files_are_read():
    reader = HermesAgentReader()
    assert reader.accepts("session_20260407_092759_baeaac.json") is None
    assert reader.accepts("gateway-session-1.jsonl") is None
    assert reader.accepts("nested/gateway-session-2.jsonl") is None
    assert "request dump" in reader.accepts("request_dump_foo.json")
    assert "not a .json or .jsonl file" in reader.accepts("session_x.json.bak")


def test_nested_gateway_transcript_uses_the_index_of_an_ancestor_folder(con, tmp_path):
    write(
        tmp_path / "sessions.json",
        {"slack:thread-2": {"session_id": "gw2", "created_at": "2026-04-07T10:00:00Z"}},
    )
    write(tmp_path / "nested" / "gw2.jsonl", [{"role": "user", "content": "hi"}])
    row = by_id(con, tmp_path)["gw2"]
    assert row["meta"]["session_key"] == "slack:thread-2"
    assert row["meta"]["started_at_raw"] == "2026-04-07T10:00:00Z"


def test_message_shapes_follow_the_reference(con, tmp_path):
    write(
        tmp_path / "session_shapes.json",
        {
            "session_id": "",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": {"b": 1, "a": [1, 2]}},
                {"role": "assistant", "content": "ok", "reasoning": 123},
                {"role": "assistant", "content": "x", "reasoning": ""},
                {
                    "role": "user",
                    "content": "run it",
                    "tool_calls": [
                        {"id": "c1", "function": {"name": "sh", "arguments": None}, "arguments": "{}"}
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": None},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"call_id": "c2", "name": "ls", "arguments": {"z": 1, "a": 2}}],
                },
            ],
        },
    )
    (row,) = rows(con, tmp_path)
    assert row["trace_id"] == "shapes"  # empty session_id: the file stem without "session_"
    dev, obj, num, empty, user_call, tool, top_level = row["messages"]
    assert dev["role"] == "system"
    assert texts(obj) == ['{"a": [1, 2], "b": 1}']
    assert num["reasoning_content"] == "123"
    assert empty["reasoning_content"] is None
    assert user_call["tool_calls"][0]["function"]["arguments"] == "{}"  # function.arguments null wins
    assert row["tool_call_count"] == 2  # tool calls on a user message count
    assert texts(tool) == [""]  # null tool content: one empty text block
    assert texts(top_level) == [""]
    assert top_level["tool_calls"][0] == {
        "id": "c2",
        "type": "function",
        "function": {"name": "ls", "arguments": '{"a": 2, "z": 1}'},
    }


def test_sessions_index_values_that_are_not_sessions_are_ignored(con, tmp_path):
    write(
        tmp_path / "sessions.json",
        {"k1": 7, "k2": {"no_id": True}, "k3": {"session_id": "gw", "session_key": "own"}},
    )
    write(tmp_path / "gw.jsonl", [{"role": "user", "content": "hi"}])
    row = by_id(con, tmp_path)["gw"]
    assert row["meta"]["session_key"] == "own"  # the entry's own key wins


# --- deviations from the reference, one test each ----------------------------------------


def test_gateway_session_meta_line_is_metadata_not_a_rejection(con):
    """The reference rejects every real gateway transcript over its first line."""
    row = by_id(con, FIXTURES / "sessions")["20260407_100000_abcd1234"]
    assert [m["role"] for m in row["messages"]] == ["user", "assistant", "tool", "assistant"]
    meta = row["meta"]
    assert meta["model"] == "nousresearch/hermes-4-405b" and row["models"] == ["nousresearch/hermes-4-405b"]
    assert meta["available_tool_names"] == ["web_search", "memory"]
    assert meta["session_meta"] == [
        {
            "model": "nousresearch/hermes-4-405b",
            "platform": "telegram",
            "timestamp": "2026-04-07T10:00:00.100000",
        }
    ]
    assert meta["platform"] == "telegram" and meta["display_name"] == "Ada"  # from sessions.json
    assert meta["started_at_raw"] == "2026-04-07T10:00:00.000000"  # index created_at wins
    assert (
        row["input_tokens"],
        row["output_tokens"],
        row["cache_read_tokens"],
        row["cache_write_tokens"],
    ) == (
        1200,
        300,
        800,
        100,
    )
    assert row["messages"][0]["timestamp"].isoformat() == "2026-04-07T10:00:01+00:00"


def test_reasoning_from_reasoning_details_and_reasoning_content(con):
    row = by_id(con, FIXTURES / "sessions")["20260407_100000_abcd1234"]
    assert row["messages"][1]["reasoning_content"] == "Search the web first."  # encrypted part skipped
    assert row["messages"][3]["reasoning_content"] == "Summarise the top result."
    assert texts(row["messages"][2]) == ['{"results": [{"title": "DuckDB 2.0"}]}']


def test_gateway_without_index_takes_times_from_its_records(con, tmp_path):
    write(
        tmp_path / "gw.jsonl",
        [
            {"role": "session_meta", "timestamp": 1775556000.0, "model": "m"},
            {"role": "user", "content": "hi", "timestamp": 1775556001.5},
        ],
    )
    row = by_id(con, tmp_path)["gw"]
    assert row["started_at"].isoformat() == "2026-04-07T10:00:00+00:00"
    assert row["ended_at"].isoformat() == "2026-04-07T10:00:01.500000+00:00"


def test_cli_session_with_a_session_meta_message_gives_a_row(con, tmp_path):
    write(
        tmp_path / "session_meta_tail.json",
        {"session_id": "s", "messages": [{"role": "user", "content": "hi"}, {"role": "session_meta"}]},
    )
    (row,) = rows(con, tmp_path)
    assert row["message_count"] == 1 and row["meta"]["record_count"] == 2
    assert diagnostics(con) == []


def test_cli_session_cwd_is_kept(con, tmp_path):
    write(tmp_path / "session_a.json", {"session_id": "a", "cwd": "/tmp/proj", "messages": []})
    write(tmp_path / "session_b.json", {"session_id": "b", "model_config": {"cwd": "~/repo"}, "messages": []})
    found = by_id(con, tmp_path)
    assert (found["a"]["cwd"], found["a"]["project_path"]) == ("/tmp/proj", "/tmp/proj")
    assert (found["b"]["cwd"], found["b"]["project_path"]) == ("~/repo", "~/repo")


def test_sessions_export_gives_a_row_per_session(con):
    found = by_id(con, FIXTURES / "export")
    assert list(found) == ["20260301_090000_aaaaaa", "20260301_091500_bbbbbb", "20260301_120000_cccc1111"]
    first = found["20260301_090000_aaaaaa"]
    assert first["started_at"].isoformat() == "2026-03-01T09:00:00.500000+00:00"
    assert first["meta"]["started_at_raw"] == 1772355600.5
    assert first["meta"]["model_config"] == {"max_iterations": 60, "reasoning_config": {"effort": "high"}}
    assert first["meta"]["platform"] == "cli" and first["meta"]["line"] == 1
    assert first["meta"]["reasoning_tokens"] == 120
    assert (
        first["input_tokens"],
        first["output_tokens"],
        first["cache_read_tokens"],
        first["cache_write_tokens"],
    ) == (
        5000,
        700,
        4000,
        250,
    )
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant", "tool"]
    assert first["messages"][2]["reasoning_content"] == "Look before editing."
    # a compression child belongs to its parent's session
    assert found["20260301_091500_bbbbbb"]["root_session_id"] == "20260301_090000_aaaaaa"
    gateway = found["20260301_120000_cccc1111"]
    assert [m["role"] for m in gateway["messages"]] == ["user", "assistant"]  # session_meta row is metadata
    assert gateway["meta"]["session_meta"] == [{"timestamp": 1772366401.0}]
    assert gateway["ended_at"].isoformat() == "2026-03-01T12:00:10+00:00"  # open session: last message
    assert gateway["models"] == []


def test_export_line_that_is_not_a_session_is_reported(con, tmp_path):
    good = {"id": "s1", "messages": [{"role": "user", "content": "hi"}]}
    (tmp_path / "export.jsonl").write_text(json.dumps(good) + "\n" + '{"id": "s2", "messages": [' + "\n")
    assert [r["trace_id"] for r in rows(con, tmp_path)] == ["s1"]
    (diag,) = diagnostics(con)
    assert diag["line"] == 2 and diag["severity"] == "warning" and "invalid JSON" in diag["reason"]


def test_bad_gateway_line_and_unlinked_tool_message_keep_the_session(con, tmp_path):
    (tmp_path / "gw.jsonl").write_text(
        '{"role": "user", "content": "hi"}\n{"role": "assistant", "content": \n{"role": "tool", "content": "out"}\n'
        '{"role": "critic", "content": "?"}\n'
    )
    row = by_id(con, tmp_path)["gw"]
    assert [m["role"] for m in row["messages"]] == ["user", "tool"]
    assert row["messages"][1]["tool_call_id"] is None
    found = [(d["line"], d["reason"]) for d in diagnostics(con)]
    assert found[0][0] == 2 and "invalid JSON" in found[0][1]
    assert found[1:] == [
        (3, "record: tool message without a tool_call_id; kept unlinked"),
        (4, "record has unsupported role 'critic'; skipped"),
    ]


def test_odd_values_are_reported_not_a_reader_error(con, tmp_path):
    session = {
        "id": "s",
        "input_tokens": float("nan"),
        "output_tokens": 5,
        "messages": [{"role": {"x": 1}}, 3],
    }
    (tmp_path / "export.jsonl").write_text(json.dumps(session) + "\n")
    (row,) = rows(con, tmp_path)
    assert (row["message_count"], row["input_tokens"], row["output_tokens"]) == (0, None, 5)
    assert [d["reason"] for d in diagnostics(con)] == [
        "NaN is not a number JSON can hold; kept as the string 'NaN'",
        "message #1 has unsupported role {'x': 1}; skipped",
        "message #2 is not an object (int); skipped",
    ]


def test_malformed_sessions_index_is_reported_and_the_transcript_still_read(con, tmp_path):
    (tmp_path / "sessions.json").write_text("[1, 2]")
    write(tmp_path / "gw.jsonl", [{"role": "user", "content": "hi"}])
    assert [r["trace_id"] for r in rows(con, tmp_path)] == ["gw"]
    reasons = {(Path(d["path"]).name, d["severity"]): d["reason"] for d in diagnostics(con)}
    assert (
        reasons[("sessions.json", "skip")]
        == "malformed Hermes sessions index: the top level is list, not an object"
    )
    assert "is malformed (the top level is list, not an object)" in reasons[("gw.jsonl", "warning")]


@pytest.mark.parametrize(
    ("first_line", "reason"),
    [
        ({"type": "user", "message": {"role": "user"}}, "records have a 'type' field ('user'"),
        ({"conversations": [{"from": "human", "value": "hi"}]}, "ShareGPT trajectory"),
        ({"foo": 1}, "neither 'role' nor 'messages'"),
    ],
)
def test_other_jsonl_is_skipped_with_what_it_looks_like(con, tmp_path, first_line, reason):
    write(tmp_path / "other.jsonl", [first_line])
    assert rows(con, tmp_path) == []
    (diag,) = diagnostics(con)
    assert diag["severity"] == "skip" and reason in diag["reason"]


def test_strict_mode_names_the_file_and_line(con, tmp_path):
    write(tmp_path / "gw.jsonl", [{"role": "user", "content": "hi"}, {"role": "tool", "content": "x"}])
    with pytest.raises(duckdb.Error, match=r"gw\.jsonl:2.*tool message without a tool_call_id"):
        rows(con, tmp_path, strict=True)


# --- detection -----------------------------------------------------------------------------


def test_sniff_claims_hermes_artifacts_and_rejects_look_alikes():
    reader = HermesAgentReader()
    gateway = b'{"role": "session_meta", "tools": []}\n{"role": "user", "content": "hi"}\n'
    export = (FIXTURES / "export" / "hermes_sessions_export.jsonl").read_bytes()
    assert reader.sniff("/x/20260407_100000_abcd1234.jsonl", gateway)
    assert reader.sniff("/x/export.jsonl", export)
    assert reader.sniff("/x/export.jsonl", export[:300])  # first line longer than the sniffed head
    assert reader.sniff(
        "/x/session_1.json", (FIXTURES / "sessions" / "session_20260407_092759_baeaac.json").read_bytes()
    )
    assert reader.sniff("/x/sessions.json", (FIXTURES / "sessions" / "sessions.json").read_bytes())
    claude = b'{"type":"user","sessionId":"s","message":{"role":"user","content":"hi"}}\n'
    codex = b'{"timestamp":"t","type":"session_meta","payload":{"id":"x"}}\n'
    legacy_codex = b'{"type":"message","role":"user","content":[]}\n'
    atif = b'{"schema_version": "ATIF-v1.6", "session_id": "s", "agent": {}, "steps": []}'
    sidecar = b'{"session_id": "s", "agent": {}, "checkpoint": {}, "status": "complete"}'
    for path, head in [
        ("/x/a.jsonl", claude),
        ("/x/rollout-1.jsonl", codex),
        ("/x/b.jsonl", legacy_codex),
        ("/x/t.json", atif),
        ("/x/s.index.json", sidecar),
        ("/x/request_dump_1.json", b'{"session_id": "s", "messages": []}'),
    ]:
        assert not reader.sniff(path, head), path


def test_traces_detects_hermes_files(con):
    """Every session and nothing else: on the fixtures, and on the corpus when present."""
    for material in materials():
        root = material.root("hermes_agent")
        table = con.sql(f"SELECT source_kind, count(*) AS n FROM traces('{root}') GROUP BY ALL").fetchall()
        assert table == [("hermes_agent", len(rows(con, root, file_pattern="*.json*")))]
        if material is CORPUS_MATERIAL:
            assert table == [("hermes_agent", 22)]


# --- the corpus ------------------------------------------------------------------------------


@needs_corpus
def test_corpus_gives_the_expected_rows(con):
    found = rows(con, CORPUS / "hermes_agent")
    per_file: dict[str, int] = {}
    for row in found:
        name = Path(row["source_path"]).name
        per_file[name] = per_file.get(name, 0) + 1
    assert per_file == {
        "session_20260429_hermes_large.json": 1,
        "session_20260429_hermes_schema_drift.json": 1,
        "session_20260429_hermes_small.json": 1,
        "exprted.jsonl": 19,
    }
    assert diagnostics(con) == []
    export = [r for r in found if r["meta"]["session_format"] == "sessions_export"]
    # 303 message rows, 2 of them session_meta; plus 17 system prompts
    assert sum(r["message_count"] for r in export) == 301 + 17
    assert all(m["role"] in ("system", "user", "assistant", "tool") for r in export for m in r["messages"])
    assert {r["meta"]["platform"] for r in export} == {"cli", "telegram"}
    assert {tuple(r["models"]) for r in export} == {("anthropic/claude-opus-4.6",), ()}
    large = next(r for r in found if r["trace_id"] == "20260429_hermes_large")
    assert large["messages"][2]["reasoning_content"] == "Need a shell lookup."
    assert large["meta"]["session_meta"] == [{}]


def test_parity_with_the_reference(con):
    """On the in-repo fixtures, and on the shared corpus when it is present."""
    for material in materials():
        root = material.root("hermes_agent")
        ours = reference_forms_by_path(rows(con, root), root)
        deviations = DEVIATIONS if material is CORPUS_MATERIAL else FIXTURE_DEVIATIONS
        assert_parity(ours, reference_rows("hermes_agent", material), deviations)
