"""Failures: tracesql's own retries (429, 5xx, timeouts, dropped connections), what is
not retried, rows kept with NULL, max_error_rate: fail, answers cut off at max_tokens."""

from __future__ import annotations

import duckdb
import pytest

from tests.llm.fake_server import Reply
from tracesql.errors import LLMError


def attempts(s):
    return [(r.attempt, r.status_code, r.error) for r in s.runtime.call_log()]


def test_429_then_success_honours_retry_after(server, session):
    s = session()
    server.enqueue(Reply.error(429, "slow down", retry_after=0.3), Reply.text("done"))
    assert s.value("SELECT llm('q')") == "done"
    first, second = server.requests
    assert second.started - first.finished >= 0.3
    log = attempts(s)
    assert log[0][:2] == (1, 429) and "slow down" in log[0][2]
    assert log[1] == (2, 200, None)


def test_500s_past_the_retry_limit_give_null_and_keep_the_row(server, session):
    s = session(max_retries=2)
    server.when("bad", Reply.error(500, "boom"))
    rows = s.rows(
        "SELECT i, llm(CASE WHEN i = 1 THEN 'bad' ELSE 'good ' || i END) FROM range(3) t(i) ORDER BY i"
    )
    assert rows == [(0, "echo: good 0"), (1, None), (2, "echo: good 2")]
    assert sum(r.prompt == "bad" for r in server.requests) == 3  # first attempt + 2 retries
    log = [r for r in s.runtime.call_log() if r.status_code == 500]
    assert [r.attempt for r in log] == [1, 2, 3]
    stats = s.runtime.summary()[0]
    assert (stats["errors"], stats["calls"], stats["attempts"]) == (1, 3, 5)


def test_max_error_rate_fail_raises_an_llm_error(server, session):
    s = session(max_retries=0, max_error_rate="fail")
    server.enqueue(Reply.error(503, "unavailable"))
    with pytest.raises(duckdb.Error, match="HTTP 503: unavailable"):
        s.value("SELECT llm('q')")
    error = s.runtime.pop_error()
    assert isinstance(error, LLMError) and "HTTP 503" in str(error)


def test_timeout_is_retried(server, session):
    s = session(models={"m": {"timeout": 0.3}})
    server.enqueue(Reply.hang(30), Reply.text("in time"))
    assert s.value("SELECT llm('q')") == "in time"
    hung, retry = server.requests
    assert hung.finished is None or hung.finished > retry.finished  # the hung answer was not awaited
    assert server.max_in_flight == 2  # the retry came while the first request still hung
    assert attempts(s)[0] == (1, None, "timed out after 0.3 s")


def test_dropped_connection_is_retried(server, session):
    s = session()
    server.enqueue(Reply.dropped(), Reply.text("back"))
    assert s.value("SELECT llm('q')") == "back"
    assert attempts(s)[0][2].startswith("connection error")


def test_client_errors_are_not_retried(server, session):
    s = session()
    server.enqueue(Reply.error(400, "prompt too long"))
    assert s.value("SELECT llm('q')") is None
    assert len(server.requests) == 1
    assert attempts(s) == [(1, 400, "HTTP 400: prompt too long")]


def test_failed_request_is_not_paid_twice_in_a_run(server, session):
    s = session(max_retries=1)
    server.when("same", Reply.error(500, "boom"))
    assert s.rows("SELECT llm('same') FROM range(3)") == [(None,)] * 3
    s.rows("SELECT llm('same')")
    assert len(server.requests) == 2  # one call and its retry, shared by all four rows


def test_truncated_text_is_kept_and_reported(server, session):
    s = session()
    server.enqueue(Reply.truncated("The answer is lo"))
    assert s.value("SELECT llm('q')") == "The answer is lo"
    record = s.runtime.call_log()[0]
    assert record.finish_reason == "length"
    assert "cut off at max_tokens" in record.error
    assert s.runtime.summary()[0]["truncated"] == 1


def test_a_429_does_not_collapse_throughput(server, session):
    server.latency = 0.1
    s = session(models={"m": {"max_parallel_requests": 4}})
    server.enqueue(Reply.error(429, "busy", retry_after=0.5, delay=0))
    rows = s.rows("SELECT llm('q' || i) FROM range(20) t(i)")
    assert all(r[0] is not None for r in rows)
    # the 429 delays one call by 0.5 s, not the others: while it waits it holds no slot, so
    # the server has all 4 slots' requests in flight at once
    refused = server.requests[0]
    retry = next(r for r in server.requests[1:] if r.prompt == refused.prompt)
    assert retry.started - refused.finished >= 0.5  # Retry-After honoured
    waiting = [r for r in server.requests if refused.finished <= r.started < retry.started]
    overlapping = max(sum(1 for o in waiting if o.started <= r.started < o.finished) for r in waiting)
    assert overlapping == 4


def test_an_unreachable_provider_fails_fast_and_keeps_every_row(tmp_path):
    """Nothing listens at the base URL: after a few connection failures in a row the provider
    is taken as down; every row is kept with NULL and a logged error, in seconds rather than
    a minute of backoff per call."""
    import socket

    import tracesql
    from tracesql.llm.config import LLMConfig, LLMSettings, ModelConfig, ProviderConfig
    from tracesql.llm.lanes import UNREACHABLE_LIMIT

    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = LLMConfig(
        providers={"dead": ProviderConfig(base_url=f"http://127.0.0.1:{port}/v1")},
        models={"m": ModelConfig(provider="dead", model="x", max_parallel_requests=4)},
        settings=LLMSettings(cache_path=str(tmp_path / "cache.sqlite"), max_retries=6, backoff_initial=1.0),
    )
    with tracesql.connect(llm_config=config) as con:
        rows = con.execute("SELECT i, llm('q ' || i) FROM range(40) t(i) ORDER BY i").fetchall()
        log = con.session.llm.call_log()
    assert [r[0] for r in rows] == list(range(40)) and all(r[1] is None for r in rows)
    # without the breaker: 7 attempts per request (1+2+4+8+16+32 s of backoff), 280 in all
    connection_errors = [r for r in log if r.error and r.error.startswith("connection error")]
    assert UNREACHABLE_LIMIT <= len(connection_errors) < 40
    fast_failed = {r.request_hash for r in log if r.error and "unreachable" in r.error}
    assert len(fast_failed) >= 40 - len(connection_errors)
