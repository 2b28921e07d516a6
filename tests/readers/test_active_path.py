"""What a row leaves out of a tree-shaped session: Claude Code 1.0.x compactions (root
records with no logical parent) are bridged into the conversation, and any read that
leaves more than `off_path_warning` of a file's message records in no row says so."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.readers.conftest import claude_record, diagnostics, trace_rows

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
COMPACTION_1_0 = FIXTURES / "claude_code" / "compaction_1_0.jsonl"


def texts(row: dict) -> list[str]:
    out = []
    for m in row["messages"]:
        text = " ".join(b["text"] or "" for b in m["content"])
        calls = " ".join(c["function"]["name"] for c in m["tool_calls"] or ())
        out.append(f"{m['role']}: {text}{calls}")
    return out


def test_a_1_0_compaction_keeps_the_conversation_before_it(con, tmp_path):
    shutil.copy(COMPACTION_1_0, tmp_path)
    (row,) = trace_rows(con, "claude_code_traces", tmp_path)
    assert texts(row) == [
        "user: The login test fails one run in three. Find out why.",
        "assistant: Bash",
        "tool: 1 failed: timeout waiting for session",
        "assistant: The session fixture races the token refresh.",
        "user: This session is being continued from a previous conversation that ran out of context. "
        "The conversation is summarized below:\nAnalysis: the login test races the token refresh.",
        "user: Now fix it.",
        "assistant: Edit",
        "tool: ok",
        "assistant: Fixed: the fixture now awaits the refresh.",
    ]
    assert row["tool_call_count"] == 2 and row["input_tokens"] == 400
    assert row["meta"]["compactions"] == 1
    assert "has_branches" not in row["meta"] and "off_path_records" not in row["meta"]
    assert row["meta"]["summaries"] == ["Fix the flaky login test"]
    assert diagnostics(con) == []


def test_a_1_0_compaction_before_the_flag_is_known_by_its_opening_words(con, tmp_path):
    records = [json.loads(line) for line in COMPACTION_1_0.read_text().splitlines()]
    for rec in records:
        rec.pop("isCompactSummary", None)
    (tmp_path / "old.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (row,) = trace_rows(con, "claude_code_traces", tmp_path)
    assert row["message_count"] == 9 and row["meta"]["compactions"] == 1


def test_a_compact_boundary_without_a_logical_parent_is_bridged(con, tmp_path):
    lines = [claude_record("s", 0), claude_record("s", 1, "assistant", parent="s-0")]
    lines.append(
        {
            "type": "system",
            "subtype": "compact_boundary",
            "uuid": "cb",
            "parentUuid": None,
            "sessionId": "s",
            "timestamp": "2025-03-01T10:00:02.000Z",
            "content": "Conversation compacted",
        }
    )
    lines += [claude_record("s", 3, parent="cb"), claude_record("s", 4, "assistant", parent="s-3")]
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (row,) = trace_rows(con, "claude_code_traces", tmp_path)
    assert [m["role"] for m in row["messages"]] == ["user", "assistant", "user", "assistant"]
    assert row["meta"]["compactions"] == 1 and diagnostics(con) == []


def test_a_restart_at_the_first_record_is_a_plain_root(con, tmp_path):
    first = claude_record("s", 0)
    first["isCompactSummary"] = True  # the file starts with a summary: nothing to bridge to
    lines = [first, claude_record("s", 1, "assistant", parent="s-0")]
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (row,) = trace_rows(con, "claude_code_traces", tmp_path)
    assert row["message_count"] == 2 and "compactions" not in row["meta"]


def abandoned_branch_session(path: Path, abandoned: int, kept: int = 20) -> None:
    """A session with `kept` message records on the active path and a branch of
    `abandoned` records off it (a rewind), forking after the first answer."""
    lines = [claude_record("s", 0), claude_record("s", 1, "assistant", parent="s-0")]
    parent = "s-1"
    for i in range(2, 2 + abandoned):
        lines.append(claude_record("s", i, "user" if i % 2 == 0 else "assistant", parent=parent))
        parent = f"s-{i}"
    parent = "s-1"
    for i in range(100, 100 + kept - 2):
        lines.append(claude_record("s", i, "user" if i % 2 == 0 else "assistant", parent=parent))
        parent = f"s-{i}"
    for rec in lines:
        rec["timestamp"] = "2025-03-01T10:00:00.000Z"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))


def test_a_large_share_off_the_active_path_is_a_warning_with_the_count(con, tmp_path):
    abandoned_branch_session(tmp_path / "s.jsonl", abandoned=6)
    (row,) = trace_rows(con, "claude_code_traces", tmp_path)
    assert row["message_count"] == 20 and row["meta"]["off_path_records"] == 6
    (diag,) = diagnostics(con)
    assert diag["severity"] == "warning" and diag["path"].endswith("s.jsonl")
    assert diag["reason"].startswith("6 of 26 message records (23 %) are off the active path")


def test_the_off_path_share_that_warns_is_configurable(con, tmp_path):
    abandoned_branch_session(tmp_path / "s.jsonl", abandoned=1, kept=30)  # 1 of 31: 3 %
    trace_rows(con, "claude_code_traces", tmp_path)
    assert diagnostics(con) == []
    trace_rows(con, "claude_code_traces", tmp_path, off_path_warning=0.01)
    assert [d["reason"][:26] for d in diagnostics(con)] == ["1 of 31 message records (3"]


def pi_entry(eid: str, parent: str | None, text: str, role: str = "user") -> dict:
    return {
        "type": "message",
        "id": eid,
        "parentId": parent,
        "timestamp": "2025-03-01T10:00:00.000Z",
        "message": {"role": role, "content": [{"type": "text", "text": text}]},
    }


def test_a_pi_session_with_a_large_abandoned_branch_says_so(con, tmp_path):
    header = {
        "type": "session",
        "version": 3,
        "id": "p",
        "timestamp": "2025-03-01T10:00:00.000Z",
        "cwd": "/x",
    }
    entries = [pi_entry("e1", None, "q"), pi_entry("e2", "e1", "a", "assistant")]
    entries += [pi_entry("x1", "e2", "abandoned"), pi_entry("x2", "x1", "abandoned", "assistant")]
    entries += [pi_entry("e3", "e2", "kept"), pi_entry("e4", "e3", "kept", "assistant")]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [header, *entries]))
    (row,) = trace_rows(con, "pi_coding_agent_traces", tmp_path)
    assert row["message_count"] == 4 and row["meta"]["off_path_entries"] == 2
    (diag,) = diagnostics(con)
    assert diag["reason"].startswith("2 of 6 message entries (33 %) are off the active path")
