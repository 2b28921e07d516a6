"""Per-alias rate limits for rate-limited tiers: requests_per_minute spaces the requests,
tokens_per_minute keeps a bucket of tokens (the limiter on a clock the test drives, and the
spacing seen by the server)."""

from __future__ import annotations

import time

from tracesql.llm.budget import RateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_requests_per_minute_spaces_the_starts():
    clock = Clock()
    limit = RateLimit(requests_per_minute=30, tokens_per_minute=None, clock=clock)
    assert limit.wait(100) == 0  # the first goes at once
    assert limit.wait(100) == 2.0  # then one every 60 / 30 s
    clock.now += 1.5
    assert limit.wait(100) == 0.5
    clock.now += 0.5
    assert limit.wait(100) == 0


def test_tokens_per_minute_is_a_bucket_refilling_continuously():
    clock = Clock()
    limit = RateLimit(requests_per_minute=None, tokens_per_minute=600, clock=clock)  # 10 a second
    assert limit.wait(400) == 0
    assert limit.wait(400) == 20.0  # 200 left: 200 more take 20 s
    clock.now += 20
    assert limit.wait(400) == 0
    limit.correct(estimated=400, used=100)  # the answer was smaller: 300 back
    assert limit.wait(300) == 0
    assert limit.wait(5000) == 60.0  # bigger than a minute's worth: waits for a full bucket


def test_the_server_sees_the_requests_spaced(server, session):
    """What a provider counting arrivals sees: the k-th request of a query reaches the server
    no sooner than k * 0.1 s after the query started. (An arrival lags its start by however
    long the machine takes to schedule the send, so two arrivals may come closer together
    than the spacing; a window of k * 0.1 s never holds more than k + 1 of them.)"""
    s = session(models={"m": {"requests_per_minute": 600, "max_parallel_requests": 8}})  # 0.1 s apart
    s.rows("SELECT llm('warm-up')")  # its lane, client and connection exist before the clock starts
    started = time.monotonic()  # the clock the server stamps arrivals with (same process)
    s.rows("SELECT llm('row ' || i) FROM range(5) t(i)")
    arrivals = sorted(r.started for r in server.requests if r.prompt.startswith("row "))
    assert len(arrivals) == 5
    early = [(k, round(at - started, 4)) for k, at in enumerate(arrivals) if at - started < 0.1 * k - 1e-9]
    assert early == []
