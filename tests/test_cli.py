"""The `tracesql` command on real temp projects, through click's test runner."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from tests.conftest import error_lines, invoke, node_results, seed_raw_source, write_files
from tracesql import __version__
from tracesql.cli import main

NOT_LLM_LOG = "table_name <> 'llm_calls'"  # the LLM layer's call log may be there too


def db_rows(root: Path, sql: str, database: str = "dev.duckdb") -> list[tuple]:
    con = duckdb.connect(str(root / database), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_every_command_has_help():
    runner = CliRunner()
    top = runner.invoke(main, ["--help"])
    assert top.exit_code == 0
    commands = sorted(main.commands)
    assert set(commands) >= {
        "run",
        "build",
        "test",
        "compile",
        "ls",
        "show",
        "query",
        "clean",
        "debug",
        "init",
    }
    for name in commands:
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, name
        assert main.commands[name].help, f"{name} has no help text"
        assert main.commands[name].help.split("\n")[0] in " ".join(result.output.split())


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"tracesql, version {__version__}"


def test_run_builds_views_tables_and_incremental_then_plain_duckdb_opens_them(project: Path):
    result = invoke(project, "run")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if " of 4 " in line]
    assert len(lines) == 4
    assert any(
        "OK" in line and "raw_events" in line and "10 rows" in line and "table" in line for line in lines
    )
    assert any("stg_events" in line and "view" in line and "created" in line for line in lines)
    assert "Finished in" in result.stdout and "4 ok" in result.stdout
    # The database file opens in plain DuckDB, with the models there.
    tables = dict(
        db_rows(project, f"SELECT table_name, table_type FROM information_schema.tables WHERE {NOT_LLM_LOG}")
    )
    assert tables == {
        "raw_source": "BASE TABLE",
        "raw_events": "BASE TABLE",
        "stg_events": "VIEW",
        "kinds": "BASE TABLE",
        "events_incr": "BASE TABLE",
    }
    assert db_rows(project, "SELECT sum(doubled) FROM stg_events") == [(90,)]  # the macro doubled ids 0..9
    assert db_rows(project, "SELECT kind, n FROM kinds ORDER BY kind") == [("a", 4), ("b", 3), ("c", 3)]
    by_name = {r["name"]: r for r in node_results(project)}
    assert {r["status"] for r in by_name.values()} == {"success"}
    assert by_name["raw_events"]["rows"] == 10 and by_name["raw_events"]["status"] == "success"
    assert by_name["stg_events"]["materialized"] == "view"
    manifest = json.loads((project / "target/manifest.json").read_text())
    assert manifest["nodes"]["model.proj.kinds"]["depends_on"]["nodes"] == ["model.proj.stg_events"]
    assert manifest["nodes"]["model.proj.kinds"]["tags"] == ["report"]
    assert (
        (project / "target/compiled/models/staging/stg_events.sql")
        .read_text()
        .startswith('select id, kind, (id * 2) as doubled\nfrom "raw_events"')
    )


def test_incremental_second_run_processes_only_new_rows(project: Path):
    assert invoke(project, "run").exit_code == 0
    seed_raw_source(project, range(10, 13))
    result = invoke(project, "run", "-s", "+events_incr")
    assert result.exit_code == 0, result.output
    assert "inserted 3 rows" in result.stdout
    assert db_rows(project, "SELECT count(*), count(DISTINCT id), max(id) FROM events_incr") == [(13, 13, 12)]
    rows = {r["name"]: r for r in node_results(project)}
    assert rows["events_incr"]["rows"] == 3
    # --full-refresh rebuilds from every row
    result = invoke(project, "run", "-s", "events_incr", "--full-refresh")
    assert "rebuilt (full refresh)" in result.stdout
    assert db_rows(project, "SELECT count(*) FROM events_incr") == [(13,)]


def test_build_runs_data_tests_and_reports_failures(project: Path):
    seed_raw_source(project, range(3, 4))  # a duplicate id 3
    result = invoke(project, "build")
    assert result.exit_code == 1
    out = result.stdout
    assert "PASS" in out and "not_null_stg_events_id" in out
    assert "FAIL" in out and "unique_stg_events_id" in out
    assert "Failure in data test unique_stg_events_id (models/schema.yml): 1 failing row" in out
    # The failing rows are shown: id 3 appears twice.
    table_lines = [line for line in out.splitlines() if line.startswith("│")]
    assert any("│            3 │         2 │" in line for line in table_lines), out
    # Models downstream of the tested model are skipped, the others were built.
    assert "skipped: upstream data test 'unique_stg_events_id' failed" in out
    statuses = {r["name"]: r["status"] for r in node_results(project)}
    assert statuses["kinds"] == "skipped" and statuses["events_incr"] == "skipped"
    assert statuses["raw_events"] == "success" and statuses["accepted_values_stg_events_kind"] == "pass"


def test_test_command_runs_tests_on_built_models(project: Path):
    assert invoke(project, "run").exit_code == 0
    result = invoke(project, "test")
    assert result.exit_code == 0, result.output
    assert "Running 3 data tests" in result.stdout
    assert result.stdout.count("PASS") == 3


def test_failed_model_skips_descendants_others_go_on(project: Path):
    write_files(
        project, {"models/kinds.sql": "select kind, count(*) as n from {{ ref('stg_events') }} group by nope"}
    )
    write_files(project, {"models/after_kinds.sql": "select * from {{ ref('kinds') }}"})
    result = invoke(project, "run")
    assert result.exit_code == 1
    assert "ERROR" in result.stdout and "SKIP" in result.stdout
    errors = error_lines(result)
    assert len(errors) == 1
    assert errors[0].startswith(
        'Error: model kinds, models/kinds.sql:1: Binder Error: Referenced column "nope" not found'
    )
    statuses = {r["name"]: r["status"] for r in node_results(project)}
    assert statuses == {
        "raw_events": "success",
        "stg_events": "success",
        "kinds": "error",
        "after_kinds": "skipped",
        "events_incr": "success",
    }


def test_syntax_error_names_file_line_and_column_and_nothing_runs(project: Path):
    write_files(project, {"models/bad.sql": "select id,\n  kind\nfrom {{ ref('raw_events') }}\nwhere id >\n"})
    result = invoke(project, "run")
    assert result.exit_code == 1
    assert error_lines(result) == [
        'Error: model bad, models/bad.sql:4:10: SQL syntax error: syntax error at or near ">"'
    ]
    assert not (project / "target/run_results.json").exists()
    assert db_rows(project, f"SELECT table_name FROM information_schema.tables WHERE {NOT_LLM_LOG}") == [
        ("raw_source",)
    ]


def test_syntax_error_mid_line(project: Path):
    write_files(project, {"models/bad.sql": "select id\nfrom {{ ref('raw_events') }}\nwhere id = = 3\n"})
    result = invoke(project, "compile")
    assert error_lines(result) == [
        'Error: model bad, models/bad.sql:3:12: SQL syntax error: syntax error at or near "="'
    ]


def test_cycle_is_an_error_naming_models_and_files(project: Path):
    write_files(
        project,
        {
            "models/a.sql": "select * from {{ ref('b') }}",
            "models/b.sql": "select * from {{ ref('a') }}",
        },
    )
    result = invoke(project, "run")
    assert result.exit_code == 1
    assert error_lines(result) == [
        "Error: cycle in the model graph: model 'a' (models/a.sql) -> model 'b' (models/b.sql) -> model 'a' (models/a.sql)"
    ]


def test_missing_ref_is_an_error_with_a_suggestion(project: Path):
    write_files(project, {"models/report.sql": "select * from {{ ref('kinsd') }}"})
    result = invoke(project, "ls")
    assert result.exit_code == 1
    assert error_lines(result) == [
        "Error: model 'report' (models/report.sql) refs 'kinsd', which is not a model (did you mean 'kinds'?)"
    ]


def test_unknown_config_key_in_profiles(project: Path):
    write_files(project, {"profiles.yml": "target: dev\ntargets:\n  dev:\n    databse: x.duckdb\n"})
    result = invoke(project, "run")
    assert result.exit_code == 1
    assert error_lines(result) == [f"Error: {project / 'profiles.yml'}:4: unknown key 'targets.dev.databse'"]


def test_unknown_model_config_key(project: Path):
    write_files(project, {"models/kinds.sql": "-- kinds\n{{ config(materialised='table') }}\nselect 1 as x"})
    result = invoke(project, "compile")
    assert result.exit_code == 1
    [line] = error_lines(result)
    assert line.startswith(
        "Error: model kinds, models/kinds.sql:2: config(): unknown key 'materialised' (known: materialized,"
    )


def test_debug_flag_shows_the_traceback(project: Path):
    write_files(project, {"models/report.sql": "select * from {{ ref('nope') }}"})
    result = invoke(project, "ls", "--debug")
    assert result.exit_code == 1
    assert result.exception is not None and type(result.exception).__name__ == "GraphError"


def test_select_and_exclude_with_graph_operators(project: Path):
    result = invoke(project, "ls", "-s", "stg_events+", "--exclude", "events_incr", "-o", "name")
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["stg_events", "kinds"]
    result = invoke(project, "ls", "-s", "+kinds", "-o", "name")
    assert result.stdout.split() == ["raw_events", "stg_events", "kinds"]
    result = invoke(project, "ls", "-s", "tag:report tag:raw", "-o", "name")
    assert result.stdout.split() == ["raw_events", "kinds"]
    result = invoke(project, "ls", "-s", "models/staging", "-o", "name")
    assert result.stdout.split() == ["stg_events"]
    result = invoke(project, "run", "-s", "+kinds", "--exclude", "raw_events")
    assert result.exit_code == 1  # raw_events was never built, so stg_events cannot be created
    assert "Running 2 models" in result.stdout


def test_ls_shows_materialization_tags_parents(project: Path):
    result = invoke(project, "ls")
    assert result.exit_code == 0, result.output
    rows = [
        [c.strip() for c in line.strip("│").split("│")]
        for line in result.stdout.splitlines()
        if line.startswith("│")
    ]
    assert rows[0] == ["name", "materialized", "tags", "parents", "path"]
    assert ["kinds", "table", "report", "stg_events", "models/kinds.sql"] in rows
    assert ["stg_events", "view", "", "raw_events", "models/staging/stg_events.sql"] in rows
    result = invoke(project, "ls", "--resource-type", "test", "-o", "name")
    assert result.stdout.split() == [
        "accepted_values_stg_events_kind",
        "not_null_stg_events_id",
        "unique_stg_events_id",
    ]


def test_compile_prints_one_model_and_writes_files(project: Path):
    result = invoke(project, "compile", "-s", "events_incr")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == 'select id, kind from "stg_events"'
    assert "Compiled 1 model and 0 data tests to target/compiled/" in result.stderr
    assert (project / "target/compiled/models/events_incr.sql").exists()
    # Once the table exists, is_incremental() is true and the filter appears.
    assert invoke(project, "run").exit_code == 0
    result = invoke(project, "compile", "-s", "events_incr")
    assert 'where id > (select max(id) from "events_incr")' in result.stdout


def test_show_model_and_sql(project: Path):
    assert invoke(project, "run").exit_code == 0
    result = invoke(project, "show", "kinds", "--limit", "2")
    assert result.exit_code == 0, result.output
    assert "first 2 rows shown; more exist" in result.stdout
    result = invoke(
        project, "show", "select kind, n from {{ ref('kinds') }} order by n desc, kind", "--format", "csv"
    )
    assert result.stdout.splitlines() == ["kind,n", "a,4", "b,3", "c,3"]
    result = invoke(project, "show", "kindz")
    assert result.exit_code == 1
    assert error_lines(result) == [
        "Error: no model named 'kindz' (did you mean 'kinds'?); give a model name or a SELECT query"
    ]
    result = invoke(project, "show", "select nope from {{ ref('kinds') }}")
    assert error_lines(result)[0].startswith('Error: Binder Error: Referenced column "nope" not found')


def test_query_runs_sql_with_readers_registered(project: Path):
    assert invoke(project, "run").exit_code == 0
    result = invoke(project, "query", "select count(*) as n from stg_events", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"n": 10}]
    # the readers are there: a table macro over an empty folder
    empty = project / "no_traces"
    empty.mkdir()
    result = invoke(
        project, "query", f"select count(*) as n from claude_code_traces('{empty}')", "--format", "jsonl"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"n": 0}
    result = invoke(project, "query", "select * from missing_table")
    assert error_lines(result)[0].startswith(
        "Error: Catalog Error: Table with name missing_table does not exist"
    )


def test_target_and_vars(project: Path):
    seed_raw_source(project, range(0, 10), database="target/ci.duckdb")
    result = invoke(project, "run", "--target", "ci", "-s", "+stg_events")
    assert result.exit_code == 0, result.output
    assert db_rows(project, "SELECT count(*) FROM stg_events", "target/ci.duckdb") == [
        (5,)
    ]  # ci vars: min_id 5
    result = invoke(project, "run", "--target", "ci", "-s", "stg_events", "--vars", "{min_id: 8}")
    assert db_rows(project, "SELECT count(*) FROM stg_events", "target/ci.duckdb") == [(2,)]
    result = invoke(project, "run", "--target", "prod")
    assert error_lines(result) == [
        f"Error: {project / 'profiles.yml'}: target 'prod' is not defined (targets: ci, dev)"
    ]


def test_profiles_dir(project: Path, tmp_path: Path):
    other = write_files(
        tmp_path / "elsewhere", {"profiles.yml": "targets:\n  dev: {database: other.duckdb}\n"}
    )
    result = invoke(project, "debug", "--profiles-dir", str(other))
    assert result.exit_code == 0, result.output
    assert str(project / "other.duckdb") in result.stdout
    result = invoke(project, "debug", "--profiles-dir", str(tmp_path / "missing"))
    assert error_lines(result) == [f"Error: no profiles.yml in --profiles-dir {tmp_path / 'missing'}"]


def test_debug_never_prints_keys(project: Path):
    result = invoke(project, "debug", env={"NVIDIA_API_KEY": "sk-very-secret", "OPENAI_API_KEY": ""})
    assert result.exit_code == 0, result.output
    assert "sk-very-secret" not in result.output
    nvidia = next(line for line in result.stdout.splitlines() if "│ nvidia" in line)
    openai = next(line for line in result.stdout.splitlines() if "│ openai" in line)
    assert "NVIDIA_API_KEY" in nvidia and "│ set" in nvidia
    assert "│ missing" in openai


def test_clean_removes_target(project: Path):
    assert invoke(project, "compile").exit_code == 0
    assert (project / "target").is_dir()
    result = invoke(project, "clean")
    assert result.exit_code == 0
    assert not (project / "target").exists()
    assert (project / "dev.duckdb").exists()


def test_clean_keeps_the_llm_cache(project: Path):
    assert invoke(project, "compile").exit_code == 0
    (project / "target" / "llm_cache.sqlite").write_bytes(b"answers that were paid for")
    (project / "target" / "llm_cache.sqlite-wal").write_bytes(b"")
    (project / "target" / "llm_calls.sqlite").write_bytes(b"what they cost")
    assert invoke(project, "clean").exit_code == 0
    assert sorted(p.name for p in (project / "target").iterdir()) == [
        "llm_cache.sqlite",
        "llm_cache.sqlite-wal",
        "llm_calls.sqlite",
    ]


def test_init_creates_a_project_that_compiles(tmp_path: Path):
    result = CliRunner().invoke(main, ["init", str(tmp_path / "new")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "new/models/sessions.sql").exists()
    listing = invoke(tmp_path / "new", "ls", "-o", "name")
    assert listing.exit_code == 0, listing.output
    assert listing.stdout.split() == ["sessions", "daily_activity"]
    tables = invoke(tmp_path / "new", "ls")
    assert "│ sessions       │ table" in tables.stdout  # reads a trace reader: a table by default
    again = CliRunner().invoke(main, ["init", str(tmp_path / "new")])
    assert again.exit_code == 1
    assert "already has a models/ folder" in again.stderr


def test_no_project_folder(tmp_path: Path):
    result = invoke(tmp_path, "run")
    assert result.exit_code == 1
    assert error_lines(result) == [
        f"Error: no models/ folder in {tmp_path}: run tracesql in a project folder, pass --project-dir, "
        "or create one with `tracesql init`"
    ]


@pytest.mark.parametrize("command", ["run", "build"])
def test_dry_run_writes_nothing(project: Path, command: str):
    result = invoke(project, command, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Dry run" in result.stdout
    assert not (project / "target/run_results.json").exists()
    assert db_rows(project, f"SELECT table_name FROM information_schema.tables WHERE {NOT_LLM_LOG}") == [
        ("raw_source",)
    ]


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["run", "--help"]])
def test_help_and_version_load_neither_duckdb_nor_openai_nor_pyarrow(args):
    """`tracesql --help` stays fast: the heavy libraries load when a command needs them."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from tracesql.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "print(sorted(m for m in ('duckdb', 'openai', 'pyarrow') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


# What `tracesql query "select 1"` needs no part of: the LLM client, runtime and prompts,
# project loading (pydantic, YAML, Jinja), SQL compilation (sqlglot), Spark, the readers'
# parsing and scanning, the detector, and progress bars.
NOT_FOR_A_PLAIN_QUERY = (
    "openai",
    "jsonschema",
    "re2",
    "sqlglot",
    "jinja2",
    "pydantic",
    "yaml",
    "pyspark",
    "rich.live",
    "rich.progress",
    "pyarrow.compute",
    "pyarrow.parquet",
    "tracesql.llm.runtime",
    "tracesql.llm.client",
    "tracesql.llm.config",
    "tracesql.project.settings",
    "tracesql.compile.compiler",
    "tracesql.spark.engine",
    "tracesql.readers.scan",
    "tracesql.readers.claude_code",
    "tracesql.secrets.detector",
)


def test_a_plain_query_loads_no_llm_client_project_loading_compiler_or_reader(tmp_path: Path):
    """`tracesql query "select 1"` outside a project starts fast (bench/startup.py): the
    LLM functions and the readers are registered, their modules load at the first use."""
    import subprocess
    import sys

    def query(sql: str) -> list[str]:
        script = (
            "import sys\n"
            "from tracesql.cli import main\n"
            f"try:\n    main(['query', {sql!r}, '--format', 'csv'])\n"
            "except SystemExit as exit:\n    assert not exit.code, exit.code\n"
            f"print(sorted(m for m in {NOT_FOR_A_PLAIN_QUERY!r} if m in sys.modules))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    assert query("select 41 + 1 AS answer") == ["answer", "42", "[]"]
    # the functions are registered all the same, and load what they need when called
    lines = query("select llm_render('hi {{ x }}', vars := {x: 42}) AS answer")
    assert lines[:2] == ["answer", "hi 42"]
    assert "jinja2" in lines[-1]


def test_the_not_built_hint_is_a_command_that_works(project: Path):
    shown = invoke(project, "show", "kinds", "--record", "1")
    assert shown.exit_code == 1
    hint = re.search(r"run `(tracesql [^`]+)` first", shown.stderr)
    assert hint is not None, shown.stderr
    _, command, *args = shlex.split(hint.group(1))
    assert invoke(project, command, *args).exit_code == 0
    assert invoke(project, "show", "kinds", "--record", "1").exit_code == 0


def test_unknown_vars_are_warned_with_a_suggestion(project: Path):
    write_files(
        project, {"macros/extra.sql": "{% macro lim() %}{{ var_literal('row_cap', 5) }}{% endmacro %}"}
    )
    result = invoke(project, "run", "-s", "raw_events", "--vars", "{min_idd: 3, row_cap: 2, min_id: 1}")
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: --vars")]
    assert warnings == [
        "Warning: --vars: no model or macro uses the var 'min_idd' and profiles.yml does not declare it "
        "(did you mean 'min_id'?)"
    ]


def test_record_shows_null_and_escapes_control_characters(project: Path):
    write_files(
        project,
        {
            "models/odd.sql": "{{ config(materialized='table') }} select NULL::varchar as nothing, "
            "'red' || chr(27) || '[31m' || chr(7) || 'x' || chr(8238) as text, 'a' || chr(10) || 'b' as two"
        },
    )
    assert invoke(project, "run", "-s", "odd").exit_code == 0
    shown = invoke(project, "show", "odd", "--record", "1")
    assert shown.exit_code == 0
    assert "nothing : NULL" in shown.stdout
    assert "text    : red\\x1b[31m\\x07x\\u202e" in shown.stdout
    assert "two     : a\nb" in shown.stdout
    table = invoke(project, "show", "odd")
    assert "\x1b" not in table.stdout and "\\x1b[31m" in table.stdout and "NULL" in table.stdout
