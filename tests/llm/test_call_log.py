"""The call log: one row per attempt or cache hit, `llm_calls` after a run, the live
`llm_call_log()` table, per-model totals with cost."""

from __future__ import annotations

from tests.llm.fake_server import Reply


def test_flush_writes_llm_calls_once_per_row(server, session, tmp_path):
    s = session(
        database=str(tmp_path / "db.duckdb"),
        models={"m": {"input_price_per_mtok": 2.0, "output_price_per_mtok": 8.0}},
    )
    server.enqueue(Reply.error(500, "oops"), Reply.text("a", usage=(100, 20)))
    s.runtime.begin_model("summaries")
    s.rows("SELECT llm('x')")
    s.runtime.end_model()
    assert s.runtime.flush_call_log(s.con) == 2
    rows = s.rows(
        "SELECT project_model, model_alias, provider, provider_model, attempt, cache_hit, status_code, "
        "input_tokens, output_tokens, finish_reason, error, cost_usd FROM llm_calls ORDER BY attempt"
    )
    assert rows == [
        ("summaries", "m", "fake", "model-m", 1, False, 500, None, None, None, "HTTP 500: oops", None),
        (
            "summaries",
            "m",
            "fake",
            "model-m",
            2,
            False,
            200,
            100,
            20,
            "stop",
            None,
            (100 * 2.0 + 20 * 8.0) / 1e6,
        ),
    ]
    assert s.value("SELECT count(DISTINCT request_hash) FROM llm_calls") == 1
    assert s.value("SELECT min(latency_ms) > 0 FROM llm_calls")
    s.rows("SELECT llm('x')")  # a cache hit
    assert s.runtime.flush_call_log(s.con) == 1
    assert s.rows("SELECT attempt, cache_hit, cost_usd FROM llm_calls WHERE cache_hit") == [(0, True, 0.0)]
    assert s.value("SELECT typeof(called_at) FROM llm_calls LIMIT 1") == "TIMESTAMP"


def test_live_call_log_table(server, session):
    s = session()
    s.rows("SELECT llm('a'), llm('b')")
    rows = s.rows("SELECT model_alias, cache_hit, status_code FROM llm_call_log() ORDER BY called_at")
    assert rows == [("m", False, 200), ("m", False, 200)]


def test_summary_totals_per_alias(server, session):
    server.default = lambda request: Reply.text("ok", usage=(10, 5))
    s = session(models={"a": {"output_price_per_mtok": 1.0}, "b": {}}, default_model="a")
    s.rows("SELECT llm('1'), llm('2'), llm('3', model := 'b'), llm('1')")
    summary = {d["model_alias"]: d for d in s.runtime.summary()}
    assert summary["a"]["calls"] == 2 and summary["a"]["cache_hits"] == 1
    assert summary["a"]["input_tokens"] == 20 and summary["a"]["output_tokens"] == 10
    assert summary["a"]["cost_usd"] == 10 / 1e6
    assert summary["b"]["calls"] == 1 and summary["b"]["cost_usd"] is None  # no price configured


def test_dry_run_flush_writes_nothing(server, session):
    s = session(dry_run=True)
    s.rows("SELECT llm('q')")
    assert s.runtime.flush_call_log(s.con) == 0
