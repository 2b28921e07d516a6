"""Calls to one model run concurrently, up to its max_parallel_requests, never beyond."""

from __future__ import annotations

import time


def test_server_sees_max_parallel_requests_in_flight(server, session):
    server.latency = 0.2
    s = session(models={"m": {"max_parallel_requests": 8}})
    s.rows("SELECT llm('warm up')")  # the first call also waits for `import openai`
    server.reset()
    started = time.monotonic()
    rows = s.rows("SELECT llm('row ' || i) FROM range(32) t(i)")
    elapsed = time.monotonic() - started
    assert len(rows) == 32 and all(r[0] for r in rows)
    assert server.max_in_flight == 8
    assert 0.8 <= elapsed < 1.6  # 4 rounds of 0.2 s, not 32


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
