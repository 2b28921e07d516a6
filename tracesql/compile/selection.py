"""Node selection, dbt syntax: `-s` / `--exclude` values.

    sessions            a model by name (wildcards: stg_*)
    +sessions           it and all its ancestors (2+sessions: up to two levels)
    sessions+           it and all its descendants (sessions+1: children only)
    @sessions           its descendants and all their ancestors
    tag:nightly         models (and tests) with a tag
    path:models/staging, models/staging/, models/a.sql   by file or folder
    source:traces, source:traces.codex                   models reading a source
    config.materialized:table                            by a config value
    test_type:unique, test_type:singular                 data tests by kind

Space-separated selectors (or repeated -s) are a union; `a,b` is an intersection.
Data tests are selected with their models: a test runs when any model it tests is selected.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

from tracesql.errors import GraphError
from tracesql.project.graph import Graph, suggestion
from tracesql.project.nodes import DataTest, Model

SELECTOR = re.compile(r"^(?P<at>@)?(?:(?P<up>\d*)\+)?(?P<body>[^+]+?)(?:\+(?P<down>\d*))?$")
METHODS = ("tag", "path", "source", "config", "test_type", "fqn", "resource_type")


def select_nodes(
    graph: Graph, select: Sequence[str] = (), exclude: Sequence[str] = (), *, with_tests: bool = False
) -> set[str]:
    """The unique ids a command works on. Models only, unless with_tests."""
    chosen = (
        _union(graph, select)
        if _tokens(select)
        else {uid for uid, n in graph.nodes.items() if isinstance(n, Model)}
    )
    excluded = _union(graph, exclude) if _tokens(exclude) else set()
    models = {uid for uid in chosen - excluded if isinstance(graph.nodes[uid], Model)}
    if not with_tests:
        return models
    tests = {uid for uid in chosen if isinstance(graph.nodes[uid], DataTest)}
    for uid, node in graph.nodes.items():
        if isinstance(node, DataTest) and any(p in models for p in graph.parents[uid]):
            tests.add(uid)
    return models | (tests - excluded)


def _tokens(values: Iterable[str]) -> list[str]:
    return [token for value in values for token in value.split()]


def _union(graph: Graph, values: Iterable[str]) -> set[str]:
    result: set[str] = set()
    for token in _tokens(values):
        parts = [part for part in token.split(",") if part]
        matched = [_select_one(graph, part) for part in parts]
        result |= set.intersection(*matched) if matched else set()
    return result


def _select_one(graph: Graph, text: str) -> set[str]:
    match = SELECTOR.match(text)
    if match is None:
        raise GraphError(f"invalid selector '{text}'")
    base = _match_body(graph, match["body"])
    if not base:
        names = [n.name for n in graph.nodes.values()]
        raise GraphError(f"selector '{text}' matches no model or test{suggestion(match['body'], names)}")
    result = set(base)
    if match["at"]:
        for uid in base:
            below = graph.descendants(uid) | {uid}
            result |= below
            for child in below:
                result |= graph.ancestors(child)
        return result
    if match["up"] is not None:
        depth = int(match["up"]) if match["up"] else None
        for uid in base:
            result |= graph.ancestors(uid, depth)
    if match["down"] is not None:
        depth = int(match["down"]) if match["down"] else None
        for uid in base:
            result |= graph.descendants(uid, depth)
    return result


def _match_body(graph: Graph, body: str) -> set[str]:
    method, _, value = body.partition(":") if ":" in body else ("", "", body)
    key = ""
    if method.startswith("config."):
        method, key = "config", method.removeprefix("config.")
    if method and method not in METHODS:
        raise GraphError(f"unknown selector method '{method}:' (known: {', '.join(METHODS)})")
    if not method and ("/" in value or value.endswith(".sql")):
        method = "path"
    found = set()
    for uid, node in graph.nodes.items():
        if _matches(node, method or "fqn", key, value):
            found.add(uid)
    return found


def _matches(node: Model | DataTest, method: str, key: str, value: str) -> bool:
    if method == "fqn":
        return fnmatch.fnmatchcase(node.name, value)
    if method == "tag":
        return any(fnmatch.fnmatchcase(tag, value) for tag in node.tags)
    if method == "path":
        wanted = PurePosixPath(value.rstrip("/"))
        path = PurePosixPath(node.rel_path)
        return path == wanted or wanted in path.parents or fnmatch.fnmatchcase(str(path), value)
    if method == "resource_type":
        return node.kind == value
    if method == "test_type":
        return isinstance(node, DataTest) and node.test_type == value
    if not isinstance(node, Model):
        return False
    if method == "source":
        return any(fnmatch.fnmatchcase(f"{s}.{t}", value) or s == value for s, t in node.sources)
    if method == "config":
        actual = node.materialized if key == "materialized" else getattr(node.config, key, None)
        values = actual if isinstance(actual, list) else [actual]
        return any(str(v).lower() == value.lower() for v in values)
    return False
