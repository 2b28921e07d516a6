"""ATIF reader: the reference's tests (Data Designer test_atif.py) ported, the corpus as
EXPECTED.md says, strict mode naming the rule each file breaks, parity with the
reference, and one test per deviation from it."""

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
from tracesql.readers.atif.reader import AtifReader
from tracesql.readers.atif.rules import document_step_lines

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "atif"
# Where our rows differ from the reference's on the corpus (none: every file the reference
# reads, we read the same way).
DEVIATIONS: dict[tuple[str, str], str] = {}
# On the in-repo fixtures (tests/fixtures-expected/atif.dd.jsonl).
FIXTURE_DEVIATIONS = {
    ("embedded-subagents.trajectory.json", "rows"): (
        "embedded sub-agent trajectories are rows of their own "
        "(test_embedded_subagent_trajectories_are_rows_of_their_own)"
    ),
}
# The three corpus trajectories the reference accepts: they break no rule.
REFERENCE_ACCEPTS = {
    "harbor/history/a00b5a7-2025-10-29/hello-world.trajectory.json",
    "harbor/tests/golden/openhands/hello-world.trajectory.json",
    "harbor/tests/golden/terminus_2/hello-world-context-summarization.trajectory.summarization-1-questions.json",
}
BASE = {
    "schema_version": "ATIF-v1.6",
    "session_id": "atif-session",
    "agent": {"name": "harbor-agent", "model_name": "gpt-5"},
}


def rows(con, path, **args) -> list[dict]:
    return trace_rows(con, "atif_traces", path, **args)


def write(path: Path, value) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2))
    return path


def trajectory(steps: list, **top) -> dict:
    return {**BASE, "steps": steps, **top}


def agent_step(step_id: int = 1, **fields) -> dict:
    return {"step_id": step_id, "source": "agent", "message": "ok", **fields}


def call(call_id: str = "call-1") -> dict:
    return {"tool_call_id": call_id, "function_name": "read_file", "arguments": {"path": "x"}}


# --- the reference's tests, ported -----------------------------------------------------------


def test_happy_path(con):
    (row,) = rows(con, FIXTURES / "happy.trajectory.json")
    assert row["trace_id"] == row["root_session_id"] == "atif-session"
    assert row["source_kind"] == "atif"
    assert (row["message_count"], row["tool_call_count"]) == (4, 1)
    assert row["final_assistant_message"] == "I inspected the repository."
    assert (row["cwd"], row["project_path"], row["git_branch"]) == (
        "/workspace",
        "/workspace/project",
        "main",
    )
    assert row["meta"]["started_at_raw"] == "2026-04-06T12:00:00Z"
    assert row["meta"]["ended_at_raw"] == "2026-04-06T12:00:05Z"
    system, user, assistant, tool = row["messages"]
    assert assistant["reasoning_content"] == "Check README and tests first."
    assert assistant["tool_calls"][0]["id"] == "call-1"
    assert assistant["tool_calls"][0]["function"]["arguments"] == '{"path": "README.md"}'
    assert tool["tool_call_id"] == "call-1"
    assert [(b["type"], b["text"]) for b in tool["content"]] == [("text", "README contents")]
    meta = row["meta"]
    assert (meta["schema_version"], meta["agent_name"], meta["version"], meta["model_name"]) == (
        "ATIF-v1.6",
        "harbor-agent",
        "2.0.0",
        "gpt-5",
    )
    assert meta["copied_context_step_ids"] == [2]
    assert meta["subagent_trajectory_refs"] == [
        {
            "step_id": 3,
            "refs": [
                {
                    "session_id": "subagent-1",
                    "trajectory_path": "subagent-1.json",
                    "extra": {"summary": "Ran test audit"},
                }
            ],
        }
    ]
    assert meta["notes"] == "golden happy path" and meta["final_metrics"] == {"total_cost_usd": 0.42}
    assert diagnostics(con) == []


def test_non_object_payload_is_not_a_trajectory(con, tmp_path):
    write(tmp_path / "t.json", ["not", "an", "object"])
    assert rows(con, tmp_path) == []
    (diag,) = diagnostics(con)
    assert (diag["severity"], diag["reason"]) == ("skip", "not a trajectory: the top level is a JSON array")


def test_non_sequential_step_ids_are_a_named_rule(con, tmp_path):
    write(tmp_path / "t.json", trajectory([agent_step(2), agent_step(1)]))
    assert rows(con, tmp_path)[0]["message_count"] == 2  # lenient: read, and said
    (diag,) = diagnostics(con)
    assert diag["reason"] == (
        "ATIF rule: step_id must be the step's position, sequential from 1; step 1 has step_id 2 "
        "(and 1 more: step 2)"
    )
    assert diag["line"] == 9  # the line where the first offending step starts
    with pytest.raises(duckdb.Error, match=r"t\.json:9: strict mode: ATIF rule: step_id must be"):
        rows(con, tmp_path, strict=True)


@pytest.mark.parametrize(
    ("step", "field"),
    [
        ({"step_id": 1, "source": "user", "message": "hi", "tool_calls": [call()]}, "tool_calls"),
        (
            {"step_id": 1, "source": "system", "message": "hi", "reasoning_content": "why"},
            "reasoning_content",
        ),
        ({"step_id": 1, "source": "user", "message": "hi", "observation": {"results": []}}, "observation"),
    ],
)
def test_assistant_only_fields_on_other_steps(con, tmp_path, step, field):
    write(tmp_path / "t.json", trajectory([step]))
    (row,) = rows(con, tmp_path)
    (diag,) = diagnostics(con)
    assert diag["reason"].startswith("ATIF rule: only agent steps may have")
    assert diag["reason"].endswith(f"step 1 is a '{step['source']}' step with {field}")
    if field == "reasoning_content":  # kept, not lost
        assert row["messages"][0]["reasoning_content"] == "why"
    with pytest.raises(duckdb.Error, match="only agent steps may have"):
        rows(con, tmp_path, strict=True)


def test_observation_content_without_source_call_id(con, tmp_path):
    write(
        tmp_path / "t.json",
        trajectory([agent_step(tool_calls=[call()], observation={"results": [{"content": "tool output"}]})]),
    )
    (row,) = rows(con, tmp_path)
    assert row["messages"][1]["tool_call_id"] == "call-1"  # the step's only call: linked
    (diag,) = diagnostics(con)
    assert diag["reason"] == (
        "ATIF rule: an observation result with content must have a source_call_id (reference); "
        "step 1 observation result 1 has content but no source_call_id; linked to the step's only tool call call-1"
    )


def test_observation_referencing_an_unknown_call(con, tmp_path):
    step = agent_step(
        tool_calls=[call()], observation={"results": [{"source_call_id": "call-2", "content": "x"}]}
    )
    write(tmp_path / "t.json", trajectory([step]))
    (row,) = rows(con, tmp_path)
    assert row["messages"][1]["tool_call_id"] == "call-2"
    (diag,) = diagnostics(con)
    assert "step 1 observation result 1 names 'call-2', not a tool call of this step" in diag["reason"]


def test_which_files_are_read():
    reader = AtifReader()
    assert reader.accepts("trace.json") is None
    assert reader.accepts("nested/run.trajectory.json") is None
    assert reader.accepts("trace.jsonl") is None  # read when the pattern selects it (streaming variant)
    assert reader.accepts("notes.txt") is not None
    assert AtifReader.default_pattern == "*.json" and AtifReader.default_path is None


def test_project_folder_of_trajectories(con):
    found = rows(con, FIXTURES / "project-a")
    assert [r["trace_id"] for r in found] == ["atif-session-1", "atif-session-2"]
    assert [r["final_assistant_message"] for r in found] == ["Repository inspected", "Tests checked"]
    assert [r["tool_call_count"] for r in found] == [0, 0]
    assert {(r["cwd"], r["git_branch"]) for r in found} == {("/workspace/project", "main")}


def test_no_default_folder_is_a_clear_error(con):
    with pytest.raises(duckdb.Error, match=r"atif_traces\(\) has no default folder"):
        con.sql("SELECT * FROM atif_traces()").fetchall()


def test_message_shapes_follow_the_reference(con, tmp_path):
    steps = [
        {"step_id": 1, "source": "user", "message": None, "is_copied_context": "yes"},
        agent_step(2, observation={"results": [{"source_call_id": None}]}),
    ]
    write(
        tmp_path / "t.json",
        trajectory(steps, notes="", final_metrics={}, agent={"name": "a", "version": 1.5, "model_name": ""}),
    )
    (row,) = rows(con, tmp_path)
    assert row["messages"][0]["content"] == []  # null message: no blocks
    assert row["message_count"] == 2  # a result without content gives no tool message
    meta = row["meta"]
    assert meta["version"] == "1.5"
    assert not {"copied_context_step_ids", "notes", "final_metrics", "model_name"} & set(meta)
    assert diagnostics(con) == []


# --- deviations from the reference, one test each ---------------------------------------------


@pytest.mark.parametrize(
    ("top", "steps", "rule"),
    [
        ({"agent": {"version": "1"}}, [agent_step()], "agent.name must be a non-empty string"),
        ({"schema_version": None}, [agent_step()], "schema_version must be a non-empty string"),
        (
            {},
            [{"step_id": 1, "source": "tool", "message": "x"}],
            "source must be 'agent', 'user' or 'system'",
        ),
        ({}, [{"step_id": 1, "source": "agent"}], "every step must have a message"),
        ({}, [agent_step(0)], "step_id must be the step's position"),
        ({}, [agent_step(observation="done")], "observation must be an object with a 'results' list"),
        ({}, [agent_step(tool_calls=[{"function_name": "f"}])], "tool_calls must be a list of objects"),
        (
            {},
            [agent_step(observation={"results": [{"subagent_trajectory_ref": {"session_id": "s"}}]})],
            "subagent_trajectory_ref must be a list",
        ),
        ({}, [agent_step(message={"text": "hi"})], "message must be a string or a list of content parts"),
    ],
)
def test_every_rule_the_reference_rejects_is_read_and_named(con, tmp_path, top, steps, rule):
    """The reference skips these files; we read them and say which rule was bent."""
    write(tmp_path / "t.json", trajectory(steps, **top))
    assert len(rows(con, tmp_path)) == 1
    (diag,) = diagnostics(con)
    assert diag["severity"] == "warning" and diag["reason"].startswith(f"ATIF rule: {rule}")


def test_boolean_step_id_is_not_an_integer(con, tmp_path):
    """The reference lets `step_id: true` pass at position 1 (a Python bool is an int)."""
    write(tmp_path / "t.json", trajectory([agent_step(True)]))
    assert len(rows(con, tmp_path)) == 1
    (diag,) = diagnostics(con)
    assert diag["reason"].endswith("step 1 has step_id True")


def test_odd_values_are_reported_not_a_reader_error(con, tmp_path):
    steps = [
        agent_step(
            1, tool_calls=[call()], metrics={"prompt_tokens": float("nan"), "completion_tokens": 1e400}
        ),
        agent_step(2, observation={"results": [{"source_call_id": {"id": 1}, "content": "x"}, 7]}),
        "not a step",
    ]
    (tmp_path / "t.json").write_text(json.dumps(trajectory(steps, agent=[1])))  # NaN/Infinity: valid for json
    (row,) = rows(con, tmp_path)
    assert [m["role"] for m in row["messages"]] == ["assistant", "assistant", "tool"]
    assert row["messages"][2]["tool_call_id"] == '{"id": 1}'
    assert row["input_tokens"] is None and row["output_tokens"] is None
    reasons = " | ".join(d["reason"] for d in diagnostics(con))
    assert "reader error" not in reasons
    for rule in ("agent must be an object", "every step must be an object", "source_call_id must name"):
        assert rule in reasons


def test_object_content_becomes_json_text(con, tmp_path):
    step = {
        "step_id": 1,
        "source": "system",
        "message": "results",
        "observation": {"results": [{"content": {"b": 1, "a": True}}]},
    }
    write(tmp_path / "t.json", trajectory([step]))
    (row,) = rows(con, tmp_path)
    assert row["messages"][1]["role"] == "tool" and row["messages"][1]["tool_call_id"] is None
    assert row["messages"][1]["content"][0]["text"] == '{"a": true, "b": 1}'
    reasons = [d["reason"] for d in diagnostics(con)]
    assert any(
        "content must be a string or a list of content parts; step 1 observation result 1 content is dict"
        in r
        for r in reasons
    )


def test_result_referencing_a_call_of_an_earlier_step(con, tmp_path):
    steps = [
        agent_step(1, tool_calls=[call("c1")]),
        agent_step(2, observation={"results": [{"source_call_id": "c1", "content": "late"}]}),
    ]
    write(tmp_path / "t.json", trajectory(steps))
    (row,) = rows(con, tmp_path)
    assert row["messages"][-1]["tool_call_id"] == "c1"
    (diag,) = diagnostics(con)
    assert "step 2 observation result 1 names 'c1'" in diag["reason"]


def test_models_and_tokens(con):
    (row,) = rows(con, FIXTURES / "happy.trajectory.json")
    assert row["models"] == ["gpt-5", "gpt-5-2026-01-01"]
    # prompt_tokens includes cached tokens
    assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"]) == (400, 50, 600)


def test_copied_context_steps_do_not_count_tokens_twice(con, tmp_path):
    steps = [
        agent_step(1, is_copied_context=True, metrics={"prompt_tokens": 500, "completion_tokens": 50}),
        agent_step(2, metrics={"prompt_tokens": 100, "completion_tokens": 10}),
    ]
    write(
        tmp_path / "t.json",
        trajectory(steps, final_metrics={"total_prompt_tokens": 600, "total_completion_tokens": 60}),
    )
    (row,) = rows(con, tmp_path)
    assert (row["input_tokens"], row["output_tokens"]) == (100, 10)


def test_embedded_subagent_trajectories_are_rows_of_their_own(con):
    parent, sub = rows(con, FIXTURES / "embedded-subagents.trajectory.json")
    assert (parent["trace_id"], parent["is_sidechain"], parent["agent_id"]) == ("parent-run", False, None)
    assert (parent["input_tokens"], parent["output_tokens"], parent["cache_read_tokens"]) == (500, 90, 400)
    assert parent["meta"]["tool_definition_names"] == ["delegate"]
    assert parent["meta"]["subagent_trajectory_refs"][0]["refs"] == [
        {"session_id": "parent-run", "trajectory_id": "auditor"}
    ]
    assert (sub["trace_id"], sub["root_session_id"], sub["agent_id"], sub["is_sidechain"]) == (
        "parent-run:auditor",
        "parent-run",
        "auditor",
        True,
    )
    assert sub["final_assistant_message"] == "All tests pass." and sub["models"] == ["small-model"]
    assert (sub["input_tokens"], sub["output_tokens"]) == (100, 10)
    assert diagnostics(con) == []  # a v1.7 sub-trajectory may omit session_id
    assert len({parent["trace_key"], sub["trace_key"]}) == 2


def test_streaming_jsonl_variant(con):
    (row,) = rows(con, FIXTURES, file_pattern="*.atif.jsonl")
    assert row["trace_id"] == "stream-1" and row["message_count"] == 4
    assert row["started_at"].isoformat() == "2026-04-06T12:00:00+00:00"  # the header's created_at
    assert row["meta"]["file_format"] == "atif_jsonl_stream"
    assert (row["input_tokens"], row["output_tokens"]) == (10, 2)
    (diag,) = diagnostics(con)
    assert diag["line"] == 1 and "streaming JSONL variant" in diag["reason"]


def test_files_that_are_not_trajectories_say_what_they_are(con):
    rows(con, FIXTURES)
    reasons = {Path(d["path"]).name: d["reason"] for d in diagnostics(con) if d["severity"] == "skip"}
    assert reasons == {
        "run.index.json": "not a trajectory: an ATIF index sidecar (checkpoint and status of a run)",
        "run.traces.json": "not a trajectory: an SFT conversations export (a list of chats)",
        "config.json": "not a trajectory: a Harbor trial config or result file",
    }


def test_step_lines_of_a_json_document():
    data = b'{"a": {"steps": [1]},\n "steps": [\n  {"step_id": 1},\n\n  {"step_id": 2,\n "x": "\\n"}, 3]}'
    assert document_step_lines(data) == [3, 5, 6]
    assert document_step_lines(data, upto=1) == [3, 5]  # walks only as far as needed
    assert document_step_lines(b"[1]") is None and document_step_lines(b"{bad") is None


def test_sniff_claims_trajectories_and_rejects_look_alikes():
    reader = AtifReader()
    assert reader.sniff("/x/t.json", (FIXTURES / "happy.trajectory.json").read_bytes())
    assert reader.sniff("/x/s.atif.jsonl", (FIXTURES / "stream-1.atif.jsonl").read_bytes())
    assert reader.sniff("/x/t.json", b'{"steps": [{"step_id": 1, "source": "user"}], "schema_version": "x"}')
    assert not reader.sniff("/x/run.index.json", (FIXTURES / "run.index.json").read_bytes())
    hermes = b'{"session_id": "s", "messages": [{"role": "tool", "content": "{\\"schema_version\\": \\"ATIF-v1.6\\"}"}]}'
    assert not reader.sniff("/x/session_s.json", hermes)
    assert not reader.sniff("/x/a.jsonl", b'{"type": "user", "message": {}}\n')


# --- the corpus ---------------------------------------------------------------------------------


def corpus_rows(con, **args) -> dict[str, dict]:
    root = CORPUS / "atif"
    return {str(Path(r["source_path"]).relative_to(root)): r for r in rows(con, root, **args)}


@needs_corpus
def test_corpus_gives_a_row_per_trajectory(con):
    found = corpus_rows(con)
    assert len(found) == 14  # the 13 Harbor trajectories and the OpenAgents .atif.json
    assert all(path.startswith("harbor/") or path.endswith("x8251x.atif.json") for path in found)
    skips = [(Path(d["path"]).name, d["reason"]) for d in diagnostics(con) if d["severity"] == "skip"]
    assert skips == [
        (
            "session-2025-12-05T07-45-57-649Z-x8251x.index.json",
            "not a trajectory: an ATIF index sidecar (checkpoint and status of a run)",
        )
    ]
    openagents = found["openagents/20251205/session-2025-12-05T07-45-57-649Z-x8251x.atif.json"]
    assert openagents["messages"][2]["content"][0]["text"].startswith('{"command": "bun run typecheck"')
    cont = found[
        "harbor/tests/golden/terminus_2/hello-world-context-summarization-linear-history.trajectory.cont-1.json"
    ]
    assert cont["meta"]["copied_context_step_ids"] == [1, 2, 3, 4]


@needs_corpus
def test_corpus_with_the_streaming_variant(con):
    found = corpus_rows(con, file_pattern="*.json*")
    assert len(found) == 15
    stream = found["openagents/20251205/session-2025-12-05T08-07-41-875Z-ebphxk.atif.jsonl"]
    assert stream["trace_id"] == "session-2025-12-05T08-07-41-875Z-ebphxk" and stream["message_count"] == 17


def test_strict_mode_accepts_what_the_reference_accepts_and_names_the_rule_of_the_rest(con):
    """Every trajectory we read: on the fixtures, and on the shared corpus when it is present."""
    for material in materials():
        root = material.root("atif")
        accepted = set(reference_rows("atif", material))
        if material is CORPUS_MATERIAL:
            assert accepted == REFERENCE_ACCEPTS
        read = sorted({Path(r["source_path"]) for r in rows(con, root, file_pattern="*.json*")})
        assert accepted <= {str(path.relative_to(root)) for path in read}
        for path in read:
            if str(path.relative_to(root)) in accepted:
                assert len(rows(con, path, strict=True)) == len(rows(con, path)), path
            else:
                with pytest.raises(duckdb.Error, match=rf"{path.name}:\d+: strict mode: ATIF rule: "):
                    rows(con, path, strict=True)


@needs_corpus
def test_lenient_warnings_name_the_reference_rejection(con):
    """Our first warning for a file the reference rejects is the rule it rejected it for."""
    corpus_rows(con)
    first: dict[str, str] = {}
    for d in diagnostics(con):
        if d["severity"] == "warning":
            first.setdefault(Path(d["path"]).name, d["reason"])
    for line in (CORPUS.parent / "corpus-expected" / "atif.dd-warnings.jsonl").read_text().splitlines():
        message = json.loads(line)["message"]
        name = message.split(": ", 1)[0].rsplit("/", 1)[-1]
        if "index.json" in name:
            continue
        expected = (
            "with content is missing source_call_id"
            if "missing source_call_id" in message
            else "cannot include observation"
        )
        ours = "has content but no source_call_id" if "missing" in expected else "step with observation"
        assert ours in first[name], (name, first[name])


def test_traces_detects_atif_files(con):
    """Every trajectory and nothing else: on the fixtures, and on the corpus when present."""
    for material in materials():
        root = material.root("atif")
        found = con.sql(f"SELECT source_kind, count(*) FROM traces('{root}') GROUP BY ALL").fetchall()
        assert found == [("atif", len(rows(con, root, file_pattern="*.json*")))]
        if material is CORPUS_MATERIAL:
            assert found == [("atif", 15)]


def test_parity_with_the_reference(con):
    """On the in-repo fixtures, and on the shared corpus when it is present."""
    for material in materials():
        root = material.root("atif")
        ours = reference_forms_by_path(rows(con, root), root)
        theirs = reference_rows("atif", material)
        if material is CORPUS_MATERIAL:
            assert set(theirs) == REFERENCE_ACCEPTS
        deviations = DEVIATIONS if material is CORPUS_MATERIAL else FIXTURE_DEVIATIONS
        assert_parity(ours, theirs, deviations)
