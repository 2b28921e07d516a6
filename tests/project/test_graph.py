"""The model graph (order, cycles, missing refs) and selection syntax."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write_files
from tracesql.compile.loading import load_project
from tracesql.compile.selection import select_nodes
from tracesql.errors import GraphError
from tracesql.project.graph import Graph
from tracesql.project.nodes import DataTest, Model


def model(name: str, *refs: str, tags: tuple[str, ...] = (), path: str | None = None) -> Model:
    m = Model(
        name=name,
        path=Path(f"/p/{path or f'models/{name}.sql'}"),
        rel_path=path or f"models/{name}.sql",
        raw_sql="",
    )
    m.refs = list(refs)
    m.config.tags = list(tags)
    return m


def graph_of(*models: Model, tests: tuple[DataTest, ...] = ()) -> Graph:
    return Graph({m.name: m for m in models}, {t.name: t for t in tests})


#   a -> b -> d
#   a -> c -> d -> e        f (alone)
MODELS = (
    model("a", tags=("raw",)),
    model("b", "a", path="models/staging/b.sql"),
    model("c", "a", path="models/staging/c.sql"),
    model("d", "b", "c", tags=("report", "raw")),
    model("e", "d"),
    model("f"),
)


def names(graph: Graph, uids) -> list[str]:
    return sorted(graph.nodes[u].name for u in uids)


def test_order_puts_parents_first():
    graph = graph_of(*MODELS)
    order = [graph.nodes[u].name for u in graph.order()]
    assert order == ["a", "b", "c", "d", "e", "f"]
    assert [graph.nodes[u].name for u in graph.order({"model.e", "model.a"})] == ["a", "e"]


def test_cycle_names_every_model_and_file():
    with pytest.raises(GraphError) as info:
        graph_of(model("x", "z"), model("y", "x"), model("z", "y"), model("w"))
    assert str(info.value) == (
        "cycle in the model graph: model 'x' (models/x.sql) -> model 'y' (models/y.sql) -> "
        "model 'z' (models/z.sql) -> model 'x' (models/x.sql)"
    )
    with pytest.raises(GraphError, match=r"model 'self' \(models/self.sql\) -> model 'self'"):
        graph_of(model("self", "self"))


def test_missing_ref_from_a_data_test_names_the_yaml_line():
    test = DataTest(
        name="t", path=Path("/p/models/s.yml"), rel_path="models/s.yml", raw_sql="", test_type="x", line=7
    )
    test.refs = ["nope"]
    with pytest.raises(
        GraphError, match=r"data test 't' \(models/s.yml:7\) refs 'nope', which is not a model"
    ):
        graph_of(model("a"), tests=(test,))


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("d", ["d"]),
        ("+d", ["a", "b", "c", "d"]),
        ("d+", ["d", "e"]),
        ("1+d", ["b", "c", "d"]),
        ("a+1", ["a", "b", "c"]),
        ("+b+", ["a", "b", "d", "e"]),
        ("@b", ["a", "b", "c", "d", "e"]),
        ("tag:raw", ["a", "d"]),
        ("tag:raw,tag:report", ["d"]),
        ("tag:raw tag:nothing_but", None),
        ("path:models/staging", ["b", "c"]),
        ("models/staging/c.sql", ["c"]),
        ("models/staging/", ["b", "c"]),
        ("[bc]", ["b", "c"]),
        ("config.materialized:view", ["a", "b", "c", "d", "e", "f"]),
        ("b c+", ["b", "c", "d", "e"]),
    ],
)
def test_select(selector: str, expected: list[str] | None):
    graph = graph_of(*MODELS)
    if expected is None:
        with pytest.raises(GraphError, match="matches no model or test"):
            select_nodes(graph, (selector,))
        return
    assert names(graph, select_nodes(graph, (selector,))) == expected


def test_exclude_and_default():
    graph = graph_of(*MODELS)
    assert names(graph, select_nodes(graph)) == ["a", "b", "c", "d", "e", "f"]
    assert names(graph, select_nodes(graph, ("+d",), ("b", "a"))) == ["c", "d"]
    assert names(graph, select_nodes(graph, (), ("d+",))) == ["a", "b", "c", "f"]


def test_selector_errors_suggest():
    graph = graph_of(*MODELS)
    with pytest.raises(GraphError, match=r"selector 'dd\+' matches no model or test \(did you mean 'd'\?\)"):
        select_nodes(graph, ("dd+",))
    with pytest.raises(GraphError, match=r"unknown selector method 'color:'"):
        select_nodes(graph, ("color:red",))
    with pytest.raises(GraphError, match="in --exclude|matches no model"):
        select_nodes(graph, (), ("zzz",))


def test_tests_follow_their_models(tmp_path: Path):
    write_files(
        tmp_path,
        {
            "models/a.sql": "select 1 as id",
            "models/b.sql": "select id from {{ ref('a') }}",
            "models/s.yml": """
            models:
              - name: a
                columns: [{name: id, data_tests: [unique]}]
              - name: b
                columns:
                  - name: id
                    data_tests: [not_null, {relationships: {to: "ref('a')", field: id}}]
        """,
            "data_tests/b_small.sql": "select * from {{ ref('b') }} where id > 10",
        },
    )
    project = load_project(tmp_path)
    graph = project.graph
    assert names(graph, select_nodes(graph, ("a",), with_tests=True)) == [
        "a",
        "relationships_b_id",
        "unique_a_id",
    ]
    assert names(graph, select_nodes(graph, ("b",), with_tests=True)) == [
        "b",
        "b_small",
        "not_null_b_id",
        "relationships_b_id",
    ]
    assert names(graph, select_nodes(graph, ("test_type:singular",), with_tests=True)) == ["b_small"]
    assert names(graph, select_nodes(graph, ("b",), ("not_null_b_id",), with_tests=True)) == [
        "b",
        "b_small",
        "relationships_b_id",
    ]
    # a model's tests run right after it
    order = [graph.nodes[u].name for u in graph.order()]
    assert order.index("unique_a_id") < order.index("b")
