"""The objects a project is made of: models, data tests, sources, and their relations."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from tracesql.llm.config import Strict
from tracesql.project.settings import Materialization
from tracesql.sqltext import literal, quote

__all__ = ["DataTest", "Model", "NodeConfig", "Relation", "SourceTable", "TestConfig", "literal", "quote"]

MODEL_CONFIG_KEYS = "materialized, tags, unique_key, incremental_strategy, on_schema_change, enabled, alias, schema, full_refresh"


@dataclass(frozen=True)
class Relation:
    """A table or view in the database; `str()` is its quoted name, as `{{ ref() }}` renders."""

    identifier: str
    schema: str | None = None

    def __str__(self) -> str:
        return f"{quote(self.schema)}.{quote(self.identifier)}" if self.schema else quote(self.identifier)

    @property
    def name(self) -> str:
        return self.identifier

    def suffixed(self, suffix: str) -> Relation:
        return Relation(self.identifier + suffix, self.schema)


class NodeConfig(Strict):
    """The keys `{{ config(...) }}` and YAML `config:` accept for a model."""

    materialized: Materialization | None = None
    tags: list[str] = Field(default_factory=list)
    unique_key: str | list[str] | None = None
    incremental_strategy: Literal["append", "merge", "by_file"] | None = None
    on_schema_change: Literal["fail", "append_new_columns", "ignore"] = "fail"
    enabled: bool = True
    alias: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    full_refresh: bool | None = None  # False protects an incremental model from --full-refresh

    @field_validator("tags", mode="before")
    @classmethod
    def _one_tag(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @property
    def unique_keys(self) -> list[str]:
        if self.unique_key is None:
            return []
        return [self.unique_key] if isinstance(self.unique_key, str) else list(self.unique_key)

    @property
    def strategy(self) -> str:
        return self.incremental_strategy or ("merge" if self.unique_key else "append")


class TestConfig(Strict):
    severity: Literal["error", "warn"] = "error"
    where: str | None = None
    enabled: bool = True
    tags: list[str] = Field(default_factory=list)


def merge_configs(*layers: dict[str, Any]) -> dict[str, Any]:
    """Later layers win key by key; tags add up (as in dbt)."""
    merged: dict[str, Any] = {}
    tags: list[str] = []
    for layer in layers:
        for key, value in layer.items():
            if key == "tags":
                for tag in [value] if isinstance(value, str) else value or []:
                    if tag not in tags:
                        tags.append(tag)
            else:
                merged[key] = value
    if tags:
        merged["tags"] = tags
    return merged


@dataclass
class Model:
    name: str
    path: Path
    rel_path: str
    raw_sql: str
    config: NodeConfig = field(default_factory=NodeConfig)
    description: str = ""
    columns: dict[str, str] = field(default_factory=dict)  # column name -> description
    meta: dict[str, Any] = field(default_factory=dict)  # the YAML's meta: (dataset: for exports, reports)
    refs: list[str] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)
    python_functions: set[str] = field(default_factory=set)  # Python-backed SQL names it calls
    kind: str = "model"

    @property
    def unique_id(self) -> str:
        return f"model.{self.name}"

    @property
    def materialized(self) -> str:
        return self.config.materialized or "view"

    @property
    def tags(self) -> list[str]:
        return self.config.tags

    @property
    def relation(self) -> Relation:
        if self.materialized == "ephemeral":
            return Relation(f"__tracesql_ephemeral_{self.name}")
        return Relation(self.config.alias or self.name, self.config.schema_)


@dataclass
class DataTest:
    name: str
    path: Path  # the YAML file declaring it, or the .sql file of a singular test
    rel_path: str
    raw_sql: str
    test_type: str  # not_null, unique, accepted_values, relationships, a macro test, or "singular"
    config: TestConfig = field(default_factory=TestConfig)
    model: str | None = None  # the model it is attached to
    column: str | None = None
    refs: list[str] = field(default_factory=list)
    line: int | None = None
    kind: str = "test"

    @property
    def unique_id(self) -> str:
        return f"test.{self.name}"

    @property
    def tags(self) -> list[str]:
        return self.config.tags


@dataclass
class SourceTable:
    """`{{ source('name', 'table') }}`: a table function call or any relation SQL."""

    source_name: str
    name: str
    function: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    relation: str | None = None
    description: str = ""
    path: str | None = None

    def sql(self, overrides: dict[str, Any] | None = None) -> str:
        if self.function is None:
            return self.relation or f"{quote(self.source_name)}.{quote(self.name)}"
        args = {**self.args, **(overrides or {})}
        rendered = ", ".join(f"{key} := {literal(value)}" for key, value in args.items() if value is not None)
        return f"{self.function}({rendered})"
