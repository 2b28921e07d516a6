"""The rows an LLM call is made for, spread over the session's tasks (a Spark SQL rewrite).

A SELECT that calls the LLM over one relation reads it through `REPARTITION(n)`, so its
calls run in n tasks (each with its share of max_parallel_requests) however few files the
relation has. The shuffle carries what the SELECT reads of the relation, so what the call's
arguments compute from the relation's columns alone, without a Python function, is
computed before it: `t.messages[1:4]` is shuffled, not the whole list of messages.

With n = 1 (few rows: engine.py decides) the relation is read through `COALESCE(1)`
instead: one task, holding the whole cap, reads the rows and calls the LLM, without a
shuffle (its stage, about 0.1-0.5 s a model here, costs more than a second core saves).
"""

from __future__ import annotations

from sqlglot import exp

# functions of Python workers (computed after the shuffle, in the LLM tasks)
PYTHON_PREFIXES = ("__TRACESQL_", "REDACT", "ANONYMIZE")
# expressions that would not be the same computed apart from their row, or once for two
NOT_MOVED = (exp.AggFunc, exp.Window, exp.Query, exp.Rand, exp.Uuid, exp.Star)
LONG_TEXT = 200  # a long literal is not copied into every shuffled row


def spread_llm_rows(tree: exp.Expr, partitions: int, call_udf: str) -> None:
    """Read each SELECT's relation that the LLM (the function `call_udf`) is called over
    through `REPARTITION(n)` (`COALESCE(1)` for one task), with the call's relation-only
    sub-expressions computed before it. A SELECT over joins is left as it is."""
    for select in list(tree.find_all(exp.Select)):
        calls = [
            c
            for c in select.find_all(exp.Anonymous)
            if c.name.upper() == call_udf.upper() and c.find_ancestor(exp.Select) is select
        ]
        source = select.args.get("from_")
        if not calls or source is None or select.args.get("joins") or select.args.get("laterals"):
            continue
        relation = source.this
        if not isinstance(relation, exp.Table | exp.Subquery):
            continue
        alias = relation.alias_or_name
        inner = exp.select("*").from_(relation.copy())
        moved: dict[str, str] = {}
        star = any(isinstance(e, exp.Star) or e.is_star for e in select.expressions)
        for call in [] if star else calls:  # a `*` would select the moved columns too
            for argument in call.expressions:
                _move_before_shuffle(argument, alias, inner, moved)
        inner.set(
            "hint",
            exp.Hint(
                expressions=[
                    exp.Anonymous(
                        this="COALESCE" if partitions == 1 else "REPARTITION",
                        expressions=[exp.Literal.number(partitions)],
                    )
                ]
            ),
        )
        source.set("this", exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(alias))))


def _move_before_shuffle(node: exp.Expr, alias: str, inner: exp.Select, moved: dict[str, str]) -> None:
    """Replace the largest sub-expressions of `node` that only read the relation `alias` by
    columns of `inner` computing them (the same expression once)."""
    if _movable(node, alias):
        sql = node.sql("spark")
        name = moved.get(sql)
        if name is None:
            name = moved[sql] = f"__pre{len(moved) + 1}"
            inner.select(exp.alias_(node.copy(), name), copy=False)
        column = exp.column(name, table=alias)
        # a name Spark would take for a zipped or struct field: keep it unnamed (positional)
        parent = node.parent
        unnamed = isinstance(parent, exp.ArraysZip | exp.Struct)
        node.replace(exp.If(this=exp.true(), true=column, false=exp.Null()) if unnamed else column)
        return
    for child in _always_evaluated(node):
        _move_before_shuffle(child, alias, inner, moved)


def _always_evaluated(node: exp.Expr) -> list[exp.Expr]:
    """The parts of `node` Spark computes whenever it computes `node` (a guarded branch is
    computed only when its condition holds: moved out, it could fail where it did not)."""
    if isinstance(node, exp.If):
        if isinstance(node.this, exp.Boolean) and node.this.this is True:  # IF(TRUE, x, NULL)
            return [node.this, node.args["true"]]
        return [node.this]
    if isinstance(node, exp.Coalesce | exp.Nullif | exp.Connector):
        return [node.this]
    if isinstance(node, exp.Case):
        ifs = node.args.get("ifs") or []
        return [node.this] if node.this is not None else [ifs[0].this] if ifs else []
    return list(node.iter_expressions())


def _movable(node: exp.Expr, alias: str) -> bool:
    if isinstance(node, exp.Column | exp.Literal | exp.Identifier | exp.Alias | exp.PropertyEQ | exp.Lambda):
        return False
    reads_relation = False
    for part in node.walk():
        if isinstance(part, NOT_MOVED):
            return False
        if isinstance(part, exp.Anonymous) and part.name.upper().startswith(PYTHON_PREFIXES):
            return False
        if isinstance(part, exp.Literal) and part.is_string and len(part.this) > LONG_TEXT:
            return False
        if isinstance(part, exp.Column):  # the relation's (qualified or not) or a lambda's variable
            if part.table and (part.table != alias or _bound(part, alias, node)):
                return False
            reads_relation = reads_relation or not _bound(part, part.table or part.name, node)
        elif isinstance(part, exp.Identifier) and _free_variable(part, node):
            return False
    return reads_relation


def _lambda_parameters(lam: exp.Lambda) -> set[str]:
    return {p.name for p in lam.expressions}


def _bound(part: exp.Expr, name: str, top: exp.Expr) -> bool:
    """Whether a lambda between `part` and `top` (included) has a parameter `name`."""
    node: exp.Expr | None = part
    while node is not None:
        if isinstance(node, exp.Lambda) and name in _lambda_parameters(node):
            return True
        if node is top:
            return False
        node = node.parent
    return False


def _free_variable(identifier: exp.Identifier, top: exp.Expr) -> bool:
    """A lambda variable of an enclosing lambda outside `top` (as sqlglot reads a variable
    inside a lambda: an Identifier, alone or at the start of a Dot)."""
    parent = identifier.parent
    if isinstance(parent, exp.Lambda | exp.Column | exp.PropertyEQ | exp.Alias):
        return False
    if isinstance(parent, exp.Dot) and identifier.arg_key != "this":
        return False
    if _bound(identifier, identifier.name, top):
        return False
    outer = top.parent
    while outer is not None:
        if isinstance(outer, exp.Lambda) and identifier.name in _lambda_parameters(outer):
            return True
        outer = outer.parent
    return False
