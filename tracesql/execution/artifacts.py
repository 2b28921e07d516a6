"""What a command leaves in target/: compiled SQL, manifest.json, run_results.json."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
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


def manifest(project: Project) -> dict[str, Any]:
    graph = project.graph
    assert graph is not None
    nodes = {}
    for uid, node in graph.nodes.items():
        entry: dict[str, Any] = {
            "unique_id": uid,
            "resource_type": node.kind,
            "name": node.name,
            "path": node.rel_path,
            "tags": node.tags,
            "depends_on": graph.parents[uid],
        }
        if isinstance(node, Model):
            entry.update(
                materialized=node.materialized,
                relation=None if node.materialized == "ephemeral" else str(node.relation),
                config=node.config.model_dump(by_alias=True, exclude_defaults=True),
                description=node.description,
                columns=node.columns,
                sources=[".".join(s) for s in node.sources],
                python_functions=sorted(node.python_functions),
            )
        else:
            entry.update(
                test_type=node.test_type, model=node.model, column=node.column, severity=node.config.severity
            )
        nodes[uid] = entry
    return {
        "metadata": {
            "tracesql_version": __version__,
            "project": project.profile.name,
            "target": project.profile.target_name,
        },
        "nodes": nodes,
        "sources": {
            f"source.{s}.{t}": {"source": s, "name": t, "sql": table.sql(), "path": table.path}
            for (s, t), table in sorted(project.sources.items())
        },
        "disabled": sorted(project.disabled),
    }


def write_manifest(project: Project) -> Path:
    return _write(project, "manifest.json", manifest(project))


def run_results(results: RunResults) -> dict[str, Any]:
    return {
        "metadata": {"tracesql_version": __version__, "generated_at": results.started_at.isoformat()},
        "command": results.command,
        "elapsed_seconds": round(results.elapsed, 4),
        "success": not results.failed,
        "results": [
            {
                "unique_id": r.unique_id,
                "name": r.name,
                "resource_type": r.kind,
                "path": r.path,
                "status": r.status,
                "rows": r.rows,
                "seconds": round(r.seconds, 4),
                "message": r.message,
                "materialized": r.materialized,
                "relation": r.relation,
                "error": str(r.error) if r.error else None,
                "llm_values": r.llm_values,
                "llm_failed": r.llm_failed,
                "kept_previous": r.kept_previous,
                "over_error_rate": r.over_error_rate,
            }
            for r in results.results
        ],
        "llm": results.llm,
    }


def write_run_results(project: Project, results: RunResults) -> Path:
    return _write(project, "run_results.json", run_results(results))


def _write(project: Project, name: str, data: dict[str, Any]) -> Path:
    target = project.target_dir
    target.mkdir(parents=True, exist_ok=True)
    path = target / name
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str))
    os.replace(tmp, path)
    return path
