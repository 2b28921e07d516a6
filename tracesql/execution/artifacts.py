"""What a command leaves in target/: compiled SQL, manifest.json, run_results.json (both in
dbt's shapes, which dbt's tools and dbt-artifacts-parser read), llm_summary.json."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import orjson

from tracesql.project.nodes import DataTest, Model
from tracesql.version import __version__

if TYPE_CHECKING:
    from tracesql.compile.compiler import Compiled
    from tracesql.execution.runner import RunResults
    from tracesql.project.project import Project


def write_compiled(project: Project, compiled: Iterable[Compiled]) -> list[Path]:
    """target/compiled/<the node's path>.sql for each compiled node."""
    return [write_sql(project, item.node, item.sql) for item in compiled]


def write_sql(project: Project, node: Model | DataTest, sql: str) -> Path:
    path = project.project_dir / project.compiled_path(node)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sql + "\n", encoding="utf-8")
    return path


DBT_MANIFEST_SCHEMA = "https://schemas.getdbt.com/dbt/manifest/v12.json"
DBT_RUN_RESULTS_SCHEMA = "https://schemas.getdbt.com/dbt/run-results/v6.json"
ADAPTER = "duckdb"


def package_name(project: Project) -> str:
    """The project's name as dbt spells a package: an identifier."""
    return re.sub(r"\W", "_", project.profile.name).strip("_").lower() or "project"


def dbt_unique_id(project: Project, unique_id: str) -> str:
    """tracesql's `model.name` / `test.name` as dbt's `model.<package>.name`."""
    kind, _, name = unique_id.partition(".")
    return f"{kind}.{package_name(project)}.{name}"


def manifest(project: Project, invocation_id: str, generated_at: datetime) -> dict[str, Any]:
    """target/manifest.json in dbt's shape (manifest v12): what dbt's tools read (nodes with
    raw and compiled code, depends_on, parent_map, child_map...), tracesql's extras in each
    node's config (python_functions, relation) where dbt allows extra keys."""
    graph = project.graph
    assert graph is not None
    package = package_name(project)
    ids = {uid: dbt_unique_id(project, uid) for uid in graph.nodes}
    nodes = {
        ids[uid]: _node(project, node, ids, graph.parents[uid], package) for uid, node in graph.nodes.items()
    }
    sources = {
        f"source.{package}.{s}.{t}": _source(project, s, t, table, package)
        for (s, t), table in sorted(project.sources.items())
    }
    parent_map: dict[str, list[str]] = {
        ids[uid]: sorted(ids[p] for p in graph.parents[uid]) for uid in graph.nodes
    }
    child_map: dict[str, list[str]] = {key: [] for key in [*parent_map, *sources]}
    for uid, node in graph.nodes.items():
        if isinstance(node, Model):
            parent_map[ids[uid]] += [f"source.{package}.{s}.{t}" for s, t in node.sources]
        for parent in parent_map[ids[uid]]:
            child_map.setdefault(parent, []).append(ids[uid])
    return {
        "metadata": {
            "dbt_schema_version": DBT_MANIFEST_SCHEMA,
            "dbt_version": f"tracesql-{__version__}",
            "generated_at": _iso(generated_at),
            "invocation_id": invocation_id,
            "env": {},
            "project_name": package,
            "adapter_type": ADAPTER,
        },
        "nodes": nodes,
        "sources": sources,
        "macros": {},
        "docs": {},
        "exposures": {},
        "metrics": {},
        "groups": {},
        "selectors": {},
        "disabled": {
            f"model.{package}.{name}": [_node(project, model, ids, [], package)]
            for name, model in sorted(project.disabled.items())
        },
        "parent_map": parent_map,
        "child_map": {key: sorted(children) for key, children in child_map.items()},
        "group_map": {},
        "saved_queries": {},
        "semantic_models": {},
        "unit_tests": {},
    }


def _node(
    project: Project, node: Model | DataTest, ids: dict[str, str], parents: list[str], package: str
) -> dict[str, Any]:
    compiled_path = project.compiled_path(node)
    compiled_file = project.project_dir / compiled_path
    compiled = compiled_file.read_text(encoding="utf-8").rstrip("\n") if compiled_file.is_file() else None
    entry: dict[str, Any] = {
        "database": None,
        "schema": (node.config.schema_ if isinstance(node, Model) else None) or "main",
        "name": node.name,
        "resource_type": node.kind,
        "package_name": package,
        "path": node.rel_path,
        "original_file_path": node.rel_path,
        "unique_id": ids.get(node.unique_id, dbt_unique_id(project, node.unique_id)),
        "fqn": [package, *PurePosixPath(node.rel_path).with_suffix("").parts[1:-1], node.name],
        "tags": node.tags,
        "checksum": {"name": "sha256", "checksum": hashlib.sha256(node.raw_sql.encode()).hexdigest()},
        "raw_code": node.raw_sql,
        "language": "sql",
        "compiled": compiled is not None,
        "compiled_code": compiled,
        "compiled_path": compiled_path if compiled is not None else None,
        "depends_on": {"macros": [], "nodes": sorted(ids[p] for p in parents)},
        "refs": [{"name": ref, "package": None, "version": None} for ref in node.refs],
    }
    if isinstance(node, Model):
        entry.update(
            alias=node.relation.identifier,
            relation_name=None if node.materialized == "ephemeral" else str(node.relation),
            description=node.description,
            columns={
                name: {"name": name, "description": text, "meta": {}, "data_type": None, "tags": []}
                for name, text in node.columns.items()
            },
            meta=node.meta,
            sources=[[s, t] for s, t in node.sources],
            config={
                **node.config.model_dump(by_alias=True, exclude_none=True),
                "materialized": node.materialized,
                "meta": node.meta,
                "python_functions": sorted(node.python_functions),
            },
        )
    else:
        entry.update(
            alias=node.name,
            column_name=node.column,
            attached_node=ids.get(f"model.{node.model}") if node.model else None,
            config={
                "enabled": node.config.enabled,
                "severity": node.config.severity.upper(),
                "tags": node.tags,
                **({"where": node.config.where} if node.config.where else {}),
            },
        )
        if node.test_type != "singular":
            entry["test_metadata"] = {
                "name": node.test_type,
                "kwargs": {"column_name": node.column},
                "namespace": None,
            }
    return entry


def _source(project: Project, source: str, table_name: str, table: Any, package: str) -> dict[str, Any]:
    return {
        "database": None,
        "schema": source,
        "name": table_name,
        "resource_type": "source",
        "package_name": package,
        "path": table.path or "(built in)",
        "original_file_path": table.path or "(built in)",
        "unique_id": f"source.{package}.{source}.{table_name}",
        "fqn": [package, source, table_name],
        "source_name": source,
        "source_description": "",
        "loader": "tracesql",
        "identifier": table_name,
        "description": table.description,
        "relation_name": table.sql(),
    }


def write_manifest(project: Project, invocation_id: str | None = None) -> Path:
    return _write(
        project, "manifest.json", manifest(project, invocation_id or str(uuid.uuid4()), datetime.now(UTC))
    )


def run_results(project: Project, results: RunResults) -> dict[str, Any]:
    """target/run_results.json in dbt's shape (run results v6): per node its status, timing
    (execute), rows (adapter_response.rows_affected), message and relation; `args` says what
    was asked. tracesql's LLM summary is target/llm_summary.json."""
    return {
        "metadata": {
            "dbt_schema_version": DBT_RUN_RESULTS_SCHEMA,
            "dbt_version": f"tracesql-{__version__}",
            "generated_at": _iso(datetime.now(UTC)),
            "invocation_id": results.invocation_id,
            "env": {},
        },
        "elapsed_time": round(results.elapsed, 4),
        "args": {"which": results.command, **results.args},
        "results": [
            {
                "unique_id": dbt_unique_id(project, r.unique_id),
                "status": r.status,
                "timing": _timing(r),
                "thread_id": "Thread-1",
                "execution_time": round(r.seconds, 4),
                "adapter_response": {
                    "_message": r.message,
                    **({"code": r.materialized} if r.materialized else {}),
                    **({"rows_affected": r.rows} if r.rows is not None and r.kind == "model" else {}),
                },
                "message": str(r.error) if r.error and r.status == "error" else (r.message or None),
                "failures": r.rows if r.kind == "test" else None,
                "compiled": r.status != "skipped",
                "relation_name": r.relation,
            }
            for r in results.results
        ],
    }


def _timing(result: Any) -> list[dict[str, Any]]:
    if result.started_at is None or result.status == "skipped":
        return []
    done = result.started_at + timedelta(seconds=result.seconds)
    return [{"name": "execute", "started_at": _iso(result.started_at), "completed_at": _iso(done)}]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_run_results(project: Project, results: RunResults) -> Path:
    _write(
        project,
        "llm_summary.json",
        {"invocation_id": results.invocation_id, "command": results.command, "llm": results.llm},
    )
    return _write(project, "run_results.json", run_results(project, results))


def _write(project: Project, name: str, data: dict[str, Any]) -> Path:
    target = project.target_dir
    target.mkdir(parents=True, exist_ok=True)
    path = target / name
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str))
    os.replace(tmp, path)
    return path
