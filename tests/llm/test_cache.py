"""The persistent cache: re-runs cost nothing, keys cover what determines an answer,
refresh/off modes, and a run killed with SIGKILL repeats no completed call."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.llm.fake_server import Reply

MODEL_SQL = "CREATE OR REPLACE TABLE summaries AS SELECT i, llm('row ' || i) AS s FROM range(6) t(i)"


def test_second_run_is_served_from_the_cache(server, session, tmp_path):
    db = str(tmp_path / "project.duckdb")
    first = session(database=db)
    first.con.execute(MODEL_SQL)
    before = first.rows("SELECT * FROM summaries ORDER BY i")
    first.close()
    assert len(server.requests) == 6

    second = session(database=db)  # a new process would see the same: the cache is a file
    second.con.execute("DROP TABLE summaries")  # a full refresh rebuilds from scratch
    second.con.execute(MODEL_SQL)
    assert second.rows("SELECT * FROM summaries ORDER BY i") == before
    assert len(server.requests) == 6  # zero new HTTP requests
    stats = second.runtime.summary()[0]
    assert (stats["calls"], stats["cache_hits"]) == (0, 6)
    assert all(
        r.cache_hit and r.attempt == 0 for r in second.runtime.call_log() if r.run_id == second.runtime.run_id
    )


def test_identical_requests_in_one_run_share_one_call(server, session):
    server.latency = 0.1
    s = session()
    assert s.rows("SELECT DISTINCT llm('same') FROM range(50)") == [("echo: same",)]
    assert len(server.requests) == 1


def test_key_covers_parameters_schema_and_model_but_not_the_api_key(server, session, tmp_path, monkeypatch):
    s = session(models={"a": {}, "b": {}}, default_model="a")
    queries = [
        "SELECT llm('q')",
        "SELECT llm('q', temperature := 0.5)",
        "SELECT llm('q', max_tokens := 10)",
        "SELECT llm('q', system := 's')",
        "SELECT llm('q', model := 'b')",
        "SELECT llm_struct('q', 'STRUCT(a VARCHAR)')",
        "SELECT llm_struct('q', 'STRUCT(b VARCHAR)')",
    ]
    for sql in queries:
        s.rows(sql)
    assert len(server.requests) == len(queries)
    for sql in queries:
        s.rows(sql)
    assert len(server.requests) == len(queries)


def test_refresh_asks_again_and_overwrites(server, session, tmp_path):
    cache = tmp_path / "c.sqlite"
    session(cache=cache).rows("SELECT llm('q')")
    server.when("q", Reply.text("new answer"))
    fresh = session(cache=cache, refresh_cache=True)
    assert fresh.rows("SELECT llm('q') FROM range(3)") == [("new answer",)] * 3  # asked once, then reused
    assert len(server.requests) == 2
    assert session(cache=cache).value("SELECT llm('q')") == "new answer"
    assert len(server.requests) == 2


def test_cache_off_neither_reads_nor_writes(server, session, tmp_path):
    cache = tmp_path / "c.sqlite"
    session(cache=cache).rows("SELECT llm('q')")
    session(cache=cache, no_cache=True).rows("SELECT llm('q'), llm('other')")
    assert len(server.requests) == 3
    session(cache=cache).rows("SELECT llm('other')")
    assert len(server.requests) == 4  # 'other' was not stored by the no-cache run


RUNNER = textwrap.dedent("""
    import sys
    import tracesql
    from tracesql.llm.config import LLMConfig, LLMSettings, ModelConfig, ProviderConfig
    url, cache, db = sys.argv[1:4]
    config = LLMConfig(
        providers={"fake": ProviderConfig(base_url=url)},
        models={"m": ModelConfig(provider="fake", model="fake", max_parallel_requests=4)},
        settings=LLMSettings(cache_path=cache),
    )
    con = tracesql.connect(db, llm_config=config, read_only=False)
    con.execute("CREATE OR REPLACE TABLE out AS SELECT i, llm('row ' || i) AS s FROM range(40) t(i)")
    print("finished", flush=True)
""")


def logged_prompts(cache: Path) -> set[str]:
    """The prompts answered in the cache; every success in the call log (read first: an
    answer is committed before its row) has its answer there."""
    log = sqlite3.connect(cache.with_name("llm_calls.sqlite"))
    try:
        calls = log.execute("SELECT count(*) FROM calls WHERE status_code = 200").fetchone()[0]
    finally:
        log.close()
    db = sqlite3.connect(cache)
    try:
        rows = db.execute("SELECT content FROM responses").fetchall()
    finally:
        db.close()
    prompts = {content.removeprefix("echo: ") for (content,) in rows}
    assert calls <= len(prompts)
    return prompts


def test_sigkill_then_resume_repeats_no_completed_call(server, tmp_path):
    server.latency = 0.1
    cache, db = tmp_path / "cache.sqlite", tmp_path / "db.duckdb"
    script = tmp_path / "run.py"
    script.write_text(RUNNER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, str(script), server.url, str(cache), str(db)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    done: set[str] = set()
    while time.monotonic() < deadline:
        if cache.exists():
            try:
                done = logged_prompts(cache)
            except sqlite3.OperationalError:  # tables not created yet
                done = set()
            if len(done) >= 12:
                break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = logged_prompts(cache)
    assert 12 <= len(done) < 40, "kill the run while it is under way"
    before = len(server.requests)

    resumed = subprocess.run(
        [sys.executable, str(script), server.url, str(cache), str(db)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert resumed.stdout.strip() == "finished", resumed.stderr
    asked_again = {r.prompt for r in server.requests[before:]}
    assert not asked_again & done  # no completed call is repeated
    assert asked_again | done == {f"row {i}" for i in range(40)}
