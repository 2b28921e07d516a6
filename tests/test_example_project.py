"""The main job end to end: the repo's own project over its bundled traces, through the
real CLI, against a scripted OpenAI-compatible server on 127.0.0.1 (real HTTP, real client)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tests.llm.fake_server import FakeLLMServer, RecordedRequest, default_answer
from tracesql.cli import main

REPO = Path(__file__).resolve().parents[1]
PROJECT_FILES = ("profiles.yml", "models", "macros", "prompts", "examples")
LLM_MODELS = ("trace_digests", "sft_records", "sft_judgements", "turn_summaries", "tool_interaction_labels")
USAGE_MODELS = (  # models/usage/: views over traces (docs/usage.md)
    "usage_entries",
    "usage_daily",
    "usage_monthly",
    "usage_sessions",
    "usage_blocks",
    "usage_unpriced",
    "usage_prices",
)
SCORES = ("groundedness", "standalone_task", "response_quality", "faithfulness", "training_utility")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    for name in PROJECT_FILES:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    return root


def generous(request: RecordedRequest):
    """Schema-valid answers; digests and judgements of traces whose id ends in a digit 0-4
    are rated high, so some pairs are recommended and some are not."""
    schema = request.schema or {}
    answer = default_answer(request)
    props = schema.get("properties", {})
    if "training_value" in props:
        answer["training_value"] = "high"
    if set(SCORES) <= set(props):
        for name in SCORES:
            answer[name] = {"score": 4, "reasoning": "fine"}
    return answer


def explain(requests) -> str:
    """For a failed count: statuses, and request bodies seen more than once."""
    from collections import Counter

    statuses = Counter(r.status for r in requests)
    bodies = Counter(json.dumps(r.body, sort_keys=True) for r in requests)
    repeated = [json.loads(b)["messages"][-1]["content"][:80] for b, n in bodies.items() if n > 1]
    return f"{len(requests)} requests, statuses {dict(statuses)}, repeated bodies: {repeated}"


def cli(project: Path, *args: str):
    result = CliRunner().invoke(main, [*args, "--project-dir", str(project)], catch_exceptions=False)
    return result


def rows(project: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(project / "tracesql.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_fresh_machine_without_a_key_builds_sql_models_and_skips_llm_models(project, monkeypatch):
    monkeypatch.delenv("NVIDIA_API_KEY", raising=False)
    result = cli(project, "run")
    assert result.exit_code == 0, result.output
    assert f"{2 + len(USAGE_MODELS)} ok" in result.output and "7 skip" in result.output
    assert "set the environment variable NVIDIA_API_KEY" in result.output
    (traces,) = rows(project, "SELECT count(*) FROM traces")[0]
    (interactions,) = rows(project, "SELECT count(*) FROM tool_interactions")[0]
    assert traces == 15 and interactions > 0
    tables = {r[0] for r in rows(project, "SELECT table_name FROM duckdb_tables()")}
    assert not tables & set(LLM_MODELS)


def test_the_whole_pipeline_runs_incrementally_against_an_openai_compatible_server(
    project, monkeypatch, tmp_path
):
    with FakeLLMServer(default=generous) as server:
        monkeypatch.setenv("TRACESQL_LLM_BASE_URL", server.url)
        monkeypatch.setenv("TRACESQL_LLM_API_KEY", "test-key-not-a-secret")
        vars_ = ["--vars", "{llm_model: local}"]

        first = cli(project, "run", *vars_)
        assert first.exit_code == 0, first.output
        traces = rows(project, "SELECT count(*) FROM traces")[0][0]
        interactions = rows(project, "SELECT count(*) FROM tool_interactions")[0][0]
        # one value per trace for each of digest, SFT pair, judge and turn summary, one per
        # interaction (checked below); each an HTTP request unless an identical prompt was
        # already asked (a random turn can equal another trace's): no prompt is sent twice
        bodies = [json.dumps(r.body, sort_keys=True) for r in server.requests]
        assert len(bodies) == len(set(bodies)), explain(server.requests)
        assert 3 * traces + 1 <= len(bodies) <= 4 * traces + interactions, explain(server.requests)

        dataset = rows(
            project,
            "SELECT sft_instruction, sft_response, len(sft_skill_tags), "
            + ", ".join(f"{s}_score" for s in SCORES)
            + ", trace_training_value, recommended_for_sft FROM sft_dataset",
        )
        assert len(dataset) == traces
        for row in dataset:
            assert row[0] and row[1] and row[2] >= 1
            assert row[3:8] == (4, 4, 4, 4, 4)
            assert row[8] == "high" and row[9] is True
        labels = rows(project, "SELECT label.outcome FROM tool_interaction_labels")
        assert len(labels) == interactions and {r[0] for r in labels} <= {"success", "failure", "unclear"}
        assert (
            rows(project, "SELECT count(*) FROM turn_summaries WHERE turn_summary IS NOT NULL")[0][0]
            == traces
        )

        # exports load back
        out = tmp_path / "out"
        assert (
            cli(
                project, "export", "sft_dataset", "--format", "parquet", "-o", str(out / "d.parquet")
            ).exit_code
            == 0
        )
        assert pq.read_table(out / "d.parquet").num_rows == traces
        assert (
            cli(project, "export", "sft_chat", "--format", "jsonl", "-o", str(out / "chat.jsonl")).exit_code
            == 0
        )
        chat = [json.loads(line) for line in (out / "chat.jsonl").read_text().splitlines()]
        assert len(chat) == traces
        assert all([m["role"] for m in c["messages"]] == ["user", "assistant"] for c in chat)

        # a second run, and a full refresh, make no request (the cache is the reason for the latter)
        before = len(server.requests)
        assert cli(project, "run", *vars_).exit_code == 0
        full = cli(project, "run", *vars_, "--full-refresh")
        assert full.exit_code == 0 and len(server.requests) == before, explain(server.requests)
        assert rows(project, "SELECT count(*) FROM sft_dataset")[0][0] == traces

        # one new trace file: exactly the calls for that trace
        add_trace_file(project)
        again = cli(project, "run", *vars_)
        assert again.exit_code == 0, again.output
        new_interactions = rows(
            project,
            "SELECT count(*) FROM tool_interactions WHERE trace_id = '99999999-1111-4111-8111-111111111111'",
        )[0][0]
        # the run asked only for the new trace: its digest, pair and judgement (new prompts),
        # and its turn summary and labels unless a prompt equals one of the original trace's
        # (the copy keeps some messages word for word): never a prompt asked before
        requests = server.requests
        earlier = {json.dumps(r.body, sort_keys=True) for r in requests[:before]}
        new_bodies = [json.dumps(r.body, sort_keys=True) for r in requests[before:]]
        assert not set(new_bodies) & earlier and len(new_bodies) == len(set(new_bodies)), explain(requests)
        assert 3 <= len(new_bodies) <= 4 + new_interactions, explain(requests)
        assert sum("99999999-1111" in body for body in new_bodies) >= 1  # the digest names the new trace
        new_key = rows(
            project, "SELECT trace_key FROM traces WHERE trace_id = '99999999-1111-4111-8111-111111111111'"
        )[0][0]
        for model, column in (
            ("trace_digests", "trace_digest"),
            ("sft_records", "sft_record"),
            ("sft_judgements", "judgement"),
            ("turn_summaries", "turn_summary"),
        ):
            assert rows(project, f"SELECT count({column}) FROM {model} WHERE trace_key = '{new_key}'") == [
                (1,)
            ], model
        assert rows(
            project, f"SELECT count(label) FROM tool_interaction_labels WHERE trace_key = '{new_key}'"
        ) == [(new_interactions,)]
        assert rows(project, "SELECT count(*) FROM sft_dataset")[0][0] == traces + 1


def test_preview_computes_rows_end_to_end_and_writes_no_table(project, monkeypatch):
    with FakeLLMServer(default=generous) as server:
        monkeypatch.setenv("TRACESQL_LLM_BASE_URL", server.url)
        monkeypatch.setenv("TRACESQL_LLM_API_KEY", "test-key-not-a-secret")
        result = cli(
            project,
            "run",
            "--vars",
            "{llm_model: local}",
            "--preview",
            "2",
            "--preview-model",
            "sft_dataset",
            "-s",
            "+sft_dataset",
        )
        assert result.exit_code == 0, result.output
        assert "-- sft_dataset, row 1" in result.output
        assert "sft_instruction" in result.output and '"groundedness"' in result.output
        assert len(server.requests) == 2 * 3  # two traces, three chained steps
        assert not (project / "tracesql.duckdb").exists()
        # the full run pays only for what the preview did not compute
        assert cli(project, "run", "--vars", "{llm_model: local}", "-s", "+sft_dataset").exit_code == 0
        traces = rows(project, "SELECT count(*) FROM traces")[0][0]
        assert len(server.requests) == 3 * traces


def add_trace_file(project: Path) -> None:
    """One new Codex session (new content, so none of its prompts is cached)."""
    new = project / "examples" / "traces" / "codex" / "new"
    new.mkdir()
    src = next((project / "examples" / "traces" / "codex").rglob("rollout-2026-01-02*.jsonl"))
    text = (
        src.read_text()
        .replace("11111111-1111-4111-8111-111111111111", "99999999-1111-4111-8111-111111111111")
        .replace("synthetic", "artificial")
    )
    (new / "rollout-new.jsonl").write_text(text)
