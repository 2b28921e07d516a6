"""Materializations against a real DuckDB: views, swapped tables, incremental append and merge."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tracesql.compile.compiler import Compiled
from tracesql.errors import ExecutionError
from tracesql.execution.materialize import materialize, relation_type
from tracesql.project.nodes import Model, NodeConfig, Relation


def compiled(sql: str, *, incremental: bool = False, name: str = "m", **config) -> Compiled:
    model = Model(
        name=name,
        path=Path(f"/p/models/{name}.sql"),
        rel_path=f"models/{name}.sql",
        raw_sql=sql,
        config=NodeConfig(**config),
    )
    return Compiled(model, sql, set(), is_incremental=incremental)


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("CREATE TABLE src AS SELECT range AS id, 'v' || range AS v FROM range(5)")
    yield con
    con.close()


def count(con, sql: str = "SELECT count(*) FROM m") -> int:
    return con.execute(sql).fetchall()[0][0]


def test_view_and_table_replace_each_other(con):
    done = materialize(con, compiled("select * from src", materialized="view"))
    assert (done.rows, done.message, relation_type(con, Relation("m"))) == (None, "created", "view")
    done = materialize(con, compiled("select * from src", materialized="table"))
    assert (done.rows, done.message, relation_type(con, Relation("m"))) == (5, "replaced", "table")
    done = materialize(con, compiled("select 1 as id", materialized="view"))
    assert (done.message, relation_type(con, Relation("m")), count(con)) == ("replaced", "view", 1)


def test_failed_table_build_keeps_the_old_table(con):
    materialize(con, compiled("select * from src", materialized="table"))
    with pytest.raises(duckdb.Error):
        materialize(
            con,
            compiled("select id / (id - id) :: int as boom, error('boom') from src", materialized="table"),
        )
    assert count(con) == 5
    leftovers = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '%tracesql%'"
    ).fetchall()
    assert leftovers == []


def test_schema_config_creates_the_schema(con):
    materialize(con, compiled("select 1 as x", materialized="table", schema="reports"))
    assert con.execute("SELECT x FROM reports.m").fetchall() == [(1,)]


def test_incremental_append_only_adds_the_new_batch(con):
    first = materialize(con, compiled("select * from src", materialized="incremental"))
    assert (first.rows, first.message) == (5, "created")
    con.execute("INSERT INTO src VALUES (5, 'v5'), (6, 'v6')")
    batch = "select * from src where id > (select max(id) from m)"
    second = materialize(con, compiled(batch, materialized="incremental", incremental=True))
    assert (second.rows, second.message) == (2, "inserted 2 rows")
    assert count(con) == 7
    none = materialize(con, compiled(batch, materialized="incremental", incremental=True))
    assert (none.rows, count(con)) == (0, 7)


def test_incremental_merge_on_unique_key(con):
    materialize(con, compiled("select * from src", materialized="incremental", unique_key="id"))
    con.execute("UPDATE src SET v = 'changed' WHERE id IN (1, 2)")
    con.execute("INSERT INTO src VALUES (9, 'new')")
    batch = "select * from src where v in ('changed', 'new')"
    done = materialize(con, compiled(batch, materialized="incremental", unique_key="id", incremental=True))
    assert (done.rows, done.message) == (3, "merged 3 rows (2 replaced)")
    assert con.execute("SELECT id, v FROM m ORDER BY id").fetchall() == [
        (0, "v0"),
        (1, "changed"),
        (2, "changed"),
        (3, "v3"),
        (4, "v4"),
        (9, "new"),
    ]


def test_incremental_composite_key_and_missing_key_column(con):
    materialize(con, compiled("select id, v from src", materialized="incremental", unique_key=["id", "v"]))
    done = materialize(
        con,
        compiled(
            "select 1 as id, 'v1' as v", materialized="incremental", unique_key=["id", "v"], incremental=True
        ),
    )
    assert done.message == "merged 1 rows (1 replaced)" and count(con) == 5
    with pytest.raises(ExecutionError, match="unique_key column nope is not among the model's columns"):
        materialize(
            con,
            compiled(
                "select 1 as id, 'x' as v", materialized="incremental", unique_key="nope", incremental=True
            ),
        )


def test_incremental_schema_change_policies(con):
    materialize(con, compiled("select id from src", materialized="incremental"))
    wider = "select 7 as id, 'x' as extra"
    with pytest.raises(
        ExecutionError, match=r"columns the existing table lacks \(extra\); rebuild with --full-refresh"
    ):
        materialize(con, compiled(wider, materialized="incremental", incremental=True))
    assert count(con) == 5
    materialize(con, compiled(wider, materialized="incremental", incremental=True, on_schema_change="ignore"))
    assert con.execute("SELECT * FROM m WHERE id = 7").fetchall() == [(7,)]
    materialize(
        con,
        compiled(wider, materialized="incremental", incremental=True, on_schema_change="append_new_columns"),
    )
    assert con.execute("SELECT id, extra FROM m WHERE extra IS NOT NULL").fetchall() == [(7, "x")]


def test_incremental_dry_run_counts_without_writing(con):
    materialize(con, compiled("select * from src", materialized="incremental"))
    con.execute("INSERT INTO src VALUES (5, 'v5')")
    done = materialize(
        con,
        compiled("select * from src where id > 4", materialized="incremental", incremental=True),
        dry_run=True,
    )
    assert (done.rows, done.message, count(con)) == (1, "would add 1 new rows", 5)


def test_full_refresh_rebuilds_and_row_limit_caps(con):
    materialize(con, compiled("select * from src", materialized="incremental"))
    done = materialize(con, compiled("select * from src", materialized="incremental"), full_refresh=True)
    assert (done.rows, done.message) == (5, "rebuilt (full refresh)")
    done = materialize(con, compiled("select * from src", materialized="table"), row_limit=2)
    assert (done.rows, count(con)) == (2, 2)


GOOD_ROWS = (
    "SELECT * FROM (VALUES (1, 'good 1', 'ok', 'h1', 'fp-old'), (2, 'good 2', 'ok', 'h2', 'fp-old'), "
    "(3, NULL, 'failed', 'h3', 'fp-old')) t(id, value, llm_status, llm_request_hash, llm_fingerprint)"
)
RETRY_ROWS = (
    "SELECT * FROM (VALUES (1, NULL, 'failed', 'h1-new', 'fp-new'), (2, 'better 2', 'ok', 'h2-new', 'fp-new'), "
    "(3, NULL, 'failed', 'h3-new', 'fp-new'), (4, NULL, 'skipped', NULL, 'fp-new')) "
    "t(id, value, llm_status, llm_request_hash, llm_fingerprint)"
)


@pytest.mark.parametrize("incremental", [True, False], ids=["merge", "full refresh"])
def test_a_failed_llm_value_keeps_its_previous_good_one(con, incremental):
    """A new row whose LLM status is 'failed' keeps the old row's value and fingerprint where
    the old row was good; with the failed request's hash, marked kept_previous. A row that
    had no good value stays failed; new good values replace old ones."""
    model = dict(materialized="incremental", unique_key="id")
    materialize(con, compiled(GOOD_ROWS, **model))
    done = materialize(
        con, compiled(RETRY_ROWS, incremental=incremental, **model), full_refresh=not incremental
    )
    assert (done.kept, done.skipped) == (1, 1)
    assert con.execute("SELECT * FROM m ORDER BY id").fetchall() == [
        (1, "good 1", "kept_previous", "h1-new", "fp-old"),
        (2, "better 2", "ok", "h2-new", "fp-new"),
        (3, None, "failed", "h3-new", "fp-new"),
        (4, None, "skipped", None, "fp-new"),
    ]


def test_a_verdict_refuses_the_new_rows_before_anything_is_written(con):
    model = dict(materialized="incremental", unique_key="id")
    materialize(con, compiled(GOOD_ROWS, **model))

    def refuse() -> None:
        raise ExecutionError("every LLM value failed")

    for incremental in (True, False):
        with pytest.raises(ExecutionError):
            materialize(con, compiled(RETRY_ROWS, incremental=incremental, **model), verdict=refuse)
        assert con.execute("SELECT count(*), count(value) FROM m").fetchone() == (3, 2)
