"""Before spending: dry runs count the calls a run would make; budgets stop new calls."""

from __future__ import annotations

from tests.llm.fake_server import Reply


def test_dry_run_counts_cache_misses_and_makes_no_request(server, session, tmp_path):
    cache = tmp_path / "c.sqlite"
    session(cache=cache).rows("SELECT llm('row ' || i) FROM range(2) t(i)")  # two answers cached
    assert len(server.requests) == 2
    dry = session(cache=cache, dry_run=True)
    rows = dry.rows("SELECT i, llm('row ' || i) FROM range(5) t(i) ORDER BY i")
    assert len(server.requests) == 2  # nothing sent
    assert rows[:2] == [(0, "echo: row 0"), (1, "echo: row 1")]  # hits still answer
    assert [r[1] for r in rows[2:]] == ["", "", ""]  # placeholders stand in for the misses
    stats = dry.runtime.summary()[0]
    assert (stats["would_call"], stats["cache_hits"], stats["calls"]) == (3, 2, 0)
    assert stats["est_input_tokens"] > 0
    assert stats["est_output_tokens"] > 0  # from the two answers seen so far
    assert stats["est_tokens"] == stats["est_input_tokens"] + stats["est_output_tokens"]


def test_dry_run_counts_the_later_steps_of_a_chain(server, session):
    dry = session(dry_run=True)
    dry.con.execute(
        "CREATE TABLE d AS SELECT i, llm_struct('digest ' || i, "
        "'STRUCT(goal VARCHAR, value ENUM(''high'', ''low''), tags VARCHAR[])') AS digest FROM range(4) t(i)"
    )
    assert dry.rows("SELECT DISTINCT digest FROM d") == [({"goal": "", "value": "high", "tags": []},)]
    dry.rows("SELECT llm('Write an instruction for: ' || digest.goal || i) FROM d")
    assert dry.runtime.summary()[0]["would_call"] == 8
    assert server.requests == []


def test_dry_run_counts_a_repeated_request_once(server, session):
    dry = session(dry_run=True)
    dry.rows("SELECT llm('same') FROM range(4)")
    assert dry.runtime.summary()[0]["would_call"] == 1


def test_dry_run_estimates_cost_when_prices_are_set(server, session):
    dry = session(
        dry_run=True,
        models={"m": {"max_tokens": 100, "input_price_per_mtok": 1.0, "output_price_per_mtok": 10.0}},
    )
    dry.rows("SELECT llm('x' || i) FROM range(10) t(i)")
    stats = dry.runtime.summary()[0]
    assert stats["est_output_tokens"] == 1000  # max_tokens per call when nothing is known yet
    expected = (stats["est_input_tokens"] * 1.0 + 1000 * 10.0) / 1e6
    assert abs(stats["est_cost_usd"] - expected) < 1e-12


def test_dry_run_without_a_cache_file_creates_none(server, session, tmp_path):
    cache = tmp_path / "absent" / "c.sqlite"
    session(cache=cache, dry_run=True).rows("SELECT llm('q')")
    assert not cache.exists()


def test_max_calls_stops_new_calls_and_keeps_the_rest(server, session):
    s = session(max_calls=3)
    rows = s.rows("SELECT i, llm('row ' || i) FROM range(6) t(i) ORDER BY i")
    assert len(server.requests) == 3
    assert sum(r[1] is not None for r in rows) == 3 and len(rows) == 6
    stats = s.runtime.summary()[0]
    assert (stats["calls"], stats["budget_skipped"], stats["errors"]) == (3, 3, 0)


def test_max_tokens_budget(server, session):
    server.default = lambda request: Reply.text("ok", usage=(10, 10))
    s = session(max_tokens=50, models={"m": {"max_parallel_requests": 1}})
    s.rows("SELECT llm('row ' || i) FROM range(6) t(i)")
    assert len(server.requests) == 3  # 20, 40, 60 tokens: the third crosses the budget
    assert s.runtime.summary()[0]["input_tokens"] == 30


def test_budget_applies_after_cache_hits(server, session, tmp_path):
    cache = tmp_path / "c.sqlite"
    session(cache=cache).rows("SELECT llm('row ' || i) FROM range(3) t(i)")
    s = session(cache=cache, max_calls=1)
    rows = s.rows("SELECT llm('row ' || i) FROM range(5) t(i)")
    assert sum(r[0] is not None for r in rows) == 4  # 3 hits cost nothing, 1 new call
    assert len(server.requests) == 4
