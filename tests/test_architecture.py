"""The package's shape: no import cycles, few loose modules, layers kept (see docs/architecture.md).

The layer contract itself is checked by import-linter (`lint-imports`, run by .ci/run);
these tests check what it does not: cycles anywhere, imports inside functions included.
"""

from __future__ import annotations

from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parents[1] / "tracesql"


def strongly_connected(adjacency: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in adjacency:
        if root in index:
            continue
        work = [(root, iter(sorted(adjacency[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(adjacency[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def import_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph("tracesql", exclude_type_checking_imports=True)
    modules = set(graph.modules)
    return {m: set(graph.find_modules_directly_imported_by(m)) & modules for m in modules}


def test_cycle_finder_finds_a_cycle():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_in_the_package():
    assert strongly_connected(import_graph()) == []


def test_at_most_eight_loose_modules():
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(loose) <= 8, loose


def test_each_reader_format_is_a_subpackage_listed_in_the_registry():
    from tracesql.readers.registry import FORMATS

    packages = {p.parent.name for p in (PACKAGE / "readers").glob("*/__init__.py")}
    assert {cls.name for cls in FORMATS} == packages
    priorities = [cls.sniff_priority for cls in FORMATS]
    assert len(set(priorities)) == len(priorities), "two formats share a sniff priority"


def test_the_registry_names_each_readers_sql_function_as_the_reader_does():
    from tracesql.readers.registry import READERS, SQL_FUNCTIONS

    assert list(SQL_FUNCTIONS.items()) == [(name, cls.function_name) for name, cls in READERS.items()]


def test_every_data_file_of_the_package_is_in_the_wheel() -> None:
    """A file the package reads at run time (price table, built-in macros) ships only if
    pyproject's package-data names it; an editable install hides the omission."""
    import tomllib

    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["tracesql"]
    shipped = {p for pattern in patterns for p in PACKAGE.glob(pattern)}
    data = {
        p
        for p in PACKAGE.rglob("*")
        if p.is_file() and p.suffix not in {".py", ".pyc", ".pyi"} and "__pycache__" not in p.parts
    }
    assert data, "the package has data files (prices.yml, macros)"
    assert sorted(map(str, data - shipped)) == []
