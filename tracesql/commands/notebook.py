"""`tracesql.connect()`: the connection a notebook opens, with the project it sits in.

    con = tracesql.connect()               # the project's database, read-only, its profile loaded
    con.sql(con.render("SELECT * FROM {{ ref('sft_dataset') }}")).show()
    con.close()                            # then `tracesql run` can write again

Opened read-only, a notebook lets `tracesql query` and `tracesql show` run beside it;
`tracesql run` must wait until it is closed (DuckDB lets no one write while anyone reads),
and says so, naming the notebook's process.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import duckdb

from tracesql.commands.query import render_inline
from tracesql.compile.loading import load_project
from tracesql.connection import Connection, ConnectionOptions, Session, open_connection
from tracesql.errors import ConfigError
from tracesql.llm.config import LLMConfig, RunOptions
from tracesql.project.locate import find_project_dir
from tracesql.project.project import Project


class ProjectConnection(Connection):
    """A Connection opened in a project: `project` is the loaded project (models, vars,
    macros, LLM aliases) and `render(sql)` gives a query's SQL with ref(), var() and macros."""

    def __init__(self, con: duckdb.DuckDBPyConnection, session: Session, project: Project) -> None:
        super().__init__(con, session)
        self.project = project

    def render(self, sql: str) -> str:
        """The SQL with its Jinja rendered (outside string literals, as `tracesql query` does)."""
        return render_inline(self.project, sql)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<tracesql.Connection {state}, project {self.project.profile.name}>"


def project_folder(project: str | Path | bool | None, *, explicit_llm_config: bool) -> str | Path | None:
    """The folder `connect(project=...)` means: None (not given) finds the nearest project
    unless an LLM config was given; True must find one; False or "" is none."""
    if project is None:
        return None if explicit_llm_config else find_project_dir()
    if project is True:
        found = find_project_dir()
        if found is None:
            raise ConfigError(f"project=True: no project in {Path.cwd()} or the folders above it")
        return found
    return project or None


def open_plain(
    database: str | None,
    read_only: bool,
    llm_config: LLMConfig | None,
    run_options: RunOptions | None,
    spill_dir: str | None,
    redact: bool,
) -> Connection:
    """A connection outside a project: memory, or `database`, with the built-in providers."""
    path = database or ":memory:"
    _check_exists(path, read_only)
    options = ConnectionOptions(
        llm_config=llm_config, run_options=run_options or RunOptions(), spill_dir=spill_dir, redact=redact
    )
    return open_connection(path, read_only=read_only and path != ":memory:", options=options)


def open_project(
    folder: str | Path,
    database: str | None,
    read_only: bool,
    target: str | None,
    vars: dict[str, Any] | None,
    run_options: RunOptions | None,
) -> ProjectConnection:
    """The project's database (or `database`) with its profile; warnings as Python warnings."""
    loaded = load_project(folder, target=target, vars=vars, require_models=False)
    for warning in loaded.warnings:
        warnings.warn(warning, stacklevel=3)
    if database and database != ":memory:":
        path = str(Path(database).expanduser().resolve())
    else:
        path = database or loaded.profile.database
    _check_exists(path, read_only)
    base = loaded.connect(path, read_only=read_only and path != ":memory:", run_options=run_options)
    return ProjectConnection(*base.hand_over(), loaded)


def _check_exists(database: str, read_only: bool) -> None:
    if read_only and database != ":memory:" and not os.path.exists(database):
        raise ConfigError(
            f"{database} does not exist: build it with `tracesql run`, or pass read_only=False to create it"
        )
