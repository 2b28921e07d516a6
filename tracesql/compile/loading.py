"""Loading a project folder: profile, macros, models, YAML properties, sources, data tests, graph.

Models are parsed (rendered once with Jinja) to find their refs, sources and config().

    project/
      profiles.yml          targets, vars, LLM providers and models (optional)
      pyproject.toml        [tool.tracesql] folders and per-folder defaults (optional)
      models/**/*.sql       one SELECT per file; the file name is the model name
      models/**/*.yml       descriptions, columns, data tests, sources
      macros/**/*.sql       Jinja macros callable from every model
      data_tests/**/*.sql   singular data tests: queries returning failing rows
      target/               compiled SQL, manifest.json, run_results.json
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from tracesql.compile.compiler import Compiler, check_config
from tracesql.compile.datatests import generic_test, singular_test
from tracesql.compile.templating import ProjectTemplates
from tracesql.errors import CompileError, ProjectError
from tracesql.project.graph import Graph, suggestion
from tracesql.project.nodes import DataTest, Model, NodeConfig, SourceTable, merge_configs, quote
from tracesql.project.prices import usage_jinja_globals
from tracesql.project.project import Project
from tracesql.project.properties import LoadedProperties, ModelProps, read_properties, test_specs
from tracesql.project.settings import Profile, load_profile


def load_project(
    project_dir: str | Path = ".",
    *,
    profiles_dir: str | Path | None = None,
    target: str | None = None,
    vars: dict[str, Any] | None = None,
    require_models: bool = True,
) -> Project:
    """Read every file of a project and build its graph; raise on the first problem."""
    profile = load_profile(project_dir, profiles_dir=profiles_dir, target=target, cli_vars=vars)
    root = profile.project_dir
    settings = profile.settings
    model_dirs = [root / p for p in settings.model_paths]
    if require_models and not any(d.is_dir() for d in model_dirs):
        raise ProjectError(
            f"no {settings.model_paths[0]}/ folder in {root}: run tracesql in a project folder, pass --project-dir, "
            "or create one with `tracesql init`"
        )
    macro_files = _files(root, settings.macro_paths, ("*.sql",))
    templates = ProjectTemplates(
        root,
        macro_files,
        {**_llm_jinja_globals(root), **_project_globals(profile)},
    )
    project = Project(profile=profile, templates=templates)
    if not profile.secrets.redact:
        project.warnings.append(
            "secrets.redact is false in profiles.yml: credentials in the traces reach LLM providers "
            "and exports as they are"
        )
    project.sources = builtin_sources()
    for path in _files(root, settings.model_paths, ("*.sql",)):
        _add_model(project, path)
    model_props = _read_property_files(project)
    compiler = Compiler(project)
    for model in list(project.models.values()):
        _configure_model(project, compiler, model, model_props.get(model.name))
    _add_tests(project, compiler, model_props)
    project.graph = Graph(project.models, project.tests, project.disabled)
    _default_materializations(project)
    _warn_unknown_vars(project, set(vars or {}), macro_files)
    return project


_VAR_CALL = re.compile(r"""\bvar(?:_literal)?\(\s*['"]([^'"]+)['"]""")


def _warn_unknown_vars(project: Project, given: set[str], macro_files: list[Path]) -> None:
    """A --vars key that no profiles.yml entry declares and no var() call names is a typo
    until shown otherwise: warn, with the closest known name."""
    if not given:
        return
    texts = [m.raw_sql for m in (*project.models.values(), *project.disabled.values())]
    texts += [t.raw_sql for t in project.tests.values()]
    texts += [path.read_text(encoding="utf-8") for path in macro_files]
    known = project.profile.declared_vars | {name for text in texts for name in _VAR_CALL.findall(text)}
    for name in sorted(given - known):
        project.warnings.append(
            f"--vars: no model or macro uses the var '{name}' and profiles.yml does not declare it"
            f"{suggestion(name, known)}"
        )


def builtin_sources() -> dict[tuple[str, str], SourceTable]:
    """`source('traces', <format>)`: every trace reader, with its default folder (`auto` is traces())."""
    from tracesql.readers.registry import READERS

    return {
        ("traces", name): SourceTable("traces", name, function=cls.function_name)
        for name, cls in READERS.items()
    }


def _files(root: Path, folders: list[str], patterns: tuple[str, ...]) -> list[Path]:
    found = []
    for folder in folders:
        base = root / folder
        if base.is_dir():
            found += [p for pattern in patterns for p in base.rglob(pattern) if p.is_file()]
    return sorted(found)


def _rel(project: Project, path: Path) -> str:
    return PurePosixPath(os.path.relpath(path, project.project_dir)).as_posix()


def _add_model(project: Project, path: Path) -> None:
    name = path.stem
    rel_path = _rel(project, path)
    if name in project.models:
        other = project.models[name].rel_path
        raise ProjectError(
            f"two models are named '{name}': {other} and {rel_path} (model names must be unique)",
            path=rel_path,
        )
    project.models[name] = Model(
        name=name, path=path, rel_path=rel_path, raw_sql=path.read_text(encoding="utf-8")
    )


PropsEntry = tuple[ModelProps, LoadedProperties, int]  # a model's YAML entry, its file, its index there


def _read_property_files(project: Project) -> dict[str, PropsEntry]:
    settings = project.profile.settings
    found: dict[str, PropsEntry] = {}
    for path in _files(project.project_dir, settings.model_paths, ("*.yml", "*.yaml")):
        loaded = read_properties(path)
        rel_path = _rel(project, path)
        for index, props in enumerate(loaded.content.models):
            if props.name in found:
                other = _rel(project, found[props.name][1].path)
                raise ProjectError(
                    f"model '{props.name}' is described twice: here and in {other}", path=rel_path
                )
            if props.name not in project.models:
                project.warnings.append(
                    f"{rel_path}: describes model '{props.name}', which has no .sql file{project.suggest(props.name)}"
                )
                continue
            found[props.name] = (props, loaded, index)
        for source in loaded.content.sources:
            for table in source.tables:
                project.sources[(source.name, table.name)] = SourceTable(
                    source.name,
                    table.name,
                    function=table.function,
                    args=table.args,
                    relation=table.relation
                    or (f"{quote(source.schema_)}.{quote(table.name)}" if source.schema_ else None),
                    description=table.description,
                    path=rel_path,
                )
    return found


def _configure_model(project: Project, compiler: Compiler, model: Model, entry: PropsEntry | None) -> None:
    props, loaded = (entry[0], entry[1]) if entry else (None, None)
    parsed = compiler.parse(model)
    model.refs, model.sources, model.python_functions = parsed.refs, parsed.sources, parsed.python_functions
    if parsed.error is not None:
        project.parse_errors[model.unique_id] = parsed.error
    folder_layers = _folder_layers(project, model)
    yaml_layer = props.config if props else {}
    if props is not None and loaded is not None:
        try:
            check_config(yaml_layer, NodeConfig)
        except CompileError as exc:
            raise ProjectError(exc.message, path=_rel(project, loaded.path), model=model.name) from None
        model.description = props.description
        model.meta = props.meta
        model.columns = {c.name: c.description for c in props.columns}
    model.config = NodeConfig(**merge_configs(*folder_layers, yaml_layer, parsed.config))
    if not model.config.enabled:
        project.disabled[model.name] = project.models.pop(model.name)


def _folder_layers(project: Project, model: Model) -> list[dict[str, Any]]:
    settings = project.profile.settings
    layers = []
    for folder_path in settings.model_paths:
        base = (project.project_dir / folder_path).resolve()
        if base not in model.path.resolve().parents:
            continue
        relative = PurePosixPath(os.path.relpath(model.path.parent, base)).as_posix()
        for key in sorted(settings.folders, key=lambda k: k.count("/") if k not in ("", ".") else -1):
            folder = key.strip("/")
            if folder in ("", ".") or relative == folder or relative.startswith(folder + "/"):
                layers.append(settings.folders[key].model_dump(exclude_unset=True, by_alias=True))
    return layers


def _add_tests(project: Project, compiler: Compiler, model_props: dict[str, PropsEntry]) -> None:
    macros = set(project.templates.macros)
    for name in sorted(model_props):
        if name not in project.models:
            continue  # disabled: so are its tests
        props, loaded, index = model_props[name]
        for spec in test_specs(loaded, props, index):
            test = generic_test(spec, _rel(project, spec.path), macros, taken=project.tests)
            _add_test(project, compiler, test)
    settings = project.profile.settings
    for path in _files(project.project_dir, settings.test_paths, ("*.sql",)):
        test = singular_test(path, _rel(project, path))
        if test.name in project.tests:
            raise ProjectError(f"two data tests are named '{test.name}'", path=test.rel_path)
        _add_test(project, compiler, test)


def _add_test(project: Project, compiler: Compiler, test: DataTest) -> None:
    parsed = compiler.parse(test)
    test.refs = parsed.refs
    if parsed.error is not None:
        project.parse_errors[test.unique_id] = parsed.error
    if parsed.config:
        test.config = test.config.model_copy(
            update=check_config(parsed.config, type(test.config)).model_dump(exclude_unset=True)
        )
    if test.config.enabled:
        project.tests[test.name] = test


def _default_materializations(project: Project) -> None:
    """Models without `materialized` are views, unless they call Python-backed functions
    (directly, or through an ephemeral or view parent): those are tables, since a view over
    a Python function cannot be opened outside tracesql."""
    graph = project.graph
    assert graph is not None
    for uid in graph.order():
        model = graph.nodes[uid]
        if not isinstance(model, Model):
            continue
        for parent_uid in graph.parents[uid]:
            parent = graph.nodes[parent_uid]
            if isinstance(parent, Model) and parent.materialized in ("view", "ephemeral"):
                model.python_functions |= parent.python_functions
        if model.config.materialized is None:
            model.config.materialized = "table" if model.python_functions else "view"
        elif model.materialized == "view" and model.python_functions:
            names = ", ".join(sorted(model.python_functions))
            project.warnings.append(
                f"model '{model.name}' is a view over Python functions ({names}): it opens only through tracesql, "
                "not in the plain duckdb CLI"
            )


def _project_globals(profile: Profile) -> dict[str, Any]:
    """Jinja globals that need the resolved profile."""

    def project_path(path: str) -> str:
        """A path from vars or config, relative to the project folder (`~` kept for the reader)."""
        text = str(path)
        if text.startswith("~") or Path(text).is_absolute():
            return text
        return str(profile.project_dir / text)

    def llm_model_settings(alias: str) -> dict[str, Any]:
        """A model alias's settings (no secrets), e.g. to fingerprint what an LLM column depends on."""
        model = profile.llm.models.get(alias)
        if model is None:
            return {"alias": alias}
        provider = profile.llm.providers.get(model.provider)
        settings = model.model_dump(
            mode="json",
            exclude={"max_parallel_requests", "timeout", "requests_per_minute", "tokens_per_minute"},
        )
        return {"alias": alias, **settings, "base_url": provider.base_url if provider else None}

    def fingerprint(*parts: Any) -> str:
        """A short stable hash of JSON-able values."""
        blob = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
        return hashlib.sha256(blob).hexdigest()[:16]

    return {
        "project_path": project_path,
        "llm_model_settings": llm_model_settings,
        "fingerprint": fingerprint,
        **usage_jinja_globals(profile.usage),
    }


def _llm_jinja_globals(project_dir: Path) -> dict[str, Any]:
    try:
        from tracesql.llm import jinja_globals
    except (ImportError, AttributeError):
        return {}
    return dict(jinja_globals(project_dir))
