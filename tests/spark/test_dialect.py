"""Each rewrite of dialect.py against both engines: the same DuckDB query, run by DuckDB and
(translated) by Spark over the same rows, gives the same values."""

from __future__ import annotations

from typing import Any

import pytest
import sqlglot

import tracesql
from tracesql.secrets.keys import project_key
from tracesql.spark.dialect import parse_duckdb, to_spark

DATA = """
SELECT * FROM (VALUES
    (1, [10, 20, 30, 40, 50], 2, 'a'),
    (2, [7], 0, 'b'),
    (3, []::INTEGER[], -1, 'c'),
    (4, NULL::INTEGER[], 3, 'd')
) AS t(id, l, k, s)
"""


@pytest.fixture
def both(spark: Any, tmp_path: Any):
    """run(query, data) -> (DuckDB's rows, Spark's rows), ordered by their first column."""
    con = tracesql.connect(project=False, spill_dir=str(tmp_path))
    from tracesql.spark.functions import register_text_functions

    register_text_functions(spark, project_key(tmp_path))

    def run(query: str, data: str = DATA) -> tuple[list[dict], list[dict]]:
        table = con.sql(data).arrow()
        table = table.read_all() if hasattr(table, "read_all") else table
        con.duckdb.register("t", table)
        spark.createDataFrame(table).createOrReplaceTempView("t")
        duck = con.sql(query).arrow()
        duck = duck.read_all() if hasattr(duck, "read_all") else duck
        ours = spark.sql(to_spark(query).sql).toArrow()
        key = duck.column_names[0]
        return (
            sorted(duck.to_pylist(), key=lambda r: str(r[key])),
            sorted(ours.to_pylist(), key=lambda r: str(r[key])),
        )

    yield run
    con.close()


def test_len_of_a_list_is_size(both):
    duck, spark = both("SELECT id, len(l) AS n FROM t")
    assert duck == spark and [r["n"] for r in duck] == [5, 1, 0, None]


def test_list_index_is_one_based_negative_from_the_end_and_null_out_of_range(both):
    duck, spark = both(
        "SELECT id, l[1] AS first, l[0] AS zero, l[-1] AS last, l[9] AS far, l[k] AS kth, l[len(l)] AS n FROM t"
    )
    assert duck == spark
    assert duck[0] == {"id": 1, "first": 10, "zero": None, "last": 50, "far": None, "kth": 20, "n": 50}


def test_sqlglot_alone_gets_the_index_wrong(spark):
    # why the rewrite exists: sqlglot's own translation of l[k] for an untyped k is 0-based on Spark
    plain = sqlglot.transpile(
        "SELECT [10, 20, 30][k] AS v FROM (SELECT 1 AS k)", read="duckdb", write="spark"
    )[0]
    assert spark.sql(plain).collect()[0]["v"] == 20  # DuckDB says 10
    assert spark.sql(to_spark("SELECT [10, 20, 30][k] AS v FROM (SELECT 1 AS k)").sql).collect()[0]["v"] == 10


@pytest.mark.parametrize(
    "slice_",
    [
        "l[2:3]",
        "l[0:2]",
        "l[-2:]",
        "l[:2]",
        "l[4:2]",
        "l[3:10]",
        "l[6:]",
        "l[-10:2]",
        "l[2:-2]",
        "l[k:]",
        "l[1:k]",
        "l[greatest(len(l) - 3, 2):]",
    ],
)
def test_list_slices_match(both, slice_):
    duck, spark = both(f"SELECT id, {slice_} AS part FROM t")
    assert duck == spark


def test_a_null_slice_bound_gives_null(both):
    duck, spark = both("SELECT id, l[NULL::INTEGER:2] AS part FROM t")
    assert duck == spark and all(r["part"] is None for r in duck)


def test_list_comprehensions_become_transform_and_filter(both):
    duck, spark = both(
        "SELECT id, [x * 2 for x in l if x > 15] AS doubled, [x + 1 for x in l] AS plus FROM t"
    )
    assert duck == spark and duck[0]["doubled"] == [40, 60, 80, 100]


def test_unnest_with_ordinality_is_one_based(both):
    duck, spark = both("SELECT id, x, i FROM t, unnest(l) WITH ORDINALITY AS u(x, i)")
    assert duck == sorted(spark, key=lambda r: str(r["id"])) or sorted(duck, key=str) == sorted(
        spark, key=str
    )
    assert sorted((r["x"], r["i"]) for r in spark if r["id"] == 1) == [
        (10, 1),
        (20, 2),
        (30, 3),
        (40, 4),
        (50, 5),
    ]


def test_parallel_unnests_are_zipped(both):
    duck, spark = both(
        "SELECT id, unnest(l) AS x, unnest(range(1, len(l) + 2)) AS i FROM t",
    )
    assert sorted(duck, key=str) == sorted(spark, key=str)
    assert [(r["x"], r["i"]) for r in duck if r["id"] == 2] == [(7, 1), (None, 2)]


def test_row_values_in_a_subquery(both):
    duck, spark = both("SELECT id FROM t WHERE (id, s) NOT IN (SELECT (id, s) FROM t WHERE id > 2)")
    assert duck == spark and [r["id"] for r in duck] == [1, 2]


def test_json_casts_keep_the_text(both):
    duck, spark = both("""SELECT id, ('{"n": ' || id || '}')::JSON::VARCHAR AS j FROM t""")
    assert duck == spark


def test_message_text_is_inlined(both):
    data = """
        SELECT 1 AS id, {'content': [{'type': 'text', 'text': 'one', 'data': NULL},
                                     {'type': 'image', 'text': NULL, 'data': '{}'},
                                     {'type': 'text', 'text': 'two', 'data': NULL}]} AS m
        UNION ALL SELECT 2, {'content': NULL}
    """
    duck, spark = both("SELECT id, message_text(m) AS text FROM t", data)
    assert duck == spark and duck[0]["text"] == "one\n\ntwo"


def test_the_portable_hash_of_the_example_project_is_the_same(both):
    from tracesql.compile.loading import load_project

    macro = load_project(".").templates.macros["hash_number"][0]
    duck, spark = both(f"SELECT id, {macro('s || cast(id AS VARCHAR)')} AS h FROM t")
    assert duck == spark and len({r["h"] for r in duck}) == 4


def test_redact_inside_lambdas_is_lifted_out_for_spark(both):
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    data = f"""
        SELECT 1 AS id, ['my key is {token} ok', 'nothing here'] AS texts,
               [{{'args': ['token={token}', 'x']}}] AS calls
    """
    duck, spark = both(
        "SELECT id, list_transform(texts, lambda x: left(redact(x), 30)) AS cut, "
        "list_transform(calls, lambda c: list_transform(c.args, lambda a: upper(redact(a)))) AS nested, "
        "list_filter(texts, lambda x: redact(x) <> x) AS secret FROM t",
        data,
    )
    assert duck == spark
    assert token not in str(spark[0]["cut"]) + str(spark[0]["nested"]) and "REDACTED" in spark[0]["cut"][0]
    assert spark[0]["secret"] == [f"my key is {token} ok"]


def test_a_lambdas_lifted_calls_run_in_one_python_stage(both, spark):
    """Two redact() calls in one lambda (one of them in a nested lambda, as in the example
    project's prompt_messages macro) are lifted side by side, neither fed by the other's
    output, so Spark evaluates them in one Python stage, not a stage (and worker) each."""
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    data = f"""
        SELECT 1 AS id, [{{'name': 'see {token}', 'args': ['token={token}', 'x']}},
                         {{'name': 'plain', 'args': []::VARCHAR[]}}] AS calls
    """
    query = (
        "SELECT id, list_transform(calls, lambda c: {'n': left(redact(c.name), 20), "
        "'a': list_transform(c.args, lambda a: upper(redact(a)))}) AS out FROM t"
    )
    duck, ours = both(query, data)
    assert duck == ours
    assert token not in str(ours) and "REDACTED" in ours[0]["out"][0]["n"]
    plan = spark.sql(to_spark(query).sql)._jdf.queryExecution().executedPlan().toString()
    assert plan.count("ArrowEvalPython") == 1


def test_reader_calls_become_views_with_their_options():
    query = to_spark(
        "SELECT * FROM codex_traces('/x', max_traces := 3, strict := true) JOIN traces('/y') USING (trace_key)"
    )
    assert [(r.source_kind, dict(r.options)) for r in query.reads] == [
        ("codex", {"path": "/x", "max_traces": 3, "strict": True}),
        ("auto", {"path": "/y"}),
    ]
    assert all(r.view in query.sql for r in query.reads)


def test_indexes_are_parsed_as_written():
    # sqlglot's DuckDB reader shifts indexes it can type; ours keeps them
    tree = parse_duckdb("SELECT l[-1], l[1] FROM t")
    assert [b.expressions[0].sql() for b in tree.find_all(sqlglot.exp.Bracket)] == ["-1", "1"]


def test_epoch_of_instants_and_of_their_differences_keeps_fractions(both):
    data = """
        SELECT 1 AS id, TIMESTAMPTZ '2026-01-02 03:04:05.25+00' AS a, TIMESTAMPTZ '2026-01-02 03:05:06.75+00' AS b
        UNION ALL SELECT 2, NULL, TIMESTAMPTZ '2026-01-02 00:00:00+00'
    """
    duck, spark = both("SELECT id, epoch(b - a) AS seconds, epoch(a) AS at FROM t", data)
    assert duck == spark and duck[0]["seconds"] == 61.5


def test_range_tables(both):
    duck, spark = both("SELECT id, id * id AS sq FROM range(1, 4) AS r(id)", "SELECT 1 AS unused")
    assert duck == spark and [r["id"] for r in duck] == [1, 2, 3]
    duck, spark = both("SELECT id FROM generate_series(2, 3) AS g(id)", "SELECT 1 AS unused")
    assert duck == spark and [r["id"] for r in duck] == [2, 3]
