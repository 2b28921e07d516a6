"""`tracesql.connect()`: a Connection that works as DuckDB's, owns its session (reader spill
folder, LLM threads) and ends it on close, at the end of a `with` block, or when dropped."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import duckdb
import pytest

import tracesql
from tests.llm.fake_server import FakeLLMServer
from tracesql.llm.config import LLMConfig, LLMSettings, ModelConfig, ProviderConfig

FIXTURES = Path(__file__).parent / "fixtures"


def llm_config(server: FakeLLMServer, cache: Path) -> LLMConfig:
    return LLMConfig(
        providers={"fake": ProviderConfig(base_url=server.url)},
        models={"m": ModelConfig(provider="fake", model="fake-model", max_parallel_requests=4)},
        settings=LLMSettings(cache_path=str(cache)),
    )


def tracesql_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("tracesql")}


def use(con: tracesql.Connection, tag: str) -> None:
    """An LLM call (event loop, lane threads, cache writer) and a read (spill folder)."""
    assert con.execute(f"SELECT llm('{tag} ' || i) FROM range(6) t(i)").fetchall()
    assert con.execute(f"SELECT count(*) FROM traces('{FIXTURES}')").fetchone()[0] > 0


def test_close_stops_the_threads_and_removes_the_spill_folder(tmp_path):
    spill = tmp_path / "spill"
    spill.mkdir()
    with FakeLLMServer() as server:
        config = llm_config(server, tmp_path / "cache.sqlite")
        with tracesql.connect(llm_config=config) as warm:  # `import openai` happens once, here
            use(warm, "warm")
        before = tracesql_threads()
        for cycle in range(3):
            con = tracesql.connect(llm_config=config, spill_dir=str(spill))
            use(con, f"cycle {cycle}")
            assert tracesql_threads() - before  # the session's threads run...
            assert list(spill.iterdir())  # ...and its reads spill here
            con.close()
            assert tracesql_threads() == before
            assert list(spill.iterdir()) == []
        assert len(server.requests) == 6 * 4


def test_a_dropped_connection_ends_its_session(tmp_path):
    spill = tmp_path / "spill"
    spill.mkdir()
    with FakeLLMServer() as server:
        before = tracesql_threads()
        con = tracesql.connect(llm_config=llm_config(server, tmp_path / "c.sqlite"), spill_dir=str(spill))
        use(con, "dropped")
        raw = con.duckdb
        del con
        gc.collect()
        assert list(spill.iterdir()) == []
        assert tracesql_threads() == before
        with pytest.raises(duckdb.ConnectionException):
            raw.execute("SELECT 1")


def test_a_connection_is_duckdbs_with_the_raw_one_at_hand(tmp_path):
    with tracesql.connect(str(tmp_path / "x.duckdb"), read_only=False, project=False) as con:
        assert isinstance(con, tracesql.Connection)
        assert isinstance(con.duckdb, duckdb.DuckDBPyConnection)
        con.execute("CREATE TABLE t AS SELECT range AS i FROM range(3)")
        assert con.execute("SELECT sum(i) FROM t").fetchall() == [(3,)]
        assert con.sql("SELECT count(*) FROM t").fetchall() == [(3,)]
        assert con.table("t").columns == ["i"]  # any other DuckDB method, delegated
        assert duckdb.sql("SELECT count(*) FROM t", connection=con.duckdb).fetchall() == [(3,)]
    assert con.closed
    con.close()  # closing twice is harmless
    with pytest.raises(duckdb.ConnectionException):
        con.execute("SELECT 1")
