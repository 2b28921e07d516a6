"""`tracesql ls`: the project's models, data tests and sources as rows."""

from __future__ import annotations

from tracesql.compile.selection import select_nodes
from tracesql.project.nodes import DataTest, Model
from tracesql.project.project import Project


def list_nodes(
    project: Project, select: tuple[str, ...], exclude: tuple[str, ...], resource_type: str
) -> tuple[list[str], list[tuple]]:
    """Columns and rows for one resource type ("model", "test", "source" or "all")."""
    graph = project.graph
    assert graph is not None
    if resource_type == "source":
        columns = ["name", "sql", "path"]
        sources: list[tuple] = [
            (f"{s}.{t}", table.sql(), table.path or "(built in)")
            for (s, t), table in sorted(project.sources.items())
        ]
        return columns, sources
    uids = graph.order(select_nodes(graph, select, exclude, with_tests=resource_type != "model"))
    columns = ["name", "resource_type", "materialized", "tags", "parents", "path"]
    rows: list[tuple] = []
    for uid in uids:
        node = graph.nodes[uid]
        if resource_type == "test" and not isinstance(node, DataTest):
            continue
        parents = [graph.nodes[p].name for p in graph.parents[uid]]
        if isinstance(node, Model):
            parents += [f"source:{s}.{t}" for s, t in node.sources]
            kind = node.materialized
        else:
            kind = node.test_type
        rows.append((node.name, node.kind, kind, ",".join(node.tags), ",".join(parents), node.rel_path))
    if resource_type == "model":
        columns.remove("resource_type")
        rows = [row[:1] + row[2:] for row in rows]
    return columns, rows
