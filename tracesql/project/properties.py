"""YAML property files next to models: descriptions, columns, data tests and sources.

    version: 2
    models:
      - name: sessions
        description: One row per trace.
        config: {materialized: table, tags: [core]}
        columns:
          - name: trace_key
            data_tests: [not_null, unique]
          - name: source_kind
            data_tests:
              - accepted_values: {values: [claude_code, codex]}
    sources:
      - name: corpus
        tables:
          - name: all
            function: traces
            args: {path: ../corpus}

Unknown keys are ProjectErrors naming the file, the line and the key path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from tracesql.errors import ConfigError, ProjectError
from tracesql.llm.config import Strict
from tracesql.project.settings import load_yaml_mapping, validate, yaml_line


class ColumnProps(Strict):
    name: str
    description: str = ""
    data_type: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    data_tests: list[Any] = Field(default_factory=list)
    tests: list[Any] = Field(default_factory=list)  # the older dbt spelling


class ModelProps(Strict):
    name: str
    description: str = ""
    config: dict[str, Any] = Field(default_factory=dict)
    meta: dict[str, Any] = Field(default_factory=dict)
    columns: list[ColumnProps] = Field(default_factory=list)
    data_tests: list[Any] = Field(default_factory=list)
    tests: list[Any] = Field(default_factory=list)


class SourceTableProps(Strict):
    name: str
    description: str = ""
    function: str | None = None  # a table function (a trace reader, read_parquet, ...)
    args: dict[str, Any] = Field(default_factory=dict)
    relation: str | None = None  # or any SQL that can follow FROM
    columns: list[ColumnProps] = Field(default_factory=list)


class SourceProps(Strict):
    name: str
    description: str = ""
    schema_: str | None = Field(default=None, alias="schema")
    tables: list[SourceTableProps] = Field(default_factory=list)


class PropertiesFile(Strict):
    version: int | None = None
    models: list[ModelProps] = Field(default_factory=list)
    sources: list[SourceProps] = Field(default_factory=list)


@dataclass
class TestSpec:
    """One entry of a `data_tests:` list, before it becomes a DataTest."""

    test_type: str
    args: dict[str, Any]
    model: str
    column: str | None
    path: Path
    line: int | None


@dataclass
class LoadedProperties:
    path: Path
    text: str
    content: PropertiesFile


def read_properties(path: Path) -> LoadedProperties:
    text = path.read_text(encoding="utf-8")
    data = load_yaml_mapping(
        path, text, ProjectError, "a property file must be a mapping with models: and/or sources:"
    )
    try:
        content = validate(PropertiesFile, data, path, yaml_text=text)
    except ConfigError as exc:
        raise ProjectError(exc.message, path=exc.path, line=exc.line) from None
    return LoadedProperties(path, text, content)


def test_specs(loaded: LoadedProperties, model: ModelProps, index: int) -> list[TestSpec]:
    """The data tests a model entry declares, on the model and on its columns."""
    specs = []
    base = ["models", str(index)]
    for n, entry in enumerate(model.data_tests + model.tests):
        key = "data_tests" if n < len(model.data_tests) else "tests"
        pos = n if key == "data_tests" else n - len(model.data_tests)
        specs.append(_spec(entry, loaded, model.name, None, [*base, key, str(pos)]))
    for c, column in enumerate(model.columns):
        for n, entry in enumerate(column.data_tests + column.tests):
            key = "data_tests" if n < len(column.data_tests) else "tests"
            pos = n if key == "data_tests" else n - len(column.data_tests)
            specs.append(
                _spec(entry, loaded, model.name, column.name, [*base, "columns", str(c), key, str(pos)])
            )
    return specs


def _spec(entry: Any, loaded: LoadedProperties, model: str, column: str | None, keys: list[str]) -> TestSpec:
    line = yaml_line(loaded.text, keys)
    if isinstance(entry, str):
        return TestSpec(entry, {}, model, column, loaded.path, line)
    if isinstance(entry, dict) and len(entry) == 1:
        ((test_type, args),) = entry.items()
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise ProjectError(
                f"arguments of data test '{test_type}' must be a mapping",
                path=str(loaded.path),
                line=line,
                model=model,
            )
        return TestSpec(str(test_type), dict(args), model, column, loaded.path, line)
    raise ProjectError(
        f"a data test is a name (not_null) or a one-key mapping (accepted_values: {{values: [...]}}), got {entry!r}",
        path=str(loaded.path),
        line=line,
        model=model,
    )
