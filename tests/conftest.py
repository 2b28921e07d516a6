"""Helpers for project tests: small projects written into a temp folder, run through the real CLI."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tracesql.cli import main

BASE_PROJECT = {
    "profiles.yml": """
        target: dev
        targets:
          dev: {database: dev.duckdb}
          ci: {database: target/ci.duckdb, vars: {min_id: 5}}
        vars: {min_id: 0}
    """,
    "macros/util.sql": """
        {% macro double(col) %}({{ col }} * 2){% endmacro %}
    """,
    "models/raw_events.sql": """
        {{ config(materialized='table', tags=['raw']) }}
        select * from raw_source
    """,
    "models/staging/stg_events.sql": """
        select id, kind, {{ double('id') }} as doubled
        from {{ ref('raw_events') }}
        where id >= {{ var('min_id') }}
    """,
    "models/kinds.sql": """
        {{ config(materialized='table', tags=['report']) }}
        select kind, count(*) as n from {{ ref('stg_events') }} group by kind
    """,
    "models/events_incr.sql": """
        {{ config(materialized='incremental') }}
        select id, kind from {{ ref('stg_events') }}
        {% if is_incremental() %} where id > (select max(id) from {{ this }}) {% endif %}
    """,
    "models/schema.yml": """
        version: 2
        models:
          - name: stg_events
            description: Staged events.
            columns:
              - name: id
                description: The event id.
                data_tests: [not_null, unique]
              - name: kind
                data_tests:
                  - accepted_values: {values: [a, b, c]}
    """,
}


def _module(name: str) -> str | None:
    return name if importlib.util.find_spec(name) is not None else None


def _program(name: str) -> str | None:
    """A program in this interpreter's bin folder (a venv's), else on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if os.access(local, os.X_OK) else shutil.which(name)


# What some tests need beyond `pip install -e '.[dev]'`: a check giving the thing (a module
# name, a program's path) or None, and how to get it. `.ci/run` installs every one of them.
EXTRAS: dict[str, tuple[Callable[[], str | None], str]] = {
    "chromium": (lambda: _program("chromium"), "apt-get install chromium"),
    "datasets": (lambda: _module("datasets"), "pip install -e '.[test]'"),
    "dbt_artifacts_parser": (lambda: _module("dbt_artifacts_parser"), "pip install -e '.[test]'"),
    "duckdb-cli": (lambda: _program("duckdb"), "pip install -e '.[test]'"),
    "pyspark": (lambda: _module("pyspark"), "pip install -e '.[spark]'"),
}


def require_extra(name: str) -> str:
    """The extra `name` (see EXTRAS) if installed. Else the test skips, saying how to
    install it, or fails when TRACESQL_CI=1 (set by .ci/run, which installs them all)."""
    check, how = EXTRAS[name]
    found = check()
    if found:
        return found
    message = f"{name} is not installed ({how})"
    if os.environ.get("TRACESQL_CI") == "1":
        pytest.fail(f"{message}, and TRACESQL_CI=1 requires it", pytrace=False)
    pytest.skip(message)


def write_files(root: Path, files: dict[str, str | None]) -> Path:
    for rel, text in files.items():
        path = root / rel
        if text is None:
            path.unlink(missing_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def seed_raw_source(root: Path, ids: range, database: str = "dev.duckdb") -> None:
    """The table the base project reads from: rows (id, kind) outside tracesql's models."""
    import duckdb

    (root / database).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(root / database))
    con.execute("CREATE TABLE IF NOT EXISTS raw_source (id INTEGER, kind VARCHAR)")
    con.execute(
        "INSERT INTO raw_source SELECT range, ['a', 'b', 'c'][range % 3 + 1] FROM range(?, ?)",
        [ids.start, ids.stop],
    )
    con.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = write_files(tmp_path / "proj", BASE_PROJECT)
    seed_raw_source(root, range(0, 10))
    return root


def invoke(root: Path, *args: str, env: dict | None = None) -> Result:
    """Run `tracesql <command> --project-dir root <args>` through click's test runner."""
    command, *rest = args
    argv = (
        [command, "--project-dir", str(root), *rest] if command not in ("--version", "init") else list(args)
    )
    return CliRunner().invoke(main, argv, env=env, catch_exceptions=True)


def node_results(root: Path) -> list[dict]:
    """target/run_results.json (dbt's shape) as one flat dict per node: name, resource_type,
    status, rows (rows written, or a test's failing rows), message (the error, or the note)."""
    import json

    flat = []
    for r in json.loads((root / "target" / "run_results.json").read_text())["results"]:
        kind, _, name = r["unique_id"].split(".", 2)
        response = r["adapter_response"]
        flat.append(
            {
                "name": name,
                "resource_type": kind,
                "status": r["status"],
                "rows": r["failures"] if kind == "test" else response.get("rows_affected"),
                "message": r["message"] or response.get("_message", ""),
                "materialized": response.get("code"),
            }
        )
    return flat


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
