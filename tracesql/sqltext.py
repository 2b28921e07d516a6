"""Writing SQL text safely: identifiers and literals, defined once."""

from __future__ import annotations

from typing import Any


def quote(identifier: str) -> str:
    """An identifier in double quotes (embedded quotes doubled)."""
    return '"' + identifier.replace('"', '""') + '"'


def string_literal(text: str) -> str:
    """`text` as a SQL string literal (embedded quotes doubled)."""
    return "'" + str(text).replace("'", "''") + "'"


def literal(value: Any) -> str:
    """A Python value as a DuckDB literal (strings quoted, numbers and booleans as they are)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return string_literal(str(value))


def strip_trailing_semicolon(sql: str) -> str:
    """Drop a final `;` (and what follows it) so the query can be wrapped: the statement's
    end as DuckDB's own tokenizer sees it (a `;` in a string or a comment is no end)."""
    import duckdb  # here, not above: `tracesql --help` loads no DuckDB

    data = sql.encode("utf-8", "surrogatepass")  # the tokenizer's offsets are UTF-8 bytes
    ends = [start for start, kind in duckdb.tokenize(sql) if kind != duckdb.token_type.comment]
    while ends and data[ends[-1] : ends[-1] + 1] == b";":
        data = data[: ends.pop()]
    return data.decode("utf-8", "surrogatepass").rstrip()
