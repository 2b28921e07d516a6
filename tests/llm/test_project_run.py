"""LLM columns from model files through `tracesql run` and `tracesql query`: chained
structured steps with prompt files, a judge from the Jinja helper, re-runs and full
refreshes served by the cache, dry runs, and a model skipped for a missing key."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import duckdb
from click.testing import CliRunner

from tracesql.cli import main

SCORES = [
    {"name": "groundedness", "description": "supported by the digest?", "options": {"0": "no", "4": "yes"}},
    {"name": "standalone_task", "description": "clear alone?", "options": {"0": "no", "4": "yes"}},
]


def write_project(root: Path, url: str, key_env: str | None = None) -> None:
    (root / "models").mkdir(parents=True)
    (root / "prompts").mkdir()
    provider = {"base_url": url, **({"api_key_env": key_env} if key_env else {})}
    (root / "profiles.yml").write_text(
        json.dumps(
            {
                "providers": {"fake": provider},
                "models": {
                    "writer": {"provider": "fake", "model": "w", "max_parallel_requests": 4},
                    "judge": {"provider": "fake", "model": "j"},
                },
                "llm": {"default_model": "writer", "backoff_initial": 0.01},
            }
        )
    )
    (root / "prompts" / "digest.j2").write_text("Digest this trace: {{ title }}. Ignore {{ '{{' }} tricks.")
    (root / "models" / "traces_in.sql").write_text(
        "{{ config(materialized='table') }}\n"
        "SELECT i AS trace_id, 'trace ' || i || ' {{ not_a_var }}' AS title FROM range(5) t(i)".replace(
            "{{ not_a_var }}", "{{ '{{' }} x }}"
        )
    )
    (root / "models" / "digests.sql").write_text(
        textwrap.dedent("""\
        SELECT trace_id,
               llm_struct({{ prompt_file('digest') }}, 'STRUCT(user_goal VARCHAR, training_value ENUM(''high'', ''medium'', ''low''))',
                          vars := {'title': title}) AS digest
        FROM {{ ref('traces_in') }}
    """)
    )
    (root / "models" / "sft.sql").write_text(
        textwrap.dedent("""\
        {% set scores = %s %}
        SELECT trace_id, digest,
               {{ llm_judge(scores=scores, prompt="'Judge: ' || digest.user_goal", model='judge') }} AS verdict
        FROM {{ ref('digests') }}
    """).replace("%s", json.dumps(SCORES))
    )


def cli(root: Path, *args: str, env: dict | None = None):
    result = CliRunner().invoke(main, [*args, "--project-dir", str(root)], env=env, catch_exceptions=False)
    return result


def test_run_rerun_full_refresh_and_query(server, tmp_path):
    root = tmp_path / "proj"
    write_project(root, server.url)
    first = cli(root, "run")
    assert first.exit_code == 0, first.output
    assert len(server.requests) == 10  # 5 digests + 5 judgements
    prompts = [r.prompt for r in server.requests if r.body["model"] == "w"]
    assert "Digest this trace: trace 0 {{ x }}. Ignore {{ tricks." in prompts  # row text stays literal
    assert "writer" in first.output and "judge" in first.output  # the per-model summary

    con = duckdb.connect(str(root / "tracesql.duckdb"), read_only=True)
    kinds = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'sft'"
        ).fetchall()
    )
    verdicts = con.execute("SELECT verdict.groundedness.score FROM sft").fetchall()
    calls = con.execute("SELECT count(*), count(DISTINCT project_model) FROM llm_calls").fetchone()
    con.close()
    assert kinds["verdict"] == (
        "STRUCT(groundedness STRUCT(score INTEGER, reasoning VARCHAR), "
        "standalone_task STRUCT(score INTEGER, reasoning VARCHAR))"
    )
    assert kinds["digest"].startswith("STRUCT(user_goal VARCHAR, training_value ENUM(")
    assert {v for (v,) in verdicts} <= {0, 4} and len(verdicts) == 5
    assert calls == (10, 2)

    assert cli(root, "run").exit_code == 0
    assert cli(root, "run", "--full-refresh").exit_code == 0
    assert len(server.requests) == 10  # the cache answered both re-runs

    dry = cli(root, "run", "--dry-run", "--refresh-cache")
    assert dry.exit_code == 0, dry.output
    assert len(server.requests) == 10

    query = cli(root, "query", "SELECT llm('ad hoc', model := 'judge') AS answer")
    assert query.exit_code == 0, query.output
    assert "echo: ad hoc" in query.output
    assert server.requests[-1].body["model"] == "j"


def test_model_with_missing_key_is_skipped(server, tmp_path, monkeypatch):
    monkeypatch.delenv("TRACESQL_E2E_KEY", raising=False)
    root = tmp_path / "proj"
    write_project(root, server.url, key_env="TRACESQL_E2E_KEY")
    result = cli(root, "run")
    assert "TRACESQL_E2E_KEY" in result.output
    assert "skipped" in result.output
    assert server.requests == []


def test_max_calls_zero_makes_no_request(server, tmp_path):
    """`--max-calls 0` is a budget of nothing (not "no limit"): every value is NULL and
    counted as skipped by the budget, and the server sees no request."""
    root = tmp_path / "proj"
    write_project(root, server.url)
    result = cli(root, "run", "-s", "+digests", "--max-calls", "0")
    assert result.exit_code == 0, result.output
    assert server.requests == []
    summary = json.loads((root / "target" / "llm_summary.json").read_text())["llm"]
    assert [(s["model_alias"], s["calls"], s["budget_skipped"]) for s in summary] == [("writer", 0, 5)]
    con = duckdb.connect(str(root / "tracesql.duckdb"), read_only=True)
    digests = con.execute("SELECT count(*), count(digest) FROM digests").fetchone()
    con.close()
    assert digests == (5, 0)


def test_llm_calls_are_found_in_the_sql_tree_not_its_text(server, tmp_path):
    """A model that only mentions `llm(` in a string or a comment runs without any LLM
    configured; a real call to an unknown alias is a compile error naming the model file
    and the configured aliases, before anything runs."""
    root = tmp_path / "proj"
    (root / "models").mkdir(parents=True)
    (root / "profiles.yml").write_text(
        json.dumps({"providers": {"fake": {"base_url": server.url}}, "models": {}})
    )
    (root / "models" / "notes.sql").write_text(
        "SELECT 'wrap a column in llm(...) to ask a model' AS tip -- e.g. llm(x, model := 'ghost')\n"
    )
    assert cli(root, "run").exit_code == 0
    (root / "models" / "asks.sql").write_text("SELECT llm('q', model := 'ghost') AS answer")
    result = cli(root, "run")
    assert result.exit_code == 1
    assert (
        "Error: model asks, models/asks.sql: unknown LLM model alias 'ghost' (configured aliases: none)"
        in result.output
    )
    assert server.requests == []


def test_llm_calls_is_filled_from_the_call_log(server, tmp_path):
    """`llm_calls` gets every call of the call log: a run's own, and those of an earlier
    `tracesql query`; each request hash has exactly one final row, its latest outcome."""
    root = tmp_path / "proj"
    write_project(root, server.url)
    assert cli(root, "query", "SELECT llm('ad hoc', model := 'judge') AS a").exit_code == 0
    assert cli(root, "run").exit_code == 0
    assert cli(root, "run", "--full-refresh").exit_code == 0  # all from the cache
    con = duckdb.connect(str(root / "tracesql.duckdb"), read_only=True)
    try:
        by_model = dict(con.execute("SELECT project_model, count(*) FROM llm_calls GROUP BY ALL").fetchall())
        finals = con.execute(
            "SELECT count(*) FILTER (final), bool_and(cache_hit) FILTER (final) FROM llm_calls "
            "GROUP BY request_hash"
        ).fetchall()
        ids = con.execute("SELECT count(*), count(DISTINCT (run_id, call_id)) FROM llm_calls").fetchone()
    finally:
        con.close()
    assert by_model == {None: 1, "digests": 10, "sft": 10}
    assert sorted(finals) == [(1, False)] + [(1, True)] * 10  # the ad-hoc call was not asked again
    assert ids == (21, 21)


def test_refresh_cache_asks_again_on_incremental_models(server, tmp_path):
    root = tmp_path / "proj"
    write_project(root, server.url)
    (root / "models" / "digests.sql").write_text(
        "{{ config(materialized='incremental', unique_key='trace_id') }}\n"
        + (root / "models" / "digests.sql").read_text()
        + "{% if is_incremental() %} WHERE trace_id NOT IN (SELECT trace_id FROM {{ this }}) {% endif %}\n"
    )
    assert cli(root, "run", "-s", "+digests").exit_code == 0
    assert cli(root, "run", "-s", "+digests").exit_code == 0
    assert len(server.requests) == 5  # the second run had nothing new to ask
    refreshed = cli(root, "run", "-s", "+digests", "--refresh-cache")
    assert refreshed.exit_code == 0, refreshed.output
    assert len(server.requests) == 10  # every row asked again
