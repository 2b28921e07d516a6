"""Small fidelity gaps, each on a fixture in the shape its producer writes
(tests/fixtures/<format>/fidelity/): a value the file holds and the row used to lose or bend."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from tests.readers.conftest import claude_session_lines, diagnostics, trace_rows

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CLAUDE = FIXTURES / "claude_code"


def copy(tmp_path: Path, name: str) -> Path:
    (found,) = FIXTURES.glob(f"*/fidelity/{name}")
    shutil.copy(found, tmp_path / name)
    return tmp_path / name


def test_codex_legacy_rollout_takes_its_cwd_from_the_environment_context(con, tmp_path):
    copy(tmp_path, "rollout-2025-07-02T09-12-01-5b1e77aa.jsonl")
    (row,) = trace_rows(con, "codex_traces", tmp_path)
    assert row["meta"]["rollout_format"] == "legacy"
    assert row["cwd"] == row["project_path"] == "/home/me/src/app"


def test_codex_flat_token_count_events_are_summed(con, tmp_path):
    copy(tmp_path, "rollout-2025-08-05T14-00-00-flat0001.jsonl")
    (row,) = trace_rows(con, "codex_traces", tmp_path)
    # input = prompt - cached, per turn: (1200 - 1000) + (1300 - 1200)
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (300, 2200, 50)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_pi_errors_models_and_times(con, tmp_path):
    copy(tmp_path, "pi-errors-and-times.jsonl")
    (row,) = trace_rows(con, "pi_coding_agent_traces", tmp_path)
    # a model_change nothing answered with is no model of the trace
    assert row["models"] == ["openai/gpt-5"]
    assert row["meta"]["models_used"] == ["claude-opus-4-1", "gpt-5"]  # the reference's list
    # every message's time is within the row's
    stamps = [m["timestamp"] for m in row["messages"]]
    assert row["started_at"] == min(stamps) == at("2025-11-03T09:59:58")
    assert row["ended_at"] == max(stamps) == at("2025-11-03T10:00:09")
    # an error and an aborted turn are marked, never an empty or cut-off answer
    assistants = [m for m in row["messages"] if m["role"] == "assistant"]
    assert [m["is_error"] for m in assistants] == [True, None, True]
    error = assistants[0]
    assert [(b["type"], b["text"]) for b in error["content"]] == [("error", None)]
    assert (
        json.loads(error["content"][0]["data"])["errorMessage"] == "429 Too Many Requests: rate limit reached"
    )
    aborted = assistants[2]
    assert [(b["type"], b["text"]) for b in aborted["content"]] == [("text", "Let me che"), ("aborted", None)]
    assert row["final_assistant_message"] == "Added GET /health returning 200."
    assert row["meta"]["failed_turns"] == 2 and row["meta"]["stop_reasons"] == ["error", "stop", "aborted"]


def test_atif_failed_observations_zero_cached_tokens_and_one_model(con, tmp_path):
    copy(tmp_path, "build.trajectory.json")
    (row,) = trace_rows(con, "atif_traces", tmp_path)
    tools = [m for m in row["messages"] if m["role"] == "tool"]
    assert [m["is_error"] for m in tools] == [True, False]  # content.passed: false / true
    assert row["cache_read_tokens"] == 0  # final_metrics.total_cached_tokens, where steps say nothing
    assert (row["input_tokens"], row["output_tokens"]) == (1300, 65)
    assert row["models"] == ["openai/gpt-4o"]  # the agent's and the steps' spelling of one model


def test_a_final_cached_total_is_taken_out_of_the_input_tokens(con, tmp_path):
    doc = json.loads((FIXTURES / "atif" / "fidelity" / "build.trajectory.json").read_text())
    doc["final_metrics"]["total_cached_tokens"] = 1000
    (tmp_path / "cached.trajectory.json").write_text(json.dumps(doc))
    (row,) = trace_rows(con, "atif_traces", tmp_path)
    assert (row["input_tokens"], row["cache_read_tokens"]) == (300, 1000)


def test_utf16_sessions_are_read(con, tmp_path):
    text = (CLAUDE / "compaction_1_0.jsonl").read_text()
    (tmp_path / "le.jsonl").write_bytes(text.encode("utf-16"))  # a BOM, then little-endian
    (tmp_path / "be.jsonl").write_bytes(b"\xfe\xff" + text.encode("utf-16-be"))
    doc = (FIXTURES / "atif" / "fidelity" / "build.trajectory.json").read_text()
    (tmp_path / "doc.json").write_bytes(doc.encode("utf-16"))
    rows = trace_rows(con, "traces", tmp_path)
    assert [(r["source_kind"], r["message_count"]) for r in rows] == [
        ("claude_code", 9),
        ("atif", 7),
        ("claude_code", 9),
    ]
    # only the ATIF rules this producer bends, located on the line of step 2 as in the UTF-8 file
    diags = diagnostics(con)
    assert {(d["path"].rsplit("/", 1)[1], d["line"]) for d in diags} == {("doc.json", 22)}
    assert len(diags) == 3 and all(d["reason"].startswith("ATIF rule: ") for d in diags)


def test_a_number_json_cannot_hold_stays_valid_json_in_tool_arguments(con, tmp_path):
    user, assistant = claude_session_lines("nums", turns=1)
    rec = json.loads(assistant)
    rec["message"]["content"] = [
        {"type": "tool_use", "id": "t1", "name": "Calc", "input": {"n": "BIG", "m": "NAN"}}
    ]
    line = json.dumps(rec).replace('"BIG"', "1e999999").replace('"NAN"', "NaN")
    (tmp_path / "nums.jsonl").write_text(user + "\n" + line + "\n")
    (row,) = trace_rows(con, "claude_code_traces", tmp_path)
    arguments = row["messages"][1]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(arguments, parse_constant=lambda c: 1 / 0) == {"m": "NaN", "n": "1e999999"}
    (diag,) = diagnostics(con)
    assert diag["line"] == 2 and "1e999999 is not a number JSON can hold" in diag["reason"]
