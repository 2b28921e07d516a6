"""Notebooks and ad-hoc queries: `tracesql.connect()` finds the project and opens it
read-only; `tracesql query`/`show` open read-only unless the SQL writes, find the project
from a sub-folder, use memory outside one, and keep per-row prompt templates as written."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

import tracesql
from tests.conftest import seed_raw_source, write_files
from tests.llm.fake_server import FakeLLMServer
from tracesql.cli import main
from tracesql.errors import ConfigError
from tracesql.project.locate import find_project_dir

PROJECT = {
    "profiles.yml": """
        target: dev
        targets:
          dev: {database: dev.duckdb}
        vars: {greeting: hello}
        providers:
          local: {base_url: "{{ env_var('TEST_LLM_URL') }}", api_key_env: TEST_LLM_KEY}
        models:
          local: {provider: local, model: test-model}
    """,
    "macros/util.sql": "{% macro double(col) %}({{ col }} * 2){% endmacro %}\n",
    "models/events.sql": "{{ config(materialized='table') }}\nselect * from raw_source\n",
}


@pytest.fixture
def server(monkeypatch):
    with FakeLLMServer() as fake:
        monkeypatch.setenv("TEST_LLM_URL", fake.url)
        monkeypatch.setenv("TEST_LLM_KEY", "test-key-not-a-secret")
        yield fake


@pytest.fixture
def built(tmp_path: Path, server) -> Path:
    root = write_files(tmp_path / "proj", PROJECT)
    seed_raw_source(root, range(0, 6))
    result = CliRunner().invoke(main, ["run", "--project-dir", str(root)])
    assert result.exit_code == 0, result.output
    return root


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_connect_finds_the_project_from_a_subfolder_and_loads_its_profile(built, server, monkeypatch):
    monkeypatch.chdir(built / "models")
    with tracesql.connect() as con:
        assert con.project.project_dir == built
        assert con.execute("SELECT count(*) FROM events").fetchone() == (6,)
        answer = con.execute("SELECT llm('hi', model := 'local')").fetchone()[0]
        assert answer == "echo: hi" and server.requests[0].body["model"] == "test-model"
        rendered = con.render(
            "SELECT {{ double('id') }} AS d, '{{ var(\"greeting\") }}' AS kept FROM {{ ref('events') }}"
        )
        assert '"events"' in rendered and "(id * 2)" in rendered and "'{{ var(\"greeting\") }}'" in rendered
        assert con.execute(con.render("SELECT '{{ var(\"greeting\") }}'")).fetchone() == (
            '{{ var("greeting") }}',
        )
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("CREATE TABLE t AS SELECT 1")
    with tracesql.connect(read_only=False) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    assert (built / "target" / "llm_cache.sqlite").exists()  # the project's cache, not the user's


def test_connect_outside_a_project_is_plain(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with tracesql.connect() as con:
        assert con.execute("SELECT 42").fetchone() == (42,)
        assert type(con) is tracesql.Connection  # no project attached
    with pytest.raises(ConfigError, match=r"missing\.duckdb does not exist.*read_only=False"):
        tracesql.connect(str(tmp_path / "missing.duckdb"))
    assert not (tmp_path / "missing.duckdb").exists()
    assert list(tmp_path.iterdir()) == []


def test_project_search_stops_at_home(tmp_path):
    home = tmp_path / "home"
    write_files(tmp_path, {"profiles.yml": "target: dev\n", "models/m.sql": "select 1\n"})
    (home / "work" / "deep").mkdir(parents=True)
    assert find_project_dir(home / "work" / "deep", home=home) is None  # the project above home is not used
    assert find_project_dir(home / "work" / "deep", home=tmp_path / "elsewhere") == tmp_path
    write_files(home / "work", {"profiles.yml": "target: dev\n", "models/m.sql": "select 1\n"})
    assert find_project_dir(home / "work" / "deep", home=home) == home / "work"


HOLDER = textwrap.dedent("""
    import sys, tracesql
    con = tracesql.connect(sys.argv[1])
    print(con.execute("SELECT count(*) FROM events").fetchone()[0], flush=True)
    sys.stdin.read()
""")


def test_query_works_beside_an_open_notebook_and_run_names_it(built, monkeypatch):
    monkeypatch.chdir(built)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(built / "dev.duckdb")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=built,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "6"
        shown = cli("query", "SELECT count(*) AS n FROM events", "--format", "jsonl")
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.stdout) == {"n": 6}
        assert cli("show", "events", "--format", "jsonl").exit_code == 0
        run = CliRunner().invoke(main, ["run"])
        assert run.exit_code == 1
        errors = [line for line in run.stderr.splitlines() if line.startswith("Error: ")]
        assert len(errors) == 1 and f"PID {holder.pid}" in errors[0] and "con.close()" in errors[0]
        assert "Traceback" not in run.output
    finally:
        holder.communicate("", timeout=30)
    assert CliRunner().invoke(main, ["run"]).exit_code == 0  # closed: the run can write again


def test_query_opens_read_write_only_when_the_sql_writes(built, monkeypatch):
    monkeypatch.chdir(built / "models")  # a sub-folder: the project root is found
    wrote = cli("query", "CREATE TABLE notes AS SELECT 'x' AS note; SELECT count(*) AS n FROM notes")
    assert wrote.exit_code == 0, wrote.output
    con = duckdb.connect(str(built / "dev.duckdb"), read_only=True)
    assert con.execute("SELECT note FROM notes").fetchall() == [("x",)]
    con.close()
    assert not (built / "models" / "dev.duckdb").exists()
    assert not (built / "models" / "tracesql.duckdb").exists()


def test_query_outside_a_project_is_in_memory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    result = cli("query", "SELECT 42 AS answer", "--format", "jsonl")
    assert result.exit_code == 0 and json.loads(result.stdout) == {"answer": 42}
    assert list(tmp_path.iterdir()) == []  # no tracesql.duckdb, no target/
    missing = CliRunner().invoke(main, ["run"])
    assert missing.exit_code == 1 and "no tracesql project in" in missing.stderr


def test_per_row_templates_stay_for_llm_and_literals_are_not_rendered(built, server, monkeypatch):
    monkeypatch.chdir(built)
    sql = (
        "SELECT llm('Summarize: {{ text }}', model := 'local', vars := {'text': kind}) AS s, "
        "'{{ 7*7 }}' AS lit, {{ var('n', 7) }} AS n, E'it\\'s {{ 1 }}' AS e, "
        "$${{ x }}$$ AS d -- it's a comment {{ 2 }}\n"
        "FROM {{ ref('events') }} ORDER BY id LIMIT 1"
    )
    result = cli("query", sql, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert row == {"s": "echo: Summarize: a", "lit": "{{ 7*7 }}", "n": 7, "e": "it's {{ 1 }}", "d": "{{ x }}"}
    assert "Summarize: a" in server.prompts() and "{{" not in "".join(server.prompts())


def test_a_missing_project_folder_is_named(tmp_path):
    result = CliRunner().invoke(main, ["query", "select 1", "--project-dir", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert f"the project folder {tmp_path / 'nope'} does not exist" in result.stderr
