"""incremental_strategy='by_file': a trace table kept file by file, in pieces behind a view.
Evidence is what the reads did (files parsed, read, skipped), never time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.readers.conftest import claude_session_lines, write_session
from tracesql.connection import ConnectionOptions, open_connection
from tracesql.errors import ExecutionError
from tracesql.execution import by_file
from tracesql.execution.materialize import materialize
from tracesql.project.nodes import Model, NodeConfig


def model(sql: str) -> Model:
    config = NodeConfig(materialized="incremental", incremental_strategy="by_file")
    return Model(
        name="traces",
        path=Path("/p/models/traces.sql"),
        rel_path="models/traces.sql",
        raw_sql=sql,
        config=config,
    )


def build(con, folder: Path, *, full_refresh: bool = False, sql: str | None = None):
    from tracesql.compile.compiler import Compiled

    sql = sql or f"select * from claude_code_traces('{folder}')"
    return materialize(
        con.duckdb, Compiled(model(sql), sql, set(), True), full_refresh=full_refresh, scans=con.session.scans
    )


@pytest.fixture
def con(tmp_path):
    connection = open_connection(
        str(tmp_path / "db.duckdb"), options=ConnectionOptions(target_dir=str(tmp_path / "target"))
    )
    yield connection
    connection.close()


def rows(con) -> list[tuple]:
    return con.execute("SELECT trace_id, message_count FROM traces ORDER BY trace_id").fetchall()


def test_a_rerun_reads_nothing_and_changes_replace_only_their_files_rows(con, tmp_path):
    corpus = tmp_path / "corpus"
    for name in ("a", "b", "c"):
        write_session(corpus / f"{name}.jsonl", name, turns=2)
    done = build(con, corpus)
    assert done.rows == 3 and rows(con) == [("a", 4), ("b", 4), ("c", 4)]
    scans = con.session.scans
    assert scans.last_result.parsed == 3

    again = build(con, corpus)  # unchanged: no file read, no row written
    assert again.rows == 0 and again.message == "0 files read, 0 replaced or removed, 3 unchanged"
    assert rows(con) == [("a", 4), ("b", 4), ("c", 4)]

    write_session(corpus / "b.jsonl", "b", turns=3)  # grown in place
    write_session(corpus / "d.jsonl", "d", turns=1)  # new
    os.unlink(corpus / "c.jsonl")  # removed
    grown = build(con, corpus)
    assert grown.message == "2 files read, 2 replaced or removed, 1 unchanged"
    assert scans.last_result.parsed == 2
    assert rows(con) == [("a", 4), ("b", 6), ("d", 2)]

    full = build(con, corpus, full_refresh=True)  # rebuilt: from the parse cache, nothing parsed
    assert full.rows == 3 and rows(con) == [("a", 4), ("b", 6), ("d", 2)]
    assert (scans.last_result.parsed, scans.last_result.cached) == (0, 3)
    assert len(by_file.pieces_of(con.duckdb, model("").relation)) == 1


def test_rows_are_stored_in_pieces_of_bounded_size(con, tmp_path, monkeypatch):
    monkeypatch.setattr(by_file, "PIECE_BYTES", 1)  # one Parquet part per piece
    monkeypatch.setenv("TRACESQL_WORKERS", "1")
    monkeypatch.setattr("tracesql.readers.scan.BATCH_BYTES", 1)
    corpus = tmp_path / "corpus"
    for n in range(5):
        path = corpus / f"s{n}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(claude_session_lines(f"s{n}", turns=40)) + "\n")
    build(con, corpus)
    pieces = by_file.pieces_of(con.duckdb, model("").relation)
    assert len(pieces) > 1
    assert con.execute("SELECT count(*) FROM traces").fetchone()[0] == 5
    kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables").fetchall())
    assert kinds["traces"] == "VIEW" and kinds["traces__files"] == "BASE TABLE"


def test_a_model_without_source_path_is_refused(con, tmp_path):
    write_session(tmp_path / "corpus" / "a.jsonl", "a")
    with pytest.raises(ExecutionError, match="keep the source_path column"):
        build(
            con, tmp_path / "corpus", sql=f"select trace_id from claude_code_traces('{tmp_path / 'corpus'}')"
        )


def test_a_model_with_two_reads_is_refused(con, tmp_path):
    write_session(tmp_path / "corpus" / "a.jsonl", "a")
    folder = tmp_path / "corpus"
    sql = f"select * from claude_code_traces('{folder}') union all select * from traces('{folder}')"
    with pytest.raises(ExecutionError, match="calls one trace reader"):
        build(con, folder, sql=sql)


def test_the_example_project_model_is_incremental_by_file():
    text = (Path(__file__).resolve().parents[2] / "models" / "traces.sql").read_text()
    assert "incremental_strategy='by_file'" in text
