"""Calls to one model run concurrently, up to its max_parallel_requests, never beyond.
The evidence is the server's: how many requests it had in flight at once, and when each
started and finished (never the test's own clock: a loaded machine only slows it)."""

from __future__ import annotations


def test_server_sees_max_parallel_requests_in_flight(server, session):
    server.latency = 0.2
    s = session(models={"m": {"max_parallel_requests": 8}})
    s.rows("SELECT llm('warm up')")  # the first call also waits for `import openai`
    server.reset()
    rows = s.rows("SELECT llm('row ' || i) FROM range(32) t(i)")
    assert len(rows) == 32 and all(r[0] for r in rows)
    assert len(server.requests) == 32
    assert server.max_in_flight == 8  # 8 at once (not one by one), never more
    requests = sorted(server.requests, key=lambda r: r.started)
    # a slot is refilled only as a request ends: the 9th starts after the first has finished
    assert requests[8].started >= min(r.finished for r in requests[:8])


def test_each_alias_has_its_own_bound(server, session):
    server.latency = 0.15
    s = session(
        models={"small": {"max_parallel_requests": 2}, "wide": {"max_parallel_requests": 6}},
        default_model="small",
    )
    s.rows("SELECT llm('a' || i) FROM range(6) t(i)")
    assert server.max_in_flight == 2
    server.reset()
    s.rows("SELECT llm('b' || i, model := 'wide') FROM range(12) t(i)")
    assert server.max_in_flight == 6


def test_chunks_larger_than_one_vector_keep_order(server, session):
    s = session(models={"m": {"max_parallel_requests": 16}})
    rows = s.rows("SELECT i, llm('n' || (i % 97)) FROM range(2500) t(i) ORDER BY i")
    assert rows == [(i, f"echo: n{i % 97}") for i in range(2500)]
    assert len(server.requests) == 97
