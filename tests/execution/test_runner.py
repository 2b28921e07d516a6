"""The runner: ordering, skipping, incremental work counted by a Python UDF, dry runs,
the connection and LLM-runtime contracts, data-test outcomes."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tests.conftest import error_lines, invoke, node_results, seed_raw_source, write_files
from tracesql import connection
from tracesql.compile.loading import load_project
from tracesql.errors import LLMNotConfigured, ReaderError
from tracesql.execution.runner import RunRequest, execute, open_for_run, run


@pytest.fixture
def hook(monkeypatch):
    """Register one more SQL function on every connection tracesql opens, for one test."""

    def install(function, names=()):
        configure, known = connection.configure_connection, connection.python_sql_names

        def configure_with(con, options):
            session = configure(con, options)
            function(con, session, options)
            return session

        monkeypatch.setattr(connection, "configure_connection", configure_with)
        monkeypatch.setattr(connection, "python_sql_names", lambda: known() | set(names))

    return install


def counting_udf(calls: list[int]):
    def register(con, session, options):
        def count_me(value):
            calls.append(value)
            return value

        con.create_function("count_me", count_me, ["BIGINT"], "BIGINT", side_effects=True)

    return register


def test_second_incremental_run_calls_the_udf_only_for_new_rows(project: Path, hook):
    calls: list[int] = []
    hook(counting_udf(calls), {"count_me"})
    write_files(
        project,
        {
            "models/scored.sql": """
        {{ config(materialized='incremental', unique_key='id') }}
        select id, count_me(id) as score from {{ ref('raw_events') }}
        {% if is_incremental() %} where id > (select max(id) from {{ this }}) {% endif %}
    """
        },
    )
    first = invoke(project, "run", "-s", "+scored")
    assert first.exit_code == 0, first.output
    assert sorted(calls) == list(range(10))
    calls.clear()
    seed_raw_source(project, range(10, 13))
    second = invoke(project, "run", "-s", "+scored")
    assert second.exit_code == 0, second.output
    assert sorted(calls) == [10, 11, 12]  # the UDF saw the three new rows, nothing else
    assert "merged 3 rows (0 replaced)" in second.stdout


def test_model_calling_a_python_function_defaults_to_table(project: Path, hook):
    hook(counting_udf([]), {"count_me"})
    write_files(project, {"models/scored.sql": "select count_me(id) as s from {{ ref('raw_events') }}"})
    result = invoke(project, "run", "-s", "+scored")
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(project / "dev.duckdb"), read_only=True)
    kind = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = 'scored'"
    ).fetchall()
    con.close()
    assert kind == [("BASE TABLE",)]


def test_connection_options_contract(project: Path, hook):
    seen: list[connection.ConnectionOptions] = []
    hook(lambda con, session, options: seen.append(options))
    write_files(
        project,
        {
            "profiles.yml": """
        targets: {dev: {database: dev.duckdb}}
        vars: {min_id: 2}
        providers: {local: {base_url: "http://127.0.0.1:9/v1"}}
        models: {default: {provider: local, model: tiny}}
        llm: {max_error_rate: fail}
    """
        },
    )
    result = invoke(project, "run", "-s", "raw_events", "--max-calls", "5", "--no-cache", "--vars", "{x: 1}")
    assert result.exit_code == 0, result.output
    options = seen[-1]
    assert options.project_dir == str(project)
    assert options.target_dir == str(project / "target")
    llm = options.llm_config
    assert llm is not None and set(llm.providers) == {"nvidia", "openai", "local"}
    assert llm.models["default"].model == "tiny" and llm.settings.max_error_rate == "fail"
    run_options = options.run_options
    assert (
        run_options.dry_run,
        run_options.refresh_cache,
        run_options.no_cache,
        run_options.max_calls,
        run_options.max_tokens,
    ) == (False, False, True, 5, None)
    assert callable(run_options.progress)


class FakeLLM:
    """Stands in for the LLM runtime of the session (`session.llm`); records the engine's calls."""

    def __init__(self, not_configured: set[str]):
        self.events: list[tuple] = []
        self.not_configured = not_configured

    def begin_model(self, name):
        self.events.append(("begin", name))

    def end_model(self):
        self.events.append(("end",))

    def flush_call_log(self, con):
        self.events.append(("flush",))

    def check_configured(self, aliases):
        if any(alias in self.not_configured for alias in aliases):
            raise LLMNotConfigured(
                "LLM model 'default' needs an API key: set the environment variable NVIDIA_API_KEY"
            )

    max_error_rate = 0.0

    def pop_error(self):
        return None

    def answers_received(self):
        return 0

    def tally(self, name):
        from tracesql.llm.stats import ModelTally

        return ModelTally()

    def close(self):
        self.events.append(("close",))

    def summary(self):
        return [
            {
                "model_alias": "default",
                "calls": 3,
                "cache_hits": 1,
                "errors": 0,
                "input_tokens": 30,
                "output_tokens": 12,
                "cost_usd": 0.001,
            }
        ]


def test_llm_runtime_contract_and_not_configured_skips(project: Path, hook):
    fakes: list[FakeLLM] = []

    def install(con, session, options):
        fakes.append(FakeLLM({"openai:needs-llm"}))
        session.llm.close()
        session.llm = fakes[-1]

    hook(install)
    write_files(
        project,
        {
            "models/judged.sql": "select id, llm('x', model := 'openai:needs-llm') as marker from {{ ref('raw_events') }}",
            "models/after_judged.sql": "select * from {{ ref('judged') }}",
        },
    )
    result = invoke(project, "run")
    assert result.exit_code == 0, result.output  # not configured: skipped, not failed
    events = fakes[-1].events
    assert ("begin", "raw_events") in events and events[events.index(("begin", "raw_events")) + 1 :][:2] == [
        ("end",),
        ("flush",),
    ]
    assert ("begin", "judged") not in events  # checked before any call
    statuses = {r["name"]: (r["status"], r["message"]) for r in node_results(project)}
    assert statuses["judged"] == (
        "skipped",
        "skipped: LLM model 'default' needs an API key: set the environment variable NVIDIA_API_KEY",
    )
    assert statuses["after_judged"] == ("skipped", "skipped: upstream model 'judged' was skipped")
    assert (
        "Warning: skipped model judged, models/judged.sql: LLM model 'default' needs an API key"
        in result.stderr
    )
    llm = json.loads((project / "target/llm_summary.json").read_text())["llm"]
    assert llm == fakes[-1].summary()
    assert "LLM calls:" in result.stdout and "│ default     │     3 │          1 │      0 │" in result.stdout


def test_error_recorded_by_a_udf_is_preferred(project: Path, hook):
    def install(con, session, options):
        def explode(value):
            session.scans.last_error = ReaderError("bad trace line", path="/traces/a.jsonl", line=3)
            raise session.scans.last_error

        con.create_function("explode", explode, ["BIGINT"], "BIGINT", side_effects=True)

    hook(install, {"explode"})
    write_files(project, {"models/boom.sql": "select explode(id) from {{ ref('raw_events') }}"})
    result = invoke(project, "run", "-s", "+boom")
    assert result.exit_code == 1
    assert error_lines(result) == ["Error: model boom, /traces/a.jsonl:3: bad trace line"]


def test_fail_fast_skips_everything_after_a_failure(project: Path):
    write_files(project, {"models/aaa_bad.sql": "select * from not_a_table"})
    result = invoke(project, "run", "--fail-fast")
    assert result.exit_code == 1
    statuses = {r["name"]: r["status"] for r in node_results(project)}
    assert statuses["aaa_bad"] == "error"
    assert [s for n, s in statuses.items() if n != "aaa_bad" and n != "raw_events"] == ["skipped"] * 3


def test_compile_errors_are_counted_before_anything_runs(project: Path):
    write_files(project, {"models/x1.sql": "select (", "models/x2.sql": "select )"})
    result = invoke(project, "run")
    assert result.exit_code == 1
    [line] = error_lines(result)
    assert line.endswith("(and 1 more failing to compile: x2)")
    assert line.startswith("Error: model x1, models/x1.sql:1:")
    assert (project / "target/compiled/models/x1.sql").read_text() == "select (\n"


def test_warn_severity_custom_macro_test_and_singular_test(project: Path):
    write_files(
        project,
        {
            "macros/tests.sql": "{% macro test_positive(model, column_name) %}select * from {{ model }} where {{ column_name }} < 0{% endmacro %}",
            "models/extra.yml": """
            models:
              - name: kinds
                columns:
                  - name: n
                    data_tests:
                      - positive
                      - accepted_values: {values: [4], quote: false, config: {severity: warn}}
                      - not_null: {config: {where: "kind = 'a'"}}
        """,
            "data_tests/no_big_ids.sql": "select * from {{ ref('kinds') }} where n > 3",
        },
    )
    result = invoke(project, "build")
    assert result.exit_code == 1, result.output
    outcome = {
        r["name"]: (r["status"], r["rows"]) for r in node_results(project) if r["resource_type"] == "test"
    }
    assert outcome["positive_kinds_n"] == ("pass", 0)
    assert outcome["accepted_values_kinds_n"] == ("warn", 1)  # one value (3) outside the list
    assert outcome["not_null_kinds_n"] == ("pass", 0)
    assert outcome["no_big_ids"] == ("fail", 1)
    assert "Warning in data test accepted_values_kinds_n (models/extra.yml): 1 failing row" in result.stdout


def test_unknown_generic_test_names_the_yaml_line(project: Path):
    write_files(
        project,
        {
            "models/extra.yml": "models:\n  - name: kinds\n    columns:\n      - name: n\n        data_tests: [positiv]\n"
        },
    )
    result = invoke(project, "ls")
    assert error_lines(result) == [
        "Error: model kinds, models/extra.yml:5: unknown data test 'positiv' (built in: accepted_values, not_null, "
        "relationships, unique; or define a macro test_positiv(model, column_name) in macros/)"
    ]


def test_scratch_run_with_row_limit_writes_nothing(project: Path):
    proj = load_project(project)
    results = run(proj, RunRequest(scratch=True, row_limit=2))
    assert not results.failed
    rows = {r.name: r.rows for r in results.results}
    assert rows["raw_events"] == 2 and rows["kinds"] is not None
    con = duckdb.connect(str(project / "dev.duckdb"), read_only=True)
    tables = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_name <> 'llm_calls'"
    ).fetchall()
    con.close()
    assert tables == [("raw_source",)]
    assert not (project / "target/run_results.json").exists()


def test_preview_reads_the_scratch_tables_before_closing(project: Path):
    proj = load_project(project)
    request = RunRequest(scratch=True, row_limit=3, select=("+stg_events",))
    with open_for_run(proj, request) as con:
        results = execute(proj, request, con)
        assert [r.name for r in results.results] == ["raw_events", "stg_events"]
        assert con.execute("SELECT count(*), max(doubled) FROM stg_events").fetchall() == [(3, 4)]
    assert con.closed


def test_dry_run_sees_existing_tables_for_incremental_models(project: Path):
    assert invoke(project, "run").exit_code == 0
    seed_raw_source(project, range(10, 12))
    result = invoke(project, "run", "--dry-run", "-s", "+events_incr")
    assert result.exit_code == 0, result.output
    assert "would add 2 new rows" in result.stdout
    con = duckdb.connect(str(project / "dev.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM events_incr").fetchall() == [(10,)]
    con.close()


def test_public_api_run(project: Path):
    import tracesql

    results = tracesql.run(str(project), select=("+kinds",))
    assert [r.name for r in results.results] == ["raw_events", "stg_events", "kinds"]
    with tracesql.connect(project=str(project)) as con:
        assert isinstance(con, tracesql.Connection)
        assert con.execute("SELECT count(*) FROM kinds").fetchall() == [(3,)]
