"""Jinja rendering and SQL checks: ref, source, var, env_var, config, macros, ephemeral CTEs, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write_files
from tracesql.compile.compiler import Compiler, inject_ctes
from tracesql.compile.loading import load_project
from tracesql.errors import CompileError, GraphError, ProjectError
from tracesql.project.nodes import Relation
from tracesql.sqltext import strip_trailing_semicolon


def make(tmp_path: Path, files: dict[str, str], **kwargs):
    write_files(tmp_path, files)
    return load_project(tmp_path, **kwargs)


def compiled_sql(project, name: str, **kwargs) -> str:
    return Compiler(project, **kwargs).compile(project.models[name]).sql


def test_ref_this_var_env_var_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TQ_SUFFIX", "env")
    project = make(
        tmp_path,
        {
            "profiles.yml": "vars: {n: 3}\n",
            "models/a.sql": "select 1 as x",
            "models/b.sql": (
                "select *, '{{ this }}' as me, {{ var('n') }} as n, {{ var('missing', 7) }} as d,\n"
                "'{{ env_var('TQ_SUFFIX') }}' as e, '{{ target.name }}' as t from {{ ref('a') }}"
            ),
        },
    )
    assert compiled_sql(project, "b") == (
        "select *, '\"b\"' as me, 3 as n, 7 as d,\n'env' as e, 'dev' as t from \"a\""
    )
    assert project.models["b"].refs == ["a"]


def test_missing_var_and_env_var_name_the_model_and_line(tmp_path: Path):
    with pytest.raises(CompileError) as info:
        make(tmp_path, {"models/a.sql": "select 1\n, {{ var('nope') }} as x"})
    assert str(info.value).startswith("model a, models/a.sql:2: var('nope') is not set")
    write_files(tmp_path, {"models/a.sql": "select '{{ env_var('TQ_CERTAINLY_UNSET') }}'"})
    with pytest.raises(CompileError, match=r"models/a.sql:1: env_var\('TQ_CERTAINLY_UNSET'\)"):
        load_project(tmp_path)


def test_macros_can_call_ref_and_each_other(tmp_path: Path):
    project = make(
        tmp_path,
        {
            "macros/a.sql": "{% macro from_base() %}{{ ref('base') }}{% endmacro %}",
            "macros/b.sql": "{% macro all_from_base() %}select * from {{ from_base() }}{% endmacro %}",
            "models/base.sql": "select 1 as x",
            "models/user.sql": "{{ all_from_base() }}",
        },
    )
    assert project.models["user"].refs == ["base"]
    assert compiled_sql(project, "user") == 'select * from "base"'


def test_duplicate_macro_and_jinja_errors(tmp_path: Path):
    write_files(
        tmp_path,
        {
            "macros/a.sql": "{% macro m() %}1{% endmacro %}",
            "macros/b.sql": "{% macro m() %}2{% endmacro %}",
            "models/x.sql": "select 1",
        },
    )
    with pytest.raises(
        CompileError, match=r"macros/b.sql: macro 'm' is defined twice: here and in macros/a.sql"
    ):
        load_project(tmp_path)
    write_files(tmp_path, {"macros/b.sql": None, "models/x.sql": "select 1\n{% if %}"})
    with pytest.raises(CompileError) as info:
        load_project(tmp_path)
    assert (
        str(info.value)
        == "model x, models/x.sql:2: Jinja syntax error: Expected an expression, got 'end of statement block'"
    )
    write_files(tmp_path, {"models/x.sql": "select 1\n\n{{ undefined_thing.x }}"})
    with pytest.raises(CompileError, match=r"models/x.sql:3: UndefinedError: 'undefined_thing' is undefined"):
        load_project(tmp_path)


def test_error_inside_a_macro_points_at_the_macro_file(tmp_path: Path):
    write_files(
        tmp_path,
        {
            "macros/m.sql": "{% macro broken() %}\n{{ var('not_there') }}\n{% endmacro %}",
            "models/x.sql": "select {{ broken() }}",
        },
    )
    with pytest.raises(CompileError) as info:
        load_project(tmp_path)
    assert str(info.value).startswith("model x, macros/m.sql:2: var('not_there') is not set")


def test_config_layers_folder_yaml_and_file(tmp_path: Path):
    project = make(
        tmp_path,
        {
            "pyproject.toml": "[tool.tracesql.folders.staging]\nmaterialized = 'table'\ntags = ['stg']\n",
            "models/staging/s1.sql": "select 1 as x",
            "models/staging/s2.sql": "{{ config(materialized='view', tags='mine') }} select 1 as x",
            "models/staging/props.yml": "models:\n  - name: s1\n    config: {tags: [yml], unique_key: x}\n",
            "models/top.sql": "select 1 as x",
        },
    )
    s1, s2, top = (project.models[n] for n in ("s1", "s2", "top"))
    assert (s1.materialized, s1.tags, s1.config.unique_key) == ("table", ["stg", "yml"], "x")
    assert (s2.materialized, s2.tags) == ("view", ["stg", "mine"])
    assert (top.materialized, top.tags) == ("view", [])


def test_bad_config_in_yaml_and_unknown_yaml_key(tmp_path: Path):
    write_files(
        tmp_path,
        {
            "models/a.sql": "select 1 as x",
            "models/p.yml": "models:\n  - name: a\n    config: {materialized: tabel}\n",
        },
    )
    with pytest.raises(
        ProjectError, match=r"model a, models/p.yml: config\(\): materialized: Input should be"
    ):
        load_project(tmp_path)
    write_files(tmp_path, {"models/p.yml": "models:\n  - name: a\n    colums: []\n"})
    with pytest.raises(ProjectError) as info:
        load_project(tmp_path)
    assert str(info.value) == f"{tmp_path / 'models/p.yml'}:3: unknown key 'models.0.colums'"


def test_disabled_model_and_duplicate_names(tmp_path: Path):
    project = make(
        tmp_path,
        {
            "models/a.sql": "{{ config(enabled=false) }} select 1 as x",
            "models/b.sql": "select 2",
            "models/a.yml": "models:\n  - name: a\n    columns: [{name: x, data_tests: [unique]}]\n",
        },
    )
    assert set(project.models) == {"b"} and set(project.disabled) == {"a"}
    assert project.tests == {}
    write_files(tmp_path, {"models/b.sql": "select * from {{ ref('a') }}"})
    with pytest.raises(GraphError, match="refs 'a', which is disabled"):
        load_project(tmp_path)
    write_files(tmp_path, {"models/sub/b.sql": "select 3", "models/b.sql": "select 2"})
    with pytest.raises(ProjectError, match="two models are named 'b': models/b.sql and models/sub/b.sql"):
        load_project(tmp_path)


def test_incremental_branch_follows_the_database(tmp_path: Path):
    project = make(
        tmp_path,
        {
            "models/src.sql": "select 1 as id",
            "models/inc.sql": (
                "{{ config(materialized='incremental') }}\nselect id from {{ ref('src') }}\n"
                "{% if is_incremental() %}where id > (select max(id) from {{ this }}){% endif %}"
            ),
        },
    )
    first = Compiler(project).compile(project.models["inc"])
    assert not first.is_incremental and "where" not in first.sql
    existing = Compiler(project, relation_exists=lambda relation: relation == Relation("inc"))
    assert existing.compile(project.models["inc"]).sql.endswith('where id > (select max(id) from "inc")')
    refresh = Compiler(project, relation_exists=lambda relation: True, full_refresh=True)
    assert "where" not in refresh.compile(project.models["inc"]).sql


def test_ref_only_in_incremental_branch_asks_for_depends_on(tmp_path: Path):
    project = make(
        tmp_path,
        {
            "models/src.sql": "select 1 as id",
            "models/inc.sql": (
                "{{ config(materialized='incremental') }}\nselect 1 as id\n"
                "{% if is_incremental() %}union all select id from {{ ref('src') }}{% endif %}"
            ),
        },
    )
    with pytest.raises(CompileError, match=r"-- depends_on: \{\{ ref\('src'\) \}\}"):
        Compiler(project, relation_exists=lambda relation: True).compile(project.models["inc"])


def test_ephemeral_models_are_inlined_as_ctes(tmp_path: Path):
    project = make(
        tmp_path,
        {
            "models/base.sql": "select 1 as id",
            "models/e1.sql": "{{ config(materialized='ephemeral') }}\nselect id from {{ ref('base') }}",
            "models/e2.sql": "{{ config(materialized='ephemeral') }}\nselect id + 1 as id from {{ ref('e1') }};",
            "models/user.sql": "with mine as (select 5 as id)\nselect * from {{ ref('e2') }} union all select * from mine",
        },
    )
    sql = compiled_sql(project, "user")
    assert sql == (
        'with "__tracesql_ephemeral_e1" AS (\n\nselect id from "base"\n),\n'
        '"__tracesql_ephemeral_e2" AS (\n\nselect id + 1 as id from "__tracesql_ephemeral_e1"\n),\n'
        'mine as (select 5 as id)\nselect * from "__tracesql_ephemeral_e2" union all select * from mine'
    )
    import duckdb

    con = duckdb.connect()
    con.execute("create table base as select 1 as id")
    assert sorted(con.execute(sql).fetchall()) == [(2,), (5,)]


def test_a_broken_ephemeral_model_is_reported_in_its_own_file(tmp_path: Path):
    project = make(
        tmp_path,
        {
            "models/e.sql": "{{ config(materialized='ephemeral') }}\nselect from where",
            "models/user.sql": "select * from {{ ref('main_project', 'e') }}",
        },
    )
    with pytest.raises(CompileError) as info:
        Compiler(project).compile(project.models["user"])
    assert (info.value.model, info.value.path, info.value.line) == ("e", "models/e.sql", 2)


def test_sources_builtin_and_declared(tmp_path: Path):
    project = make(
        tmp_path,
        {
            "models/a.sql": "select * from {{ source('traces', 'codex', path='/x/y', max_traces=3) }}",
            "models/b.sql": "select * from {{ source('corpus', 'all') }} join {{ source('raw', 'events') }} using (id)",
            "models/sources.yml": """
            sources:
              - name: corpus
                tables:
                  - {name: all, function: traces, args: {path: ../corpus}}
              - name: raw
                schema: landing
                tables:
                  - {name: events}
        """,
        },
    )
    assert compiled_sql(project, "a") == "select * from codex_traces(path := '/x/y', max_traces := 3)"
    assert compiled_sql(project, "b") == (
        'select * from traces(path := \'../corpus\') join "landing"."events" using (id)'
    )
    assert project.models["a"].sources == [("traces", "codex")]
    write_files(tmp_path, {"models/c.sql": "select * from {{ source('trace', 'codex') }}"})
    with pytest.raises(CompileError, match=r"no source named 'trace' \(did you mean 'traces'\?\)"):
        load_project(tmp_path)
    write_files(tmp_path, {"models/c.sql": "select * from {{ source('traces', 'codx') }}"})
    with pytest.raises(CompileError, match=r"has no table 'codx' \(did you mean 'codex'\?\)"):
        load_project(tmp_path)


def test_models_calling_python_functions_default_to_tables(tmp_path: Path):
    project = make(
        tmp_path,
        {
            "models/reads.sql": "select * from {{ source('traces', 'claude_code') }}",
            "models/plain.sql": "select 1 as x",
            "models/eph.sql": "{{ config(materialized='ephemeral') }} select * from codex_traces('/x')",
            "models/via_eph.sql": "select * from {{ ref('eph') }}",
            "models/forced_view.sql": "{{ config(materialized='view') }} select * from traces('/x')",
            "models/over_view.sql": "select count(*) from {{ ref('forced_view') }}",
            "models/over_table.sql": "select count(*) from {{ ref('reads') }}",
        },
    )
    materialized = {name: model.materialized for name, model in project.models.items()}
    assert materialized == {
        "reads": "table",
        "plain": "view",
        "eph": "ephemeral",
        "via_eph": "table",
        "forced_view": "view",
        "over_view": "table",
        "over_table": "view",
    }
    assert project.models["reads"].python_functions == {"claude_code_traces"}
    assert any("'forced_view' is a view over Python functions (traces)" in w for w in project.warnings)


def test_syntax_errors_map_to_the_source_file(tmp_path: Path):
    project = make(
        tmp_path,
        {
            "macros/cols.sql": "{% macro cols() %}\n  id,\n  id + 1 as next\n{% endmacro %}",
            "models/base.sql": "select 1 as id",
            "models/bad.sql": "{{ config(materialized='table') }}\nselect {{ cols() }}\nfrom {{ ref('base') }}\nwhere id in (1, 2\n",
            "models/bad2.sql": "select {{ cols() }} from {{ ref('base') }} where id in (1, 2",
        },
    )
    # the macro adds lines: the error line is found by its text in the model file
    with pytest.raises(CompileError) as info:
        Compiler(project).compile(project.models["bad"])
    err = info.value
    assert (err.path, err.line, err.column, err.model) == ("models/bad.sql", 4, 17, "bad")
    assert err.message == 'SQL syntax error: syntax error at or near "2"'
    # a line the macro rewrote cannot be found in the file: the compiled line is named instead
    with pytest.raises(CompileError) as info:
        Compiler(project).compile(project.models["bad2"])
    assert str(info.value) == (
        'model bad2, models/bad2.sql: SQL syntax error: syntax error at or near "2" '
        "(at line 4, column 30 of the compiled SQL, target/compiled/models/bad2.sql)"
    )


def test_model_must_be_one_select(tmp_path: Path):
    project = make(
        tmp_path, {"models/two.sql": "select 1; select 2", "models/ddl.sql": "create table t as select 1"}
    )
    with pytest.raises(CompileError, match="exactly one SELECT query; found 2 statements"):
        Compiler(project).compile(project.models["two"])
    with pytest.raises(CompileError, match="must be a SELECT query, not a CREATE statement"):
        Compiler(project).compile(project.models["ddl"])


def test_duckdb_only_syntax_still_compiles(tmp_path: Path):
    project = make(
        tmp_path,
        {
            "models/m.sql": (
                "from range(3) select range as x, [y * 2 for y in [1, 2]] as l, {'a': 1} as s,\n"
                "list_transform([1], lambda v: v + 1) as t, columns('range') as c"
            ),
        },
    )
    assert compiled_sql(project, "m").startswith("from range(3)")


def test_sql_helpers():
    assert strip_trailing_semicolon("select 1; -- done\n") == "select 1"
    assert strip_trailing_semicolon("select ';' as s;;") == "select ';' as s"
    assert strip_trailing_semicolon("select 'é;é' ; /* ; */") == "select 'é;é'"  # offsets are bytes
    assert strip_trailing_semicolon("select 1 -- a; comment") == "select 1 -- a; comment"
    assert inject_ctes("select 1", [("e", "select 2")]) == 'WITH "e" AS (\nselect 2\n)\nselect 1'
    assert inject_ctes("WITH RECURSIVE r AS (select 1) select * from r", [("e", "select 2")]) == (
        'WITH RECURSIVE "e" AS (\nselect 2\n),\nr AS (select 1) select * from r'
    )
