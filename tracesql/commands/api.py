"""The Python API that `import tracesql` exposes: connect(), load_project(), run()."""

from __future__ import annotations


def connect(
    database: str | None = None,
    *,
    read_only: bool = False,
    project: str | None = None,
    target: str | None = None,
    **options,
):
    """A DuckDB connection with the trace readers and tracesql's SQL functions registered.

    `connect()` is an in-memory database; `connect("x.duckdb")` opens a file;
    `connect(project=".")` opens the project's target database with its profiles.yml
    (LLM providers and models, vars), as `tracesql query` does.
    """
    if project is not None:
        loaded = load_project(project, target=target, require_models=False)
        con, _state = loaded.connect(database, read_only=read_only)
        return con
    from tracesql.connection import open_connection

    con, _state = open_connection(database or ":memory:", read_only=read_only, **options)
    return con


def load_project(project_dir: str = ".", **kwargs):
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
    vars: dict | None = None,
    **request,
):
    """Build a project's models (and with tests=True, run its data tests), like `tracesql run` / `build`.

    Returns tracesql.runner.RunResults; nothing is printed. Extra keywords go to RunRequest
    (dry_run, fail_fast, row_limit, scratch, run_options).
    """
    from tracesql.execution.runner import RunRequest
    from tracesql.execution.runner import run as run_project

    project = load_project(project_dir, target=target, vars=vars)
    command = "build" if tests else "run"
    return run_project(
        project,
        RunRequest(
            select=tuple(select),
            exclude=tuple(exclude),
            full_refresh=full_refresh,
            tests=tests,
            command=command,
            **request,
        ),
    )
