"""The cache and the call log are checked before money is spent: a cache that cannot be
written, is garbled or comes from a newer release is a clear error naming the file and
the fix, before any request; one deleted during a run stops the spending; the call log
(its own file beside the cache) is written under --no-cache and from read-only DuckDB
connections. (Tests run as root, where chmod blocks nothing: a cache is made unwritable by
giving it a path whose parent is a file.)"""

from __future__ import annotations

import sqlite3

import duckdb
import pytest

from tracesql.errors import LLMStoreError


def store_error(s, sql: str) -> str:
    """The LLMStoreError a query raised (DuckDB wraps it; the connection keeps the clean one)."""
    with pytest.raises(duckdb.Error):
        s.rows(sql)
    error = s.con.session.pop_error()
    assert isinstance(error, LLMStoreError), error
    return str(error)


def test_a_cache_that_cannot_be_created_fails_before_any_request(server, session, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    s = session(cache=blocker / "llm_cache.sqlite")
    message = store_error(s, "SELECT llm('row ' || i) FROM range(5) t(i)")
    assert str(blocker / "llm_cache.sqlite") in message and "llm.cache_path" in message
    assert server.requests == []


def test_a_garbled_cache_fails_before_any_request(server, session, tmp_path):
    cache = tmp_path / "llm_cache.sqlite"
    cache.write_bytes(b"this is not an SQLite database, just bytes " * 100)
    message = store_error(session(cache=cache), "SELECT llm('q')")
    assert (
        str(cache) in message and "not a readable SQLite database" in message and "move it aside" in message
    )
    assert server.requests == []


def test_a_cache_from_a_newer_release_is_refused(server, session, tmp_path):
    cache = tmp_path / "llm_cache.sqlite"
    with sqlite3.connect(cache) as db:
        db.execute("PRAGMA user_version = 99")
    assert "newer tracesql" in store_error(session(cache=cache), "SELECT llm('q')")
    assert server.requests == []


def test_no_cache_neither_creates_nor_reads_the_cache_but_logs_every_call(server, session, tmp_path):
    cache = tmp_path / "llm_cache.sqlite"
    s = session(cache=cache, no_cache=True)
    assert s.rows("SELECT llm('q')") == [("echo: q",)]
    assert not cache.exists()
    rows = s.rows("SELECT cache_hit, status_code, final FROM llm_call_log()")
    assert rows == [(False, 200, True)]
    assert (tmp_path / "llm_calls.sqlite").exists()


def test_a_cache_deleted_during_a_run_stops_the_spending(server, session, tmp_path):
    cache = tmp_path / "llm_cache.sqlite"
    answered = []

    def delete_on_third(request):
        answered.append(request)
        if len(answered) == 3:
            cache.unlink()
        return "echo: " + request.prompt

    server.default = delete_on_third
    s = session(cache=cache, models={"m": {"max_parallel_requests": 1}})
    message = store_error(s, "SELECT llm('row ' || i) FROM range(20) t(i)")
    assert str(cache) in message and "was deleted" in message
    assert len(server.requests) == 3  # the answer that arrived after the deletion was the last


def test_the_call_log_is_written_from_a_read_only_database(server, session, tmp_path):
    database = tmp_path / "project.duckdb"
    duckdb.connect(str(database)).close()
    s = session(database=str(database), read_only=True)
    assert s.rows("SELECT llm('from a read-only connection')") == [("echo: from a read-only connection",)]
    s.close()
    other = session()  # any connection reads the log
    rows = other.rows("SELECT status_code, final FROM llm_call_log()")
    assert rows == [(200, True)]
