"""Project settings and profiles: where they live, what they may say, how they resolve.

Two optional files, as dbt has dbt_project.yml and profiles.yml:

- ``pyproject.toml`` ``[tool.tracesql]``: the project's shape (folders, per-folder model
  defaults). It travels with the code.
- ``profiles.yml``: where and how it runs (targets, the DuckDB file, vars, LLM providers
  and model aliases, LLM settings). ``--profiles-dir`` picks another folder for it.

Both are validated strictly: an unknown key is a ConfigError naming the file and the key
path (with the line, for YAML).
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jinja2
import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from tracesql.errors import ConfigError, TracesqlError
from tracesql.llm.config import (
    BUILTIN_PROVIDERS,
    LLMConfig,
    LLMSettings,
    ModelConfig,
    ProviderConfig,
    Strict,
)
from tracesql.project.locate import PROFILES_FILE

DEFAULT_DATABASE = "tracesql.duckdb"
DEFAULT_STORAGE_VERSION = "v1.4.0"
Materialization = Literal["view", "table", "incremental", "ephemeral"]


class FolderConfig(Strict):
    """Defaults for every model under one folder of models/ (a model's own config wins)."""

    materialized: Materialization | None = None
    tags: list[str] = Field(default_factory=list)
    enabled: bool | None = None
    schema_: str | None = Field(default=None, alias="schema")


class ProjectSettings(Strict):
    """``[tool.tracesql]`` in pyproject.toml."""

    name: str | None = None
    model_paths: list[str] = Field(default_factory=lambda: ["models"], alias="model-paths")
    macro_paths: list[str] = Field(default_factory=lambda: ["macros"], alias="macro-paths")
    test_paths: list[str] = Field(default_factory=lambda: ["data_tests"], alias="test-paths")
    target_path: str = Field(default="target", alias="target-path")
    folders: dict[str, FolderConfig] = Field(default_factory=dict)


class SecretsSettings(Strict):
    """``secrets:`` in profiles.yml (top level, or a target's, which wins)."""

    redact: bool = True  # credentials become [REDACTED:<kind>] in LLM requests and exports
    anonymize: bool = False  # exports: e-mails, home-folder user names, IPs become keyed tags


class LongContextPrice(Strict):
    """Prices for a whole request whose prompt is over `above` tokens (unset: the base price)."""

    above: int = Field(200_000, gt=0)
    input: float | None = Field(None, ge=0)
    output: float | None = Field(None, ge=0)
    cache_write: float | None = Field(None, ge=0)
    cache_read: float | None = Field(None, ge=0)


class Price(Strict):
    """One model's prices, USD per million tokens (a price left out is unknown)."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write: float | None = Field(None, ge=0)
    cache_read: float | None = Field(None, ge=0)
    long_context: LongContextPrice | None = None
    valid_from: dt.date | None = None  # from this day on (the latest such price applies)


class PriceTable(Strict):
    """The bundled price table, tracesql/project/prices.yml."""

    as_of: dt.date
    source: str
    prices: dict[str, Price | list[Price]]


class UsageSettings(Strict):
    """`usage:` in profiles.yml."""

    timezone: str | None = None  # day boundaries of the usage models; default: this machine's
    prices: dict[str, Price | list[Price]] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            check_timezone(value)
        return value


def check_timezone(name: str) -> str:
    """`name` if it is an IANA time zone (Europe/Paris, UTC), else a ValueError."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Paris or UTC)") from None
    return name


class TargetConfig(Strict):
    type: Literal["duckdb", "spark"] = "duckdb"
    database: str = DEFAULT_DATABASE
    # the on-disk format a new database file gets: v1.4.0 opens in every duckdb CLI from 1.4
    # on (the newest on the package index, 1.5, reads no 2.0 file); null: DuckDB's newest
    storage_version: str | None = Field(default=DEFAULT_STORAGE_VERSION, pattern=r"^v\d+\.\d+\.\d+$")
    # type: spark (docs/spark.md): the master URL, where tables are written, Spark conf
    master: str | None = None  # local[N] (default local[2]), spark://host:port, sc://host:port
    warehouse: str | None = None  # default target/spark-warehouse
    conf: dict[str, str | int | float | bool] = Field(default_factory=dict)
    vars: dict[str, Any] = Field(default_factory=dict)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    llm: LLMSettings | None = None
    secrets: SecretsSettings | None = None


class ProfilesFile(Strict):
    target: str = "dev"
    targets: dict[str, TargetConfig] = Field(default_factory=lambda: {"dev": TargetConfig()})
    vars: dict[str, Any] = Field(default_factory=dict)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    llm: LLMSettings | None = None
    secrets: SecretsSettings | None = None
    usage: UsageSettings | None = None


@dataclass(frozen=True)
class SparkTarget:
    """A `type: spark` target, resolved: master URL, warehouse folder, Spark conf."""

    master: str
    warehouse: str  # absolute path (or a URI with a scheme)
    conf: dict[str, str]


DEFAULT_SPARK_MASTER = "local[2]"


@dataclass
class Profile:
    """Everything resolved for one command: project folders, target, database, vars, LLM."""

    project_dir: Path
    settings: ProjectSettings
    profiles_path: Path | None  # None when there is no profiles.yml (defaults apply)
    target_name: str
    database: str  # absolute path, or ":memory:"
    vars: dict[str, Any]
    llm: LLMConfig
    target_names: list[str] = field(default_factory=list)
    secrets: SecretsSettings = field(default_factory=SecretsSettings)
    storage_version: str | None = DEFAULT_STORAGE_VERSION  # for a database file created anew
    declared_vars: set[str] = field(default_factory=set)  # named in profiles.yml (any target)
    target_type: str = "duckdb"  # "spark": the models run on Apache Spark (`spark` below)
    spark: SparkTarget | None = None
    usage: UsageSettings = field(default_factory=lambda: UsageSettings())

    @property
    def target_dir(self) -> Path:
        return self.project_dir / self.settings.target_path

    @property
    def name(self) -> str:
        return self.settings.name or self.project_dir.name


def load_settings(project_dir: Path) -> ProjectSettings:
    path = project_dir / "pyproject.toml"
    if not path.is_file():
        return ProjectSettings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", path=str(path)) from None
    section = data.get("tool", {}).get("tracesql", {})
    return validate(ProjectSettings, section, path, prefix="tool.tracesql")


def load_profile(
    project_dir: str | Path,
    *,
    profiles_dir: str | Path | None = None,
    target: str | None = None,
    cli_vars: dict[str, Any] | None = None,
) -> Profile:
    """Read pyproject.toml and profiles.yml of a project and resolve one target."""
    project_dir = Path(project_dir).expanduser().resolve()
    if not project_dir.is_dir():
        what = "is not a folder" if project_dir.exists() else "does not exist"
        raise ConfigError(f"the project folder {project_dir} {what}")
    settings = load_settings(project_dir)
    profiles_path = (
        Path(profiles_dir).expanduser().resolve() / PROFILES_FILE
        if profiles_dir
        else project_dir / PROFILES_FILE
    )
    if profiles_dir and not profiles_path.is_file():
        raise ConfigError(f"no {PROFILES_FILE} in --profiles-dir {profiles_path.parent}")
    profiles = read_profiles(profiles_path) if profiles_path.is_file() else ProfilesFile()
    name = target or profiles.target
    if name not in profiles.targets:
        known = ", ".join(sorted(profiles.targets)) or "none"
        raise ConfigError(f"target '{name}' is not defined (targets: {known})", path=_shown(profiles_path))
    chosen = profiles.targets[name]
    return Profile(
        project_dir=project_dir,
        settings=settings,
        profiles_path=profiles_path if profiles_path.is_file() else None,
        target_name=name,
        database=resolve_database(chosen.database, project_dir),
        vars={**profiles.vars, **chosen.vars, **(cli_vars or {})},
        llm=resolve_llm(profiles, chosen, profiles_path),
        target_names=sorted(profiles.targets),
        secrets=SecretsSettings(
            **{
                key: value
                for part in (profiles.secrets, chosen.secrets)
                if part is not None
                for key, value in part.model_dump(exclude_unset=True).items()
            }
        ),
        storage_version=chosen.storage_version,
        declared_vars={*profiles.vars, *(key for t in profiles.targets.values() for key in t.vars)},
        target_type=chosen.type,
        spark=resolve_spark(name, chosen, project_dir, settings.target_path, profiles_path),
        usage=profiles.usage or UsageSettings(),
    )


def resolve_spark(
    name: str, chosen: TargetConfig, project_dir: Path, target_path: str, path: Path
) -> SparkTarget | None:
    """The Spark settings of a `type: spark` target; Spark keys on a DuckDB target are an error."""
    if chosen.type != "spark":
        stray = [key for key in ("master", "warehouse", "conf") if key in chosen.model_fields_set]
        if stray:
            raise ConfigError(
                f"targets.{name}.{stray[0]}: only a `type: spark` target takes {stray[0]}", path=_shown(path)
            )
        return None
    warehouse = chosen.warehouse or f"{target_path}/spark-warehouse"
    if "://" not in warehouse:
        local = Path(os.path.expandvars(warehouse)).expanduser()
        warehouse = str(local if local.is_absolute() else project_dir / local)
    conf = {
        key: str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in chosen.conf.items()
    }
    return SparkTarget(chosen.master or DEFAULT_SPARK_MASTER, warehouse, conf)


def read_profiles(path: Path) -> ProfilesFile:
    text = path.read_text(encoding="utf-8")
    try:
        text = (
            jinja2.Environment(undefined=jinja2.StrictUndefined)
            .from_string(text)
            .render(env_var=env_var_function(ConfigError))
        )
    except (jinja2.TemplateError, ConfigError) as exc:
        raise ConfigError(
            getattr(exc, "message", None) or str(exc), path=str(path), line=getattr(exc, "lineno", None)
        ) from None
    data = load_yaml_mapping(
        path,
        text,
        ConfigError,
        "must be a mapping of keys (target, targets, vars, providers, models, llm, secrets, usage)",
    )
    return validate(ProfilesFile, data, path, yaml_text=text)


def load_yaml_mapping(
    path: Path, text: str, error: type[TracesqlError], not_a_mapping: str
) -> dict[str, Any]:
    """Parse YAML text that must be a mapping (empty is {}); errors name the file and line."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise error(
            f"invalid YAML: {getattr(exc, 'problem', exc)}",
            path=str(path),
            line=mark.line + 1 if mark else None,
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(not_a_mapping, path=str(path))
    return data


def resolve_database(database: str, project_dir: Path) -> str:
    if database == ":memory:":
        return database
    path = Path(os.path.expandvars(database)).expanduser()
    return str(path if path.is_absolute() else project_dir / path)


def resolve_llm(profiles: ProfilesFile, chosen: TargetConfig, path: Path) -> LLMConfig:
    providers = {**BUILTIN_PROVIDERS, **profiles.providers, **chosen.providers}
    models = {**profiles.models, **chosen.models}
    for alias, model in models.items():
        if model.provider not in providers:
            raise ConfigError(
                f"models.{alias}.provider: unknown provider '{model.provider}' (known: {', '.join(sorted(providers))})",
                path=_shown(path),
            )
    merged: dict[str, Any] = {}
    for part in (profiles.llm, chosen.llm):
        if part is not None:
            merged.update(part.model_dump(exclude_unset=True))
    settings = LLMSettings(**merged)
    if settings.default_model and settings.default_model not in models:
        raise ConfigError(
            f"llm.default_model: no model alias '{settings.default_model}' under models", path=_shown(path)
        )
    return LLMConfig(providers=providers, models=models, settings=settings)


_MISSING = object()


def env_var_function(error: type[TracesqlError]) -> Callable[..., Any]:
    """Jinja `env_var(name, default)`: the environment variable, else the default, else `error`."""

    def env_var(name: str, default: Any = _MISSING) -> Any:
        value = os.environ.get(name)
        if value is not None:
            return value
        if default is not _MISSING:
            return default
        raise error(f"env_var('{name}'): the environment variable {name} is not set and no default was given")

    return env_var


def parse_cli_vars(text: str | None) -> dict[str, Any]:
    """--vars takes a YAML mapping: '{trace_format: codex, limit: 10}' or 'limit: 10'."""
    if not text:
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--vars is not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--vars must be a YAML mapping such as '{{key: value}}', got {text!r}")
    return data


def validate(
    schema: type[BaseModel], data: Any, path: Path, *, prefix: str = "", yaml_text: str | None = None
) -> Any:
    """Validate `data` against a strict pydantic schema; the problems become one ConfigError
    at the first one's line, naming every one."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(err, prefix, yaml_text) for err in exc.errors()]
        message, line = problems[0]
        if len(problems) > 1:
            others = "; ".join(f"line {n}: {text}" if n else text for text, n in problems[1:])
            message += f" (and {len(problems) - 1} more: {others})"
        raise ConfigError(message, path=str(path), line=line) from None


def _problem(err: Any, prefix: str, yaml_text: str | None) -> tuple[str, int | None]:
    """One validation problem as (message, line in the YAML text)."""
    keys = [str(k) for k in err["loc"]]
    dotted = ".".join(([prefix] if prefix else []) + keys)
    if err["type"] == "extra_forbidden":
        message = f"unknown key '{dotted}'"
    elif err["type"] == "missing":
        message = f"missing required key '{dotted}'"
    else:
        message = f"{dotted}: {err['msg']}"
    return message, yaml_line(yaml_text, keys) if yaml_text is not None else None


def yaml_line(text: str, keys: list[str]) -> int | None:
    """The 1-based line of a key path in YAML text (the deepest key that exists)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for key in keys:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if str(k.value) == key), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and key.isdigit() and int(key) < len(node.value):
            node = node.value[int(key)]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _shown(path: Path) -> str | None:
    return str(path) if path.is_file() else None


def provider_status(llm: LLMConfig) -> list[tuple[str, str, str, str]]:
    """(name, base_url, key variable, "set"/"missing") per provider: whether a key is set, never the key."""
    rows = []
    for name, provider in sorted(llm.providers.items()):
        env = provider.api_key_env or ""
        state = ("set" if os.environ.get(env) else "missing") if env else "not needed"
        rows.append((name, provider.base_url, env or "-", state))
    return rows
