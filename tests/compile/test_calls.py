"""What a query calls, from its sqlglot tree (or its tokens when sqlglot cannot parse it):
Python-backed functions and the model aliases of LLM calls; never a name in a string
literal or a comment."""

from __future__ import annotations

import pytest
import sqlglot

from tests.conftest import write_files
from tracesql.compile.calls import llm_models, python_functions
from tracesql.compile.compiler import Compiler
from tracesql.compile.loading import load_project
from tracesql.errors import CompileError


def both_ways(sql: str) -> list[tuple[str | None, ...]]:
    """llm_models from the tree and from the token fallback (they must agree)."""
    return [llm_models(sqlglot.parse_one(sql, read="duckdb"), sql), llm_models(None, sql)]


@pytest.mark.parametrize(
    ("sql", "models"),
    [
        ("SELECT 1", ()),
        ("SELECT llm_render('x', {'a': 1})", ()),
        ("SELECT llm(a, model := 'x'), llm_struct(b, 's', model:='y')", ("x", "y")),
        ("SELECT llm(a), LLM(b, MODEL := 'x'), llm_judge(c, '[]')", (None, "x")),
        ("SELECT llm('it''s', model := 'o''brien')", ("o'brien",)),
        ("SELECT llm(a, model := m.alias) FROM m", ()),  # known only at run time: not checked
        # a mention in a string or a comment is not a call
        ("SELECT 'call llm(x) later' AS note -- then llm(y)\n", ()),
        ("SELECT 'llm(' || x /* llm_struct(p, 's') */ FROM t", ()),
        ("SELECT llm('say model := ''ghost''', model := 'm')", ("m",)),
    ],
)
def test_llm_models(sql, models):
    assert both_ways(sql) == [models, models]


def test_python_functions_ignore_strings_and_comments():
    sql = "SELECT llm(x), 'claude_code_traces(' AS s -- traces(y)\nFROM t"
    assert python_functions(sqlglot.parse_one(sql, read="duckdb"), sql) == {"llm"}
    assert python_functions(None, sql) == {"llm"}


def test_compiled_models_include_ephemeral_parents(tmp_path):
    write_files(
        tmp_path,
        {
            "profiles.yml": "models: {small: {provider: openai, model: gpt-4o-mini}}\n",
            "models/asked.sql": "{{ config(materialized='ephemeral') }}\nSELECT llm('q', model := 'small') AS a",
            "models/judged.sql": "SELECT a, llm(a) AS b FROM {{ ref('asked') }} -- llm(model := 'ghost')",
        },
    )
    project = load_project(tmp_path)
    compiled = Compiler(project).compile(project.models["judged"])
    assert compiled.llm_models == (None, "small")


def test_an_unknown_alias_is_a_compile_error_naming_the_file(tmp_path):
    write_files(
        tmp_path,
        {
            "profiles.yml": "models: {small: {provider: openai, model: gpt-4o-mini}}\n",
            "models/asks.sql": "SELECT llm('q', model := 'smal') AS a, llm('r', model := 'openai:gpt-4o') AS b",
        },
    )
    project = load_project(tmp_path)
    with pytest.raises(CompileError) as caught:
        Compiler(project).compile(project.models["asks"])
    assert str(caught.value).startswith(
        "model asks, models/asks.sql: unknown LLM model alias 'smal' (configured aliases: small)"
    )
