"""Exports people train on: the format from the file name, CSV, seeded splits by trace,
exact de-duplication, chat records (system message, metadata) that Hugging Face `datasets`
loads, and a reason when nothing is written."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.conftest import invoke, require_extra, write_files
from tests.llm.fake_server import FakeLLMServer
from tests.test_example_project import cli, generous, project, rows  # noqa: F401  (project is a fixture)

PAIRS = {
    "profiles.yml": "target: dev\ntargets:\n  dev: {database: dev.duckdb}\n",
    "models/pairs.sql": """
        {{ config(materialized='table') }}
        select * from (values
            ('t1', 'Fix the bug', 'Done.', 'a'),
            ('t1', 'Fix  the bug ', ' Done.', 'a'),
            ('t2', 'Write a test', 'Here it is.', NULL),
            ('t3', 'Fix the bug', 'Done.', 'b'),
            ('t4', 'Explain', NULL, 'c'),
            ('t5', 'Fix the Bug', 'Done.', 'd')
        ) as v(trace_key, instruction, response, note)
    """,
}


@pytest.fixture
def distilled(project, monkeypatch):  # noqa: F811
    """The example project, built against the scripted server (some pairs recommended)."""
    with FakeLLMServer(default=generous) as server:
        monkeypatch.setenv("TRACESQL_LLM_BASE_URL", server.url)
        monkeypatch.setenv("TRACESQL_LLM_API_KEY", "test-key-not-a-secret")
        result = cli(project, "run", "--vars", "{llm_model: local}")
        assert result.exit_code == 0, result.output
    return project


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_format_comes_from_the_file_name(distilled, tmp_path):
    out = tmp_path / "t.jsonl"
    result = cli(distilled, "export", "traces", "-o", str(out))
    assert result.exit_code == 0, result.output
    (count,) = rows(distilled, "SELECT count(*) FROM traces")[0]
    assert len(lines(out)) == count and f"Wrote {count} rows of traces to {out}" in result.stdout
    assert cli(distilled, "export", "traces", "-o", str(tmp_path / "t.parquet")).exit_code == 0
    assert pq.read_table(tmp_path / "t.parquet").num_rows == count
    mismatch = cli(distilled, "export", "traces", "--format", "parquet", "-o", str(tmp_path / "x.jsonl"))
    assert mismatch.exit_code == 1 and "a .jsonl file is jsonl, but --format says parquet" in mismatch.stderr
    unknown = cli(distilled, "export", "traces", "-o", str(tmp_path / "x.txt"))
    assert unknown.exit_code == 1 and "must end in .parquet, .jsonl, .ndjson, .csv" in unknown.stderr
    assert not (tmp_path / "x.jsonl").exists() and not (tmp_path / "x.txt").exists()


def test_csv_keeps_nested_values_as_json(distilled, tmp_path):
    out = tmp_path / "t.csv"
    assert cli(distilled, "export", "traces", "-o", str(out)).exit_code == 0
    with out.open(newline="") as handle:
        records = list(csv.DictReader(handle))
    expected = dict(rows(distilled, "SELECT trace_key, len(messages) FROM traces"))
    assert {r["trace_key"]: len(json.loads(r["messages"])) for r in records} == expected


def test_seeded_split_by_trace(tmp_path):
    root = write_files(tmp_path / "p", PAIRS)
    assert invoke(root, "run").exit_code == 0
    out = tmp_path / "out" / "pairs.parquet"
    first = invoke(root, "export", "pairs", "-o", str(out), "--split", "train=0.6,validation=0.2,test=0.2")
    assert first.exit_code == 0, first.output
    split = {
        name: pq.read_table(out.with_name(f"pairs.{name}.parquet")).to_pylist()
        for name in ("train", "validation", "test")
    }
    assert [len({r["trace_key"] for r in part}) for part in split.values()] == [3, 1, 1]
    seen = [r["trace_key"] for part in split.values() for r in part]
    assert sorted(seen) == ["t1", "t1", "t2", "t3", "t4", "t5"]  # every row once; t1's two rows together
    assert "train" in first.stdout and "validation" in first.stdout and "test" in first.stdout
    again = {n: out.with_name(f"pairs.{n}.parquet").read_bytes() for n in split}
    assert (
        invoke(
            root, "export", "pairs", "-o", str(out), "--split", "train=0.6,validation=0.2,test=0.2"
        ).exit_code
        == 0
    )
    assert {
        n: out.with_name(f"pairs.{n}.parquet").read_bytes() for n in split
    } == again  # same seed, same files
    assignments = set()
    for seed in range(8):
        assert (
            invoke(
                root,
                "export",
                "pairs",
                "-o",
                str(out),
                "--split",
                "train=0.6,validation=0.2,test=0.2",
                "--seed",
                str(seed),
            ).exit_code
            == 0
        )
        assignments.add(
            tuple(
                sorted(r["trace_key"] for r in pq.read_table(out.with_name("pairs.test.parquet")).to_pylist())
            )
        )
    assert len(assignments) > 1  # the seed decides
    bad = invoke(root, "export", "pairs", "-o", str(out), "--split", "train=0.7,validation=0.2")
    assert bad.exit_code == 1 and "add up to 1" in bad.stderr


def test_dedupe_drops_exact_pairs_after_folding_whitespace(tmp_path):
    root = write_files(tmp_path / "p", PAIRS)
    assert invoke(root, "run").exit_code == 0
    out = tmp_path / "pairs.jsonl"
    result = invoke(root, "export", "pairs", "-o", str(out), "--dedupe")
    assert result.exit_code == 0, result.output
    kept = [(r["trace_key"], r["instruction"]) for r in lines(out)]
    # t1's two rows and t3 are one pair; the first by trace, then text, stays; t5 differs in case
    assert kept == [("t1", "Fix  the bug "), ("t2", "Write a test"), ("t4", "Explain"), ("t5", "Fix the Bug")]
    assert "Left out of 6: 2 duplicate pairs (--dedupe)" in result.stdout


def test_chat_records_follow_the_rules_and_load_in_datasets(tmp_path, monkeypatch):
    root = write_files(tmp_path / "p", PAIRS)
    assert invoke(root, "run").exit_code == 0
    out = tmp_path / "chat" / "pairs.jsonl"
    result = invoke(
        root,
        "export",
        "pairs",
        "-o",
        str(out),
        "--chat",
        "--dedupe",
        "--system",
        "You fix bugs.",
        "--metadata",
        "trace_key,note",
        "--split",
        "train=0.5,validation=0.5",
    )
    assert result.exit_code == 0, result.output
    assert "1 without an instruction or a response (--chat)" in result.stdout
    files = {n: out.with_name(f"pairs.{n}.jsonl") for n in ("train", "validation")}
    records = [r for path in files.values() for r in lines(path)]
    assert len(records) == 3  # t4 has no response; t1's second row and t3 are duplicates
    for record in records:
        assert set(record) == {"messages", "metadata"}  # metadata under one named key
        messages = record["messages"]
        assert messages and [m["role"] for m in messages] == ["system", "user", "assistant"]
        assert all(set(m) == {"role", "content"} and isinstance(m["content"], str) for m in messages)
        assert messages[-1]["role"] == "assistant" and messages[0]["content"] == "You fix bugs."
        assert None not in record["metadata"].values()  # no null field: t2's null note is left out
    assert {r["metadata"]["trace_key"] for r in records} == {"t1", "t2", "t5"}
    assert next(r for r in records if r["metadata"]["trace_key"] == "t2")["metadata"] == {"trace_key": "t2"}

    require_extra("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import datasets

    loaded = datasets.load_dataset(
        "json", data_files={n: str(p) for n, p in files.items()}, cache_dir=str(tmp_path / "hf-cache")
    )
    assert sum(loaded.num_rows.values()) == 3
    first = loaded["train"][0] if loaded["train"].num_rows else loaded["validation"][0]
    assert first["messages"][-1]["role"] == "assistant"
    assert os.environ["HF_DATASETS_OFFLINE"] == "1"


def test_the_example_dataset_exports_as_chat(distilled, tmp_path):
    out = tmp_path / "sft.jsonl"
    result = cli(
        distilled,
        "export",
        "sft_dataset",
        "-o",
        str(out),
        "--chat",
        "--kept",
        "--metadata",
        "trace_key,source_kind",
    )
    assert result.exit_code == 0, result.output
    expected = rows(
        distilled, "SELECT trace_key, sft_instruction FROM sft_dataset WHERE recommended_for_sft ORDER BY 1"
    )
    assert expected, "the scripted answers recommend some pairs"
    got = [(r["metadata"]["trace_key"], r["messages"][0]["content"]) for r in lines(out)]
    assert got == expected


def test_nothing_written_says_why(distilled, tmp_path):
    con = duckdb.connect(str(distilled / "tracesql.duckdb"))
    con.execute("UPDATE sft_dataset SET recommended_for_sft = false")
    con.execute("DELETE FROM sft_chat")
    con.close()
    (total,) = rows(distilled, "SELECT count(*) FROM sft_dataset")[0]
    kept = cli(distilled, "export", "sft_dataset", "-o", str(tmp_path / "a.jsonl"), "--kept")
    assert kept.exit_code == 0
    assert (
        f"nothing was written: sft_dataset has {total} rows; left out: {total} without recommended_for_sft (--kept)"
        in kept.stderr
    )
    chat = cli(distilled, "export", "sft_chat", "-o", str(tmp_path / "b.jsonl"))
    assert chat.exit_code == 0
    assert (
        f"nothing was written: sft_chat has no rows: sft_dataset has {total} rows, 0 with recommended_for_sft true "
        "(`tracesql report sft_dataset` shows why rows are dropped)"
    ) in chat.stderr
