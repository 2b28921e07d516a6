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


def test_each_value_has_one_final_row_that_joins_to_it(server, session):
    """Re-asks carry the value's request hash, only the row that decided a value is final,
    and a value refused by the budget gets a row of its own: every NULL joins to its reason."""
    server.when("fixed", Reply.text("not json"), times=2)  # then the default: a valid instance
    server.when("broken", Reply.text("never json"))
    ask = "SELECT r.value.a IS NOT NULL, r.request_hash FROM (SELECT llm_response(?, schema := 'STRUCT(a INTEGER)') AS r)"
    s = session(structured_retries=2)
    budget = session(max_calls=0)  # another connection, the same call-log file, still open when s reads it
    answers = {p: s.con.execute(ask, [p]).fetchone() for p in ("fixed", "broken")}
    answers["skipped"] = budget.con.execute(ask, ["skipped"]).fetchone()
    assert {p: ok for p, (ok, _) in answers.items()} == {"fixed": True, "broken": False, "skipped": False}
    log = s.rows("SELECT request_hash, reask, attempt, final, error FROM llm_call_log() ORDER BY call_id")
    assert sum(final for *_, final, _ in log) == len({row[0] for row in log}) == 3
    reasons = {
        p: [error for h, *_, final, error in log if h == hash_ and final] for p, (_, hash_) in answers.items()
    }
    assert reasons["fixed"] == [None]
    assert reasons["broken"][0].startswith("no valid structured answer after 3 tries")
    assert reasons["skipped"] == ["budget reached: max_calls=0"]
    fixed, skipped = answers["fixed"][1], answers["skipped"][1]
    assert [(reask, final) for h, reask, _, final, _ in log if h == fixed] == [
        (0, False),
        (1, False),
        (2, True),
    ]
    assert [(attempt, final) for h, _, attempt, final, _ in log if h == skipped] == [(None, True)]
    s.rows("SELECT llm_struct('fixed', 'STRUCT(a INTEGER)')")  # again, from the cache: the latest final
    again = s.con.execute("SELECT cache_hit FROM llm_call_log() WHERE request_hash = ? AND final", [fixed])
    assert again.fetchall() == [(True,)]
