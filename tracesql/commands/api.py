"""The Python API that `import tracesql` exposes: connect(), load_project(), run()."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracesql.connection import Connection
    from tracesql.execution.runner import RunResults
    from tracesql.llm.config import LLMConfig, RunOptions
    from tracesql.project.project import Project


def connect(
    database: str | None = None,
    *,
    read_only: bool = True,
    project: str | Path | bool | None = None,
    target: str | None = None,
    vars: dict[str, Any] | None = None,
    llm_config: LLMConfig | None = None,
    run_options: RunOptions | None = None,
    spill_dir: str | None = None,
    redact: bool = True,
) -> Connection:
    """A `tracesql.Connection`: DuckDB with the trace readers and tracesql's SQL functions.

    In a project (the nearest folder with profiles.yml and models/ from the working folder
    up, or `project="path"`), it opens the project's database with its profile: LLM
    providers and model aliases, vars, the LLM cache in target/; `con.project` is the loaded
    project and `con.render(sql)` renders ref(), var() and macros. `database` names another
    file (":memory:" for none). Outside a project (or with `project=False`, or an explicit
    `llm_config`) it is an in-memory database, or `database`, with the built-in providers.
    `redact=False` sends LLM prompts with the credentials in them (in a project, its
    `secrets:` setting decides).

    Read-only by default (`read_only=False` to write): `tracesql query` and `show` work
    beside it, `tracesql run` once it is closed (DuckDB lets no one write while anyone reads).
    """
    from tracesql.commands.notebook import open_plain, open_project, project_folder

    folder = project_folder(project, explicit_llm_config=llm_config is not None)
    if folder is None:
        return open_plain(database, read_only, llm_config, run_options, spill_dir, redact)
    return open_project(folder, database, read_only, target, vars, run_options)


def load_project(project_dir: str = ".", **kwargs: Any) -> Project:
    """Load a project (profile, models, macros, tests, graph); see tracesql.compile.loading.load_project."""
    from tracesql.compile.loading import load_project as load

    return load(project_dir, **kwargs)


def run(
    project_dir: str = ".",
    *,
    select: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    full_refresh: bool = False,
    tests: bool = False,
    target: str | None = None,
    vars: dict[str, Any] | None = None,
    dry_run: bool = False,
    fail_fast: bool = False,
    row_limit: int | None = None,
    scratch: bool = False,
    run_options: RunOptions | None = None,
) -> RunResults:
    """Build a project's models (and with tests=True, run its data tests), like `tracesql run` / `build`.

    Returns tracesql.execution.runner.RunResults; nothing is printed. `run_options` are the
    LLM layer's (cache, budgets, progress callback); `dry_run=True` counts LLM calls
    instead of making them and builds in a scratch database.
    """
    from tracesql.execution.runner import RunRequest
    from tracesql.execution.runner import run as run_project
    from tracesql.llm.config import RunOptions

    project = load_project(project_dir, target=target, vars=vars)
    options = run_options or RunOptions()
    return run_project(
        project,
        RunRequest(
            select=tuple(select),
            exclude=tuple(exclude),
            full_refresh=full_refresh,
            tests=tests,
            fail_fast=fail_fast,
            row_limit=row_limit,
            scratch=scratch,
            run_options=replace(options, dry_run=dry_run or options.dry_run),
            command="build" if tests else "run",
        ),
    )
