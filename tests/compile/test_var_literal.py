"""Vars enter SQL only as typed literals: `var_literal()` in every example model."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from tests.conftest import error_lines, invoke, write_files

REPO = Path(__file__).resolve().parents[2]
INJECTION = "x' || (SELECT 42) || '"  # the issue's --vars "{turn_seed: \"x' || (SELECT ...) || '\"}"


@pytest.fixture
def example(tmp_path: Path) -> Path:
    root = tmp_path / "example"
    root.mkdir()
    for name in ("profiles.yml", "models", "macros", "prompts", "examples"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    return root


def compiled(root: Path, model_path: str, vars_yaml: str) -> str:
    result = invoke(root, "compile", "--vars", vars_yaml)
    assert result.exit_code == 0, result.output
    return (root / "target/compiled" / model_path).read_text()


def test_the_issues_injection_compiles_into_a_plain_string_literal(example: Path):
    vars_yaml = '{turn_seed: "' + INJECTION.replace('"', '\\"') + '"}'
    sql = compiled(example, "models/reviews/turn_summaries.sql", vars_yaml)
    tree = sqlglot.parse_one(sql, read="duckdb")
    subqueries = [s for s in tree.find_all(exp.Subquery) if "42" in s.sql()]
    assert subqueries == [], "the var became SQL"
    literals = [lit.this for lit in tree.find_all(exp.Literal) if lit.is_string]
    assert INJECTION in literals
    assert not any(isinstance(node, exp.Literal) and node.this == "42" for node in tree.find_all(exp.Literal))


def test_numbers_stay_numbers_and_the_default_seed_picks_the_same_turn(example: Path):
    sql = compiled(example, "models/reviews/turn_summaries.sql", "{turn_seed: -3, max_prompt_chars: 500}")
    assert "cast((-3) as varchar)" in sql
    assert "left(redact(message_text(messages[turn_index])), 500)" in sql
    default = compiled(example, "models/reviews/turn_summaries.sql", "{}")
    # the seed is cast as before; the pick is hash_number (md5), the same on DuckDB and Spark
    assert "md5(trace_key || cast(0 as varchar))" in default and "hash(" not in default


@pytest.mark.parametrize(
    ("vars_yaml", "message"),
    [
        ('{max_prompt_chars: "2000) || (SELECT 1"}', "var 'max_prompt_chars' must be a int"),
        ("{max_prompt_chars: 2.5}", "var 'max_prompt_chars' must be a int, got 2.5 (float)"),
        ("{llm_model: 7}", "var 'llm_model' must be a string, got 7 (int)"),
        ("{turn_seed: [1, 2]}", "var 'turn_seed' must be a number or a string, got [1, 2] (list)"),
        ("{turn_seed: null}", "var 'turn_seed' must be a number or a string, got None (null)"),
        ("{turn_seed: true}", "var 'turn_seed' must be a number or a string, got True (bool)"),
        ("{turn_seed: .nan}", "var 'turn_seed' must be a number or a string, got nan (float)"),
    ],
)
def test_anything_else_is_an_error_naming_the_var(example: Path, vars_yaml: str, message: str):
    result = invoke(example, "compile", "--vars", vars_yaml)
    assert result.exit_code != 0
    assert any(message in line for line in error_lines(result)), result.output


def test_an_unknown_type_is_an_error(tmp_path: Path):
    root = write_files(
        tmp_path / "p",
        {
            "profiles.yml": "target: dev\ntargets:\n  dev: {database: dev.duckdb}\nvars: {n: 1}\n",
            "models/m.sql": "select {{ var_literal('n', type='integer') }} as n\n",
        },
    )
    result = invoke(root, "compile")
    assert any("type must be one of int, float, number, string" in line for line in error_lines(result))


def test_every_example_model_writes_vars_through_var_literal():
    # {{ var(...) }}, '{{ var(...) }}', {{ sql_literal(var(...)) }}; fine: a fingerprint (a hash) of
    # vars, and llm_judge(model=var(...)), which writes the alias name as a string literal
    pasted = re.compile(r"\{\{(?!\s*(?:fingerprint|llm_judge)\()[^}]*\bvar\(")
    for path in [*REPO.glob("models/**/*.sql"), *REPO.glob("macros/*.sql")]:
        assert not pasted.search(path.read_text()), f"{path.relative_to(REPO)} pastes a var into SQL"
