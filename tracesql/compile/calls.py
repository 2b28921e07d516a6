"""What a query calls, read from its sqlglot tree: the Python-backed SQL functions (readers,
LLM functions: such models default to tables) and the model aliases of its LLM calls
(checked before the model runs, so a missing model or key skips it without a request).

Function calls are found in the tree, so a name inside a string literal or a comment is
not a call. When sqlglot cannot parse a query DuckDB accepts, its tokens are used instead
(a token stream has no comments, and a string is one token).
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlglot
from sqlglot import exp
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType

from tracesql import connection
from tracesql.llm.names import CALLING_FUNCTIONS

MODEL_ARGUMENT = "model"
UNKNOWN = object()  # a `model :=` that is not a string literal: known only when the query runs


def python_functions(tree: exp.Expr | None, sql: str) -> set[str]:
    """Python-backed SQL functions (readers, llm...) the query calls."""
    names = {name.lower() for name in connection.python_sql_names()}
    return {name for name, _ in _calls(tree, sql) if name in names}


def llm_models(tree: exp.Expr | None, sql: str) -> tuple[str | None, ...]:
    """The model aliases the query's LLM calls name (`model := 'alias'`; None for a call
    that names none: the default model), each once, in order of appearance. A call whose
    model is not a string literal is left out: it cannot be checked before it runs."""
    found: list[str | None] = []
    for name, model in _calls(tree, sql):
        if name in CALLING_FUNCTIONS and model is not UNKNOWN and model not in found:
            found.append(model)  # type: ignore[arg-type]  # str | None once UNKNOWN is out
    return tuple(found)


def _calls(tree: exp.Expr | None, sql: str) -> Iterator[tuple[str, object]]:
    """(function name in lower case, its `model :=` argument: a str, None or UNKNOWN)."""
    if tree is None:
        yield from _token_calls(sql)
        return
    for func in tree.find_all(exp.Func):
        name = (func.name if isinstance(func, exp.Anonymous) else func.sql_name()).lower()
        model: object = None
        for argument in func.expressions if isinstance(func, exp.Anonymous) else ():
            if isinstance(argument, exp.PropertyEQ | exp.Kwarg) and argument.name.lower() == MODEL_ARGUMENT:
                value = argument.expression
                model = value.this if isinstance(value, exp.Literal) and value.is_string else UNKNOWN
        yield name, model


def _token_calls(sql: str) -> Iterator[tuple[str, object]]:
    try:
        tokens = sqlglot.Dialect.get_or_raise("duckdb").tokenize(sql)
    except TokenError:
        return
    for i, token in enumerate(tokens[:-1]):
        if tokens[i + 1].token_type == TokenType.L_PAREN and token.token_type != TokenType.STRING:
            yield token.text.lower(), _token_model_argument(tokens, i + 2)


def _token_model_argument(tokens: list[Token], start: int) -> object:
    """The `model :=` argument of the call whose arguments start at `start`."""
    depth = 1
    for i in range(start, len(tokens)):
        kind = tokens[i].token_type
        depth += (kind == TokenType.L_PAREN) - (kind == TokenType.R_PAREN)
        if depth == 0:
            return None
        if (
            depth == 1
            and tokens[i].text.lower() == MODEL_ARGUMENT
            and i + 2 < len(tokens)
            and tokens[i + 1].token_type == TokenType.COLON_EQ
        ):
            value = tokens[i + 2]
            closes = i + 3 < len(tokens) and tokens[i + 3].token_type in (TokenType.COMMA, TokenType.R_PAREN)
            return value.text if value.token_type == TokenType.STRING and closes else UNKNOWN
    return None
