"""A cache written by an earlier release keeps hitting: its schema is migrated in place.

fixtures/release_cache.sqlite was written by tracesql as of commit 59814e8 (before the
cache schema was derived from the call-log dataclass): one answered request,
`llm('What is in the cache?', model := 'm')` to model `fixture-model` at provider
`fixture` (base_url http://llm-fixture.invalid/v1), answered "a cached answer" with usage
(12, 3), and its call-log row. The request key hashes the base_url, so the test reaches
the fake server as an HTTP proxy for that host: a miss would show up as a request there.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import duckdb
from click.testing import CliRunner

from tracesql.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "release_cache.sqlite"
FIXTURE_URL = "http://llm-fixture.invalid/v1"


def _project(root: Path, cache: Path) -> None:
    (root / "models").mkdir(parents=True)
    (root / "profiles.yml").write_text(
        json.dumps(
            {
                "providers": {"fixture": {"base_url": FIXTURE_URL}},
                "models": {"m": {"provider": "fixture", "model": "fixture-model"}},
                "llm": {"cache_path": str(cache), "max_retries": 0},
            }
        )
    )
    (root / "models" / "answers.sql").write_text(
        "SELECT llm('What is in the cache?', model := 'm') AS answer"
    )


def test_a_cache_from_the_last_release_still_hits(server, tmp_path, monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    proxy = server.url.rsplit("/v1", 1)[0]
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("http_proxy", proxy)
    cache = tmp_path / "llm_cache.sqlite"
    shutil.copy(FIXTURE, cache)
    _project(tmp_path / "p", cache)

    result = CliRunner().invoke(main, ["run", "--project-dir", str(tmp_path / "p")])

    assert result.exit_code == 0, result.output
    assert server.requests == []  # served from the old cache: zero HTTP requests
    con = duckdb.connect(str(tmp_path / "p" / "tracesql.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT answer FROM answers").fetchall() == [("a cached answer",)]
        hits = con.execute("SELECT cache_hit, attempt, input_tokens, output_tokens FROM llm_calls").fetchall()
    finally:
        con.close()
    # this run's cache hit, and the old release's own call, moved into the call log
    assert sorted(hits) == [(False, 1, 12, 3), (True, 0, 12, 3)]
    with sqlite3.connect(cache) as db:  # the old call-log row moved to the call-log file...
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'calls'").fetchone() == (0,)
    with sqlite3.connect(tmp_path / "llm_calls.sqlite") as db:  # ...beside the new one
        assert db.execute("SELECT count(*), sum(cache_hit) FROM calls").fetchone() == (2, 1)


def test_an_older_schema_is_migrated_in_place(tmp_path):
    """A file from before answers kept their reasoning and calls their cost: the missing
    columns are added to the same file, and its rows read back by column name; its
    call-log rows move to the call-log file."""
    from tracesql.llm.cache import CachedResponse, LLMStore
    from tracesql.llm.calls import CallRecord

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE responses (key TEXT PRIMARY KEY, content TEXT, model_alias TEXT, "
            "provider_model TEXT, finish_reason TEXT, input_tokens INTEGER, output_tokens INTEGER, "
            "created_at REAL)"
        )
        db.execute("INSERT INTO responses VALUES ('k1', 'old answer', 'm', 'pm', 'stop', 5, 2, 1.5)")
        db.execute(
            "CREATE TABLE calls (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, cache_hit INTEGER)"
        )
        db.execute("INSERT INTO calls (run_id, cache_hit) VALUES ('old-run', 1)")
    inode = path.stat().st_ino

    store = LLMStore(path, tmp_path / "llm_calls.sqlite")
    try:
        assert store.get("k1") == CachedResponse("k1", "m", "pm", "old answer", "stop", 5, 2, 1.5, None)
        record = CallRecord(
            "new-run", 2.0, None, "m", "p", "pm", "k2", 1, False, 200, 1, 1, 3.0, "stop", None, 0.1
        )
        store.put(CachedResponse("k2", "m", "pm", "new", "stop", 1, 1, 2.0, "because"), [record])
        store.flush()
        assert store.get_many(["k1", "k2"])["k2"].reasoning == "because"
        old, new = store.calls()
        assert (old.run_id, old.cache_hit, old.cost_usd) == ("old-run", True, None)
        assert replace(new, call_id=None) == record and (old.call_id, new.call_id) == (1, 2)
    finally:
        store.close()
    assert path.stat().st_ino == inode  # the same file, not a new one beside a moved-aside copy
