"""A loaded project: its profile, templates, models, data tests, sources and graph.

`compile.loading.load_project` builds one from a folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tracesql.connection import Connection, ConnectionOptions, open_connection
from tracesql.errors import CompileError
from tracesql.llm.config import RunOptions
from tracesql.project.graph import Graph, suggestion
from tracesql.project.nodes import DataTest, Model, SourceTable
from tracesql.project.settings import Profile

if TYPE_CHECKING:
    from tracesql.compile.templating import ProjectTemplates


@dataclass
class Project:
    profile: Profile
    templates: ProjectTemplates
    models: dict[str, Model] = field(default_factory=dict)
    tests: dict[str, DataTest] = field(default_factory=dict)
    sources: dict[tuple[str, str], SourceTable] = field(default_factory=dict)
    disabled: dict[str, Model] = field(default_factory=dict)
    parse_errors: dict[str, CompileError] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    graph: Graph | None = None

    @property
    def project_dir(self) -> Path:
        return self.profile.project_dir

    @property
    def target_dir(self) -> Path:
        return self.profile.target_dir

    def source(self, source_name: str, table_name: str) -> SourceTable:
        table = self.sources.get((source_name, table_name))
        if table is not None:
            return table
        names = {s for s, _ in self.sources}
        if source_name not in names:
            raise CompileError(
                f"source('{source_name}', ...): no source named '{source_name}'{suggestion(source_name, names)}"
            )
        tables = [t for s, t in self.sources if s == source_name]
        raise CompileError(
            f"source('{source_name}', '{table_name}'): source '{source_name}' has no table '{table_name}'"
            f"{suggestion(table_name, tables)} (tables: {', '.join(sorted(tables))})"
        )

    def suggest(self, name: str) -> str:
        return suggestion(name, self.models)

    def compiled_path(self, node: Model | DataTest) -> str:
        """Where `tracesql compile` writes a node's SQL, relative to the project (generic tests:
        one file each in a folder named after their YAML file)."""
        path = os.path.join(self.profile.settings.target_path, "compiled", node.rel_path)
        if isinstance(node, DataTest) and node.test_type != "singular":
            return os.path.join(os.path.splitext(path)[0], f"{node.name}.sql")
        return path

    def node(self, unique_id: str) -> Model | DataTest:
        assert self.graph is not None
        return self.graph.nodes[unique_id]

    def connection_options(self, run_options: RunOptions | None = None) -> ConnectionOptions:
        """What every connection of this project is opened with (see connection.py)."""
        return ConnectionOptions(
            project_dir=str(self.project_dir),
            target_dir=str(self.target_dir),
            llm_config=self.profile.llm,
            run_options=run_options or RunOptions(),
            redact=self.profile.secrets.redact,
        )

    def connect(
        self,
        database: str | None = None,
        *,
        read_only: bool = False,
        run_options: RunOptions | None = None,
        wal: bool = True,
    ) -> Connection:
        """Open the target's DuckDB file (or `database`) with everything registered."""
        database = database or self.profile.database
        if database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        return open_connection(
            database,
            read_only=read_only,
            wal=wal,
            options=self.connection_options(run_options),
            storage_version=self.profile.storage_version,
        )

    def connect_for_reading(self, run_options: RunOptions | None = None) -> Connection:
        """The project database read-only if it exists (so a running build is not blocked), else memory."""
        database = self.profile.database
        if database != ":memory:" and os.path.exists(database):
            return self.connect(database, read_only=True, run_options=run_options)
        return self.connect(":memory:", run_options=run_options)
