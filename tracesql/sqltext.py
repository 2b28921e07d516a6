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
