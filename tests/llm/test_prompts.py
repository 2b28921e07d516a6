"""Prompt files and compile-time helpers: templates are loaded, never rendered, at compile time."""

from __future__ import annotations

import pytest

from tracesql.errors import CompileError, ProjectError
from tracesql.llm import jinja_globals
from tracesql.llm.prompts import load_prompt, render
from tracesql.sqltext import string_literal as sql_literal


def test_prompt_file_is_a_sql_literal_of_the_unrendered_text(tmp_path):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "digest.j2").write_text("It's {{ goal }}\n{% if x %}y{% endif %}")
    helpers = jinja_globals(tmp_path)
    assert helpers["prompt_file"]("digest") == "'It''s {{ goal }}\n{% if x %}y{% endif %}'"
    assert helpers["prompt_file"]("digest.j2") == helpers["prompt_file"]("digest")


def test_prompt_files_stay_inside_prompts(tmp_path):
    (tmp_path / "secret.txt").write_text("x")
    (tmp_path / "prompts").mkdir()
    with pytest.raises(ProjectError, match="no prompt file"):
        load_prompt(tmp_path, "../secret.txt")


def test_json_literal_and_sql_literal():
    helpers = jinja_globals(None)
    assert helpers["json_literal"]({"a": "it's"}) == """'{"a":"it''s"}'"""
    assert sql_literal("a'b") == "'a''b'"


def test_undefined_variables_and_syntax_errors_are_compile_errors():
    with pytest.raises(CompileError, match="vars given: a"):
        render("{{ missing }}", {"a": 1})
    with pytest.raises(CompileError, match="line 1"):
        render("{% if %}", {})


def test_values_are_never_rendered_as_templates():
    assert render("{{ v }}", {"v": "{{ 1 + 1 }}"}) == "{{ 1 + 1 }}"
