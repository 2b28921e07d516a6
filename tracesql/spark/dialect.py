"""DuckDB SQL (the authoring dialect) to Spark SQL: sqlglot's transpiler plus tracesql's rewrites.

sqlglot alone runs some models on Spark and gets others silently wrong. The rewrites here
make the DuckDB constructs models use compute the same values on Spark (each has a test
against both engines, tests/spark/test_dialect.py):

| DuckDB | Spark | why |
|---|---|---|
| `len(list)` | `SIZE(list)` | sqlglot writes LENGTH, which is for strings |
| `l[k]` | `TRY_ELEMENT_AT(l, NULLIF(k, 0))` | DuckDB is 1-based with NULL out of range; `l[k]` on Spark is 0-based, and ANSI Spark raises |
| `l[a:b]` | `FILTER(l, (e, i) -> ...)` | 1-based inclusive bounds, negative from the end, out of range clamped |
| `[f(x) for x in l if c]` | `TRANSFORM(FILTER(l, x -> c), x -> f(x))` | no comprehensions in Spark |
| `unnest(l) WITH ORDINALITY AS u(x, i)` | `LATERAL VIEW INLINE(TRANSFORM(l, (e, j) -> STRUCT(e, j + 1)))` | POSEXPLODE is 0-based |
| `unnest(a) AS x, unnest(b) AS y` | `INLINE(ARRAYS_ZIP(a, b)) AS (x, y)` | one generator per SELECT in Spark; DuckDB zips |
| `(a, b) IN (SELECT (a, b) ...)` | `(a, b) IN (SELECT a, b ...)` | a row value, not a struct column |
| `x::JSON` | `CAST(x AS STRING)` | JSON is text on Spark |
| tracesql's functions | their Spark forms (spark/functions.py) | `message_text`, `llm*`, readers |

What cannot be rewritten is reported by the lint (spark/lint.py) before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB

from tracesql.errors import CompileError
from tracesql.llm.names import CALLING_FUNCTIONS
from tracesql.readers.registry import READERS
from tracesql.spark.spread import spread_llm_rows

READER_FUNCTIONS = {cls.function_name: name for name, cls in READERS.items()}
READER_ARGUMENTS = (
    "path",
    "file_pattern",
    "recursive",
    "max_traces",
    "shuffle",
    "seed",
    "partition_index",
    "partition_count",
    "strict",
    "follow_symlinks",
    "max_line_bytes",
    "max_diagnostics",
    "off_path_warning",
    "redact",
)
LLM_OPTIONS = ("model", "system", "vars", "temperature", "top_p", "max_tokens")
CALL_UDF = "__tracesql_llm"
RENDER_UDF = "__tracesql_llm_render"
DIAGNOSTICS_VIEW = "__tracesql_trace_diagnostics"
TO_JSON_OPTIONS = "MAP('ignoreNullFields', 'false')"  # DuckDB's to_json keeps null fields


@dataclass(frozen=True)
class ReaderCall:
    """A trace reader called in a query: the view it becomes on Spark, its format and options."""

    view: str
    source_kind: str
    options: tuple[tuple[str, Any], ...]


@dataclass
class SparkQuery:
    sql: str
    reads: list[ReaderCall] = field(default_factory=list)
    reads_diagnostics: bool = False


def to_spark(sql: str, *, prefix: str = "q", llm_partitions: int | None = None) -> SparkQuery:
    """The Spark SQL of one DuckDB query, and the reader calls it needs as views. With
    `llm_partitions`, the rows an LLM call is made for are spread over that many tasks."""
    tree = parse_duckdb(sql)
    query = SparkQuery("")
    tree = rewrite(tree, sql, query, prefix)
    if llm_partitions:
        spread_llm_rows(tree, llm_partitions, CALL_UDF)
    query.sql = tree.sql("spark", pretty=True)
    return query


def rewrite(tree: exp.Expr, sql: str, query: SparkQuery | None = None, prefix: str = "q") -> exp.Expr:
    """Apply every rewrite to a DuckDB tree parsed from `sql` (then generated as Spark SQL)."""
    query = query if query is not None else SparkQuery("")
    for node in tree.find_all(exp.Length):
        start, end = node.meta.get("start"), node.meta.get("end")
        if isinstance(start, int) and isinstance(end, int):
            node.meta["name"] = sql[start : end + 1]
    tree = _rewrite_tree(tree.copy() if tree.parent is None else tree, query, prefix)
    for select in list(tree.find_all(exp.Select)):
        _zip_unnests(select)
        _ordinality_joins(select)
    return lift_python_calls(tree)


class TracesqlDuckDB(DuckDB):
    """DuckDB as sqlglot reads it, but with list indexes kept as written: sqlglot shifts an
    index it can type (`l[-1]` becomes `l[-2]`, `l[len(l)]` becomes `l[len(l) - 1]`) and
    leaves the others, so the tree would mix 0- and 1-based indexes."""

    INDEX_OFFSET = 0


def parse_duckdb(sql: str) -> exp.Expr:
    return sqlglot.parse_one(sql, read=TracesqlDuckDB)


def _ordinality_joins(select: exp.Select) -> None:
    """`FROM t, unnest(l) WITH ORDINALITY AS u(x, i)` becomes a LATERAL VIEW (1-based i)."""
    for join in list(select.args.get("joins") or []):
        unnest = join.this
        if isinstance(unnest, exp.Unnest) and unnest.args.get("offset"):
            join.pop()
            select.append("laterals", _ordinality(unnest))


def _rewrite_tree(node: exp.Expr, query: SparkQuery, prefix: str) -> exp.Expr:
    """Children first, so that a rewrite builds on rewritten arguments."""
    for child in list(node.iter_expressions()):
        new = _rewrite_tree(child, query, prefix)
        if new is not child:
            child.replace(new)
    return _rewrite_node(node, query, prefix)


def _rewrite_node(node: exp.Expr, query: SparkQuery, prefix: str) -> exp.Expr:
    if isinstance(node, exp.Length) and _spelled(node, "len"):
        return exp.ArraySize(this=node.this)
    if isinstance(node, exp.Bracket) and len(node.expressions) == 1:
        index = node.expressions[0]
        if isinstance(index, exp.Slice):
            return list_slice(node.this, index.this, index.expression)
        if not (isinstance(index, exp.Literal) and index.is_string):
            return element_at(node.this, index)
    if isinstance(node, exp.Array) and len(node.expressions) == 1:
        comprehension = node.expressions[0]
        if isinstance(comprehension, exp.Comprehension):
            return _comprehension(comprehension)
    if isinstance(node, exp.In) and isinstance(node.args.get("query"), exp.Subquery | exp.Select):
        _flatten_row_subquery(node)
    if isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.JSON):
        return exp.cast(node.this, exp.DataType.build("STRING"))
    if isinstance(node, exp.Anonymous):
        return _tracesql_function(node, query, prefix)
    if isinstance(node, exp.GenerateSeries) and isinstance(node.parent, exp.Table):
        return _range_table(node)
    if isinstance(node, exp.TimeToUnix):
        return _epoch(node.this)
    return node


def _epoch(value: exp.Expr) -> exp.Expr:
    """DuckDB's epoch(ts) and epoch(ts1 - ts2): seconds as a DOUBLE, fractions kept (sqlglot
    writes UNIX_TIMESTAMP, whole seconds, which takes no interval)."""

    def micros(ts: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="UNIX_MICROS", expressions=[ts])

    if isinstance(value, exp.Sub):
        diff: exp.Expr = exp.Sub(this=micros(value.this), expression=micros(value.expression))
    else:
        diff = micros(value)
    return exp.Div(this=exp.Paren(this=diff), expression=sqlglot.parse_one("1e6", read="spark"))


def _range_table(node: exp.GenerateSeries) -> exp.Expr:
    """`FROM range(a, b)` / `generate_series(a, b)`: Spark's range() (end excluded, column `id`)."""
    end = node.args["end"]
    if not node.args.get("is_end_exclusive"):
        end = exp.Add(this=end, expression=exp.Literal.number(1))
    arguments = [node.args["start"], end] + ([node.args["step"]] if node.args.get("step") else [])
    return exp.Anonymous(this="RANGE", expressions=arguments)


def _spelled(func: exp.Expr, name: str) -> bool:
    """Whether the function was written with this name (sqlglot maps len and length to one node)."""
    spelled = func.meta.get("name")
    if spelled is not None:
        return str(spelled).lower() == name
    return True


def element_at(target: exp.Expr, index: exp.Expr) -> exp.Expr:
    """`l[k]`, 1-based, NULL out of range (DuckDB's `l[0]` is NULL too)."""
    if isinstance(index, exp.Literal) and not index.is_string and int(index.this) != 0:
        safe: exp.Expr = index
    else:
        safe = exp.Nullif(this=index, expression=exp.Literal.number(0))
    return exp.Anonymous(this="TRY_ELEMENT_AT", expressions=[target, safe])


def list_slice(target: exp.Expr, begin: exp.Expr | None, end: exp.Expr | None) -> exp.Expr:
    """DuckDB's `l[a:b]`: 1-based, both ends included, a negative bound counts from the end,
    bounds out of range are clamped, a NULL bound gives NULL."""
    size = exp.ArraySize(this=target.copy())
    position = exp.Add(this=exp.to_identifier("__i"), expression=exp.Literal.number(1))

    def bound(value: exp.Expr) -> exp.Expr:
        if isinstance(value, exp.Literal) and not value.is_string and int(value.this) >= 0:
            return value
        if isinstance(value, exp.Neg) and isinstance(value.this, exp.Literal):
            return exp.Add(this=size.copy(), expression=exp.Literal.number(1 - int(value.this.this)))
        return exp.Case(
            ifs=[
                exp.If(
                    this=exp.LT(this=value.copy(), expression=exp.Literal.number(0)),
                    true=exp.Add(
                        this=exp.Add(this=size.copy(), expression=value.copy()),
                        expression=exp.Literal.number(1),
                    ),
                )
            ],
            default=value.copy(),
        )

    conditions: list[exp.Expr] = []
    if begin is not None:
        conditions.append(exp.GTE(this=position.copy(), expression=bound(begin)))
    if end is not None:
        conditions.append(exp.LTE(this=position.copy(), expression=bound(end)))
    if not conditions:
        return target
    condition = conditions[0] if len(conditions) == 1 else exp.and_(*conditions)
    lambda_ = exp.Lambda(this=condition, expressions=[exp.to_identifier("__e"), exp.to_identifier("__i")])
    filtered: exp.Expr = exp.ArrayFilter(this=target, expression=lambda_)
    nullable = [b for b in (begin, end) if b is not None and not _constant_number(b)]
    if nullable:
        is_null = exp.or_(*[exp.Is(this=b.copy(), expression=exp.Null()) for b in nullable])
        filtered = exp.If(this=is_null, true=exp.Null(), false=filtered)
    return filtered


def _constant_number(value: exp.Expr) -> bool:
    return (isinstance(value, exp.Literal) and not value.is_string) or (
        isinstance(value, exp.Neg) and isinstance(value.this, exp.Literal)
    )


def _comprehension(node: exp.Comprehension) -> exp.Expr:
    variable = node.expression
    names = [variable] if isinstance(variable, exp.Identifier) else list(variable.expressions)
    items = node.args["iterator"]
    condition = node.args.get("condition")
    if condition is not None:
        items = exp.ArrayFilter(this=items, expression=exp.Lambda(this=condition, expressions=names))
    return exp.Transform(this=items, expression=exp.Lambda(this=node.this, expressions=names))


def _ordinality(node: exp.Unnest) -> exp.Expr:
    """`unnest(l) WITH ORDINALITY AS u(x, i)`: the elements with their 1-based position."""
    alias = node.args.get("alias")
    columns = [c.name for c in alias.columns] if alias is not None else []
    offset = node.args["offset"]
    value_name = columns[0] if columns else "unnest"
    position_name = offset.name if isinstance(offset, exp.Identifier) else "ordinality"
    if len(node.expressions) != 1:
        raise CompileError("unnest(...) WITH ORDINALITY of several lists has no Spark form: unnest one list")
    zipped = exp.Transform(
        this=node.expressions[0],
        expression=exp.Lambda(
            this=exp.Struct(
                expressions=[
                    exp.PropertyEQ(this=exp.to_identifier(value_name), expression=exp.to_identifier("__e")),
                    exp.PropertyEQ(
                        this=exp.to_identifier(position_name),
                        expression=exp.Add(this=exp.to_identifier("__j"), expression=exp.Literal.number(1)),
                    ),
                ]
            ),
            expressions=[exp.to_identifier("__e"), exp.to_identifier("__j")],
        ),
    )
    table_alias = exp.TableAlias(
        this=exp.to_identifier(alias.name if alias is not None and alias.name else "__u"),
        columns=[exp.to_identifier(value_name), exp.to_identifier(position_name)],
    )
    return exp.Lateral(this=exp.Inline(this=zipped), view=True, alias=table_alias)


def _flatten_row_subquery(node: exp.In) -> None:
    """`(a, b) IN (SELECT (x, y) ...)`: DuckDB compares a row with a row; Spark wants two columns."""
    query = node.args["query"]
    select = query.this if isinstance(query, exp.Subquery) else query
    if isinstance(select, exp.Select) and len(select.expressions) == 1:
        only = select.expressions[0]
        if isinstance(only, exp.Tuple | exp.Paren) and isinstance(only, exp.Tuple):
            select.set("expressions", list(only.expressions))


def _zip_unnests(select: exp.Select) -> None:
    """Several `unnest()`s in one SELECT list (DuckDB zips them) become one INLINE(ARRAYS_ZIP)."""
    positions = [
        i for i, e in enumerate(select.expressions) if isinstance(_unaliased(e), exp.Explode | exp.Unnest)
    ]
    if len(positions) < 2:
        return
    if positions != list(range(positions[0], positions[-1] + 1)):
        raise CompileError(
            "several unnest() calls in one SELECT must be next to each other for Spark (move the other columns)"
        )
    arrays: list[exp.Expr] = []
    names: list[exp.Identifier] = []
    for i in positions:
        expression = select.expressions[i]
        inner = _unaliased(expression)
        arrays.append(inner.this if isinstance(inner, exp.Explode) else inner.expressions[0])
        names.append(exp.to_identifier(expression.alias or f"unnest_{len(names) + 1}"))
    generator = exp.Aliases(this=exp.Inline(this=exp.ArraysZip(expressions=arrays)), expressions=names)
    kept = select.expressions[: positions[0]] + [generator] + select.expressions[positions[-1] + 1 :]
    select.set("expressions", kept)


def _unaliased(expression: exp.Expr) -> exp.Expr:
    return expression.this if isinstance(expression, exp.Alias) else expression


# -- tracesql's functions ---------------------------------------------------------------


def _arguments(node: exp.Anonymous, positional: tuple[str, ...]) -> dict[str, exp.Expr]:
    """A call's arguments by name (`name := value`, or by position)."""
    found: dict[str, exp.Expr] = {}
    for i, argument in enumerate(node.expressions):
        if isinstance(argument, exp.PropertyEQ | exp.Kwarg):
            found[argument.name.lower()] = argument.expression
        elif i < len(positional):
            found[positional[i]] = argument
        else:
            raise CompileError(f"{node.name}(): too many arguments")
    return found


def _tracesql_function(node: exp.Anonymous, query: SparkQuery, prefix: str) -> exp.Expr:
    name = node.name.lower()
    if name == "message_text":
        return message_text(node.expressions[0])
    if name in CALLING_FUNCTIONS:
        return llm_call(node, name)
    if name == "llm_render":
        args = _arguments(node, ("template", "vars"))
        return exp.Anonymous(this=RENDER_UDF, expressions=[args["template"], _to_json(args.get("vars"))])
    if name in READER_FUNCTIONS and isinstance(node.parent, exp.Table):
        return _reader_view(node, query, prefix)
    if name == "trace_diagnostics" and isinstance(node.parent, exp.Table):
        query.reads_diagnostics = True
        return exp.to_identifier(DIAGNOSTICS_VIEW)
    return node


def message_text(message: exp.Expr) -> exp.Expr:
    """tracesql's message_text(m): the message's non-empty text blocks, joined by blank lines."""
    content = exp.Dot(this=message, expression=exp.to_identifier("content"))
    text = sqlglot.parse_one(
        "ARRAY_JOIN(TRANSFORM(FILTER(__content, __b -> COALESCE(__b.text, '') <> ''), "
        "__b -> __b.text), CHR(10) || CHR(10))",
        read="spark",
    )
    placeholder = next(c for c in text.find_all(exp.Column) if c.name == "__content")
    placeholder.replace(content)
    return text


def _to_json(value: exp.Expr | None) -> exp.Expr:
    if value is None:
        return exp.Null()
    return exp.Anonymous(
        this="TO_JSON", expressions=[value, sqlglot.parse_one(TO_JSON_OPTIONS, read="spark")]
    )


def llm_call(node: exp.Anonymous, name: str) -> exp.Expr:
    """llm(), llm_json(), llm_struct(), llm_judge(), llm_response() as the Spark UDF call."""
    from tracesql.llm.functions import structure_of

    positional = ("prompt",) if name == "llm" else ("prompt", "spec")
    if name == "llm_response":
        positional = ("prompt",)
    args = _arguments(node, positional + LLM_OPTIONS)
    if name == "llm_response":
        spec_expr = args.get("scores") or args.get("schema")
        kind = "full_judge" if "scores" in args else ("full_json" if "schema" in args else "full")
    else:
        spec_expr = args.get("spec")
        kind = {"llm": "text", "llm_json": "json", "llm_struct": "json", "llm_judge": "judge"}[name]
    spec: str | None = None
    if spec_expr is not None:
        if not (isinstance(spec_expr, exp.Literal) and spec_expr.is_string):
            raise CompileError(f"{name}(): on Spark the schema must be a string literal")
        spec = spec_expr.this
    call = exp.Anonymous(
        this=CALL_UDF,
        expressions=[
            exp.Literal.string(kind),
            args["prompt"],
            exp.Literal.string(spec) if spec is not None else exp.cast(exp.Null(), "STRING"),
            _to_json(args.get("vars")),
            _typed(args.get("model"), "STRING"),
            _typed(args.get("system"), "STRING"),
            _typed(args.get("temperature"), "DOUBLE"),
            _typed(args.get("top_p"), "DOUBLE"),
            _typed(args.get("max_tokens"), "BIGINT"),
        ],
    )
    if name in ("llm",):
        return call
    if name == "llm_json":
        return call
    structure = structure_of(kind, spec)
    return exp.Anonymous(this="FROM_JSON", expressions=[call, exp.Literal.string(spark_type(structure))])


def _typed(value: exp.Expr | None, kind: str) -> exp.Expr:
    return exp.cast(value if value is not None else exp.Null(), kind)


def spark_type(structure: str) -> str:
    """A `from_json` structure (DuckDB's JSON notation of a type) as a Spark DDL type."""
    import orjson

    def ddl(value: Any) -> str:
        if isinstance(value, dict):
            return "STRUCT<" + ", ".join(f"`{k}`: {ddl(v)}" for k, v in value.items()) + ">"
        if isinstance(value, list):
            return f"ARRAY<{ddl(value[0])}>"
        text = str(value)
        if text.upper() == "JSON":
            return "STRING"
        return exp.DataType.build(text, dialect="duckdb").sql("spark")

    return ddl(orjson.loads(structure))


def _reader_view(node: exp.Anonymous, query: SparkQuery, prefix: str) -> exp.Expr:
    args = _arguments(node, READER_ARGUMENTS)
    options: list[tuple[str, Any]] = []
    for key, value in args.items():
        if key not in READER_ARGUMENTS:
            raise CompileError(f"{node.name}(): unknown argument '{key}'")
        options.append((key, _literal_value(value, node.name, key)))
    call = ReaderCall(
        f"__tracesql_{prefix}_read_{len(query.reads) + 1}",
        READER_FUNCTIONS[node.name.lower()],
        tuple(options),
    )
    query.reads.append(call)
    return exp.to_identifier(call.view)


def _literal_value(value: exp.Expr, function: str, key: str) -> Any:
    if isinstance(value, exp.Null):
        return None
    if isinstance(value, exp.Boolean):
        return bool(value.this)
    if isinstance(value, exp.Literal):
        return value.this if value.is_string else _number(value.this)
    if isinstance(value, exp.Neg) and isinstance(value.this, exp.Literal):
        return -_number(value.this.this)
    raise CompileError(f"{function}({key} := ...): on Spark a reader's arguments must be constants")


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def spark_name(relation: Any) -> str:
    """A model's relation as Spark names it (`schema`.`name`)."""
    parts = [relation.schema, relation.identifier] if relation.schema else [relation.identifier]
    return ".".join(f"`{p.replace('`', '``')}`" for p in parts)


# -- Python functions inside lambdas ------------------------------------------------------------

# Spark runs no Python UDF inside a lambda (`TRANSFORM(l, m -> redact(...))`). Each such call is
# lifted out: its argument is computed for every element by a TRANSFORM of its own, passed
# through the list-taking form of the function (`__TRACESQL_REDACT_1` redacts an array of
# strings, `_2` an array of arrays...), and zipped with the list the lambda walks:
#     TRANSFORM(l, m -> f(m, redact(g(m)), redact(h(m))))
#  -> TRANSFORM(ARRAYS_ZIP(IF(TRUE, l, NULL), IF(TRUE, __TRACESQL_REDACT_1(TRANSFORM(l, m -> g(m))), NULL),
#                          IF(TRUE, __TRACESQL_REDACT_1(TRANSFORM(l, m -> h(m))), NULL)),
#               __z1 -> f(__z1.`0`, __z1.`1`, __z1.`2`))
# A lambda's calls are lifted together, each over the list as it was, so none takes another's
# output as its input: Spark evaluates them in one Python stage (a worker per task) rather
# than a stage each. Nested lambdas lift innermost first, one level at a time (the lifted call
# is itself inside the outer lambda, lifted with that lambda's own calls).
LIFTABLE = ("redact", "anonymize")
LIFTED_DEPTH = 3


def _liftable(node: exp.Expr) -> tuple[str, int] | None:
    if not isinstance(node, exp.Anonymous):
        return None
    name = node.name.lower()
    if name in LIFTABLE:
        return name, 0
    for kind in LIFTABLE:
        prefix = f"__tracesql_{kind}_"
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            return kind, int(name[len(prefix) :])
    return None


def _enclosing_lambda(node: exp.Expr) -> exp.Lambda | None:
    parent = node.parent
    while parent is not None and not isinstance(parent, exp.Query):
        if isinstance(parent, exp.Lambda):
            return parent
        parent = parent.parent
    return None


def _calls_in_lambdas(tree: exp.Expr) -> list[tuple[exp.Anonymous, exp.Lambda]]:
    return [
        (call, lam)
        for call in tree.find_all(exp.Anonymous)
        if _liftable(call) is not None and (lam := _enclosing_lambda(call)) is not None
    ]


def lift_python_calls(tree: exp.Expr) -> exp.Expr:
    counter = 0
    while found := _calls_in_lambdas(tree):
        lam = found[0][1]
        while deeper := [inner for _, inner in _calls_in_lambdas(lam) if inner is not lam]:
            lam = deeper[0]  # innermost first: its lifted calls join the outer lambda's
        calls = [
            call
            for call, enclosing in _calls_in_lambdas(lam)
            if enclosing is lam and not any(_liftable(a) for a in _ancestors(call, lam))
        ]
        counter += 1
        _lift(calls, lam, f"__z{counter}")
    return tree


def _ancestors(node: exp.Expr, stop: exp.Expr) -> list[exp.Expr]:
    found = []
    parent = node.parent
    while parent is not None and parent is not stop:
        found.append(parent)
        parent = parent.parent
    return found


def _lift(calls: list[exp.Anonymous], lam: exp.Lambda, zipped_name: str) -> None:
    hof = lam.parent
    for call in calls:
        kind, depth = _liftable(call) or ("", 0)
        if depth + 1 > LIFTED_DEPTH:
            raise CompileError(f"{kind}() nested in more than {LIFTED_DEPTH} lambdas has no Spark form")
        if not isinstance(hof, exp.Transform | exp.ArrayFilter) or hof.args.get("expression") is not lam:
            raise CompileError(
                f"{kind}() inside this lambda cannot run on Spark (only inside list_transform / list_filter)"
            )
    assert isinstance(hof, exp.Transform | exp.ArrayFilter)
    items = hof.this
    params = [p.name for p in lam.expressions]
    element = params[0]

    def field(i: int) -> exp.Expr:
        return exp.Dot(this=exp.to_identifier(zipped_name), expression=exp.to_identifier(str(i), quoted=True))

    lifted = []
    for i, call in enumerate(calls, start=1):
        kind, depth = _liftable(call) or ("", 0)
        lifted.append(
            exp.Anonymous(
                this=f"__TRACESQL_{kind.upper()}_{depth + 1}",
                expressions=[
                    exp.Transform(
                        this=items.copy(),
                        expression=exp.Lambda(
                            this=call.expressions[0].copy(), expressions=[p.copy() for p in lam.expressions]
                        ),
                    )
                ],
            )
        )
        call.replace(field(i))
    body = lam.this
    body = body.transform(lambda n: _rename_variable(n, element, field(0)))
    lam.set("this", body)
    lam.set("expressions", [exp.to_identifier(zipped_name), *[exp.to_identifier(p) for p in params[1:]]])
    # Spark names a zipped field after a column or struct field passed as it is (`__z2.`2``
    # would be field `2` once the call is lifted again): wrapped, each is named by position
    hof.set("this", exp.ArraysZip(expressions=[_unnamed(e) for e in (items.copy(), *lifted)]))
    if isinstance(hof, exp.ArrayFilter):  # FILTER returns the elements: unzip them again
        unzipped = exp.Transform(
            this=hof.copy(),
            expression=exp.Lambda(
                this=exp.Dot(this=exp.to_identifier("__u"), expression=exp.to_identifier("0", quoted=True)),
                expressions=[exp.to_identifier("__u")],
            ),
        )
        hof.replace(unzipped)


def _unnamed(value: exp.Expr) -> exp.Expr:
    return exp.If(this=exp.true(), true=value, false=exp.Null())


def _rename_variable(node: exp.Expr, name: str, replacement: exp.Expr) -> exp.Expr:
    """The lambda variable `name` -> replacement: alone, or as the start of `name.field`
    (inside a lambda sqlglot reads `m.role` as Dot(m, role)); never a field or a key."""
    if isinstance(node, exp.Column) and not node.table and node.name == name:
        return replacement.copy()
    if isinstance(node, exp.Identifier) and node.name == name:
        parent, key = node.parent, node.arg_key
        if isinstance(parent, exp.Dot) and key == "this":
            return replacement.copy()
        if parent is not None and not isinstance(parent, exp.Dot | exp.Column | exp.PropertyEQ | exp.Lambda):
            return replacement.copy()
    return node
