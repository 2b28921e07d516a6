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
    placeholders = [r[1] for r in rows[2:]]  # stand in for the misses, one per request
    assert all(p.startswith("(dry run: not asked, ") for p in placeholders) and len(set(placeholders)) == 3
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
    digests = dry.rows("SELECT digest FROM d")
    assert {(d["value"], len(d["tags"])) for (d,) in digests} == {("high", 0)}  # the simplest valid...
    assert len({d["goal"] for (d,) in digests}) == 4  # ...with a text of its own, as real answers have
    dry.rows("SELECT llm('Write an instruction for: ' || digest.goal) FROM d")  # distinct per row
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
    # nothing in the call log yet: a quarter of the input, at least 16, at most max_tokens
    assert stats["est_output_tokens"] == 10 * 16
    expected = (stats["est_input_tokens"] * 1.0 + 160 * 10.0) / 1e6
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


def test_max_tokens_budget_is_not_overshot_by_the_requests_in_flight(server, session):
    """Each request reserves its estimate (here 5 in + 16 out) when it starts: 8 in flight
    at once cannot all start against a budget of 100 (server-side: tokens it answered)."""
    server.default = lambda request: Reply.text("ok", usage=(10, 10))
    server.latency = 0.05
    s = session(max_tokens=100, models={"m": {"max_parallel_requests": 8}})
    s.rows("SELECT llm('row ' || i) FROM range(40) t(i)")
    assert 4 <= len(server.requests) <= 5  # 20 tokens each: never past 100
    stats = s.runtime.summary()[0]
    assert stats["input_tokens"] + stats["output_tokens"] <= 100
    assert stats["budget_skipped"] == 40 - len(server.requests)


def test_dry_run_output_tokens_come_from_the_call_log(server, session, tmp_path):
    server.default = lambda request: Reply.text("ok", usage=(10, 7))
    cache = tmp_path / "c.sqlite"
    session(cache=cache).rows("SELECT llm('row ' || i) FROM range(3) t(i)")
    dry = session(cache=cache, dry_run=True)
    dry.rows("SELECT llm('new row ' || i) FROM range(5) t(i)")
    assert dry.runtime.summary()[0]["est_output_tokens"] == 5 * 7  # this model's answers so far


def test_budget_applies_after_cache_hits(server, session, tmp_path):
    cache = tmp_path / "c.sqlite"
    session(cache=cache).rows("SELECT llm('row ' || i) FROM range(3) t(i)")
    s = session(cache=cache, max_calls=1)
    rows = s.rows("SELECT llm('row ' || i) FROM range(5) t(i)")
    assert sum(r[0] is not None for r in rows) == 4  # 3 hits cost nothing, 1 new call
    assert len(server.requests) == 4
