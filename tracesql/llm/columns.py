"""Table rows declared once, as dataclasses whose fields carry their DuckDB type.

    @dataclass
    class CallRecord:
        run_id: str = column("VARCHAR")
        called_at: float = column("TIMESTAMP")  # unix seconds in SQLite, a TIMESTAMP in DuckDB

From that one declaration come the DuckDB column types (the `llm_calls` table, the
`llm_call_log()` struct), the SQLite DDL of the cache file, its insert and select column
lists (by name, never by position), and the in-place migration of an older cache file
(columns added since are added to it; nothing is moved aside).
"""

from __future__ import annotations

import sqlite3
from dataclasses import MISSING, Field, field, fields
from typing import Any, TypeVar

SQLITE_TYPES = {
    "VARCHAR": "TEXT",
    "TIMESTAMP": "REAL",  # unix seconds
    "INTEGER": "INTEGER",
    "BIGINT": "INTEGER",
    "BOOLEAN": "INTEGER",
    "DOUBLE": "REAL",
}

Row = TypeVar("Row")


def column(duckdb_type: str, *, primary_key: bool = False, default: Any = MISSING) -> Any:
    """A dataclass field that is a table column of this DuckDB type (a primary key of type
    BIGINT or INTEGER is SQLite's row id: inserting NULL assigns the next one)."""
    if duckdb_type not in SQLITE_TYPES:
        raise ValueError(f"no SQLite storage for DuckDB type {duckdb_type}")
    return field(default=default, metadata={"duckdb": duckdb_type, "primary_key": primary_key})


def _columns(cls: type) -> list[Field[Any]]:
    return [f for f in fields(cls) if "duckdb" in f.metadata]


def names(cls: type) -> list[str]:
    return [f.name for f in _columns(cls)]


def duckdb_types(cls: type) -> dict[str, str]:
    """Column name -> DuckDB type, in declaration order."""
    return {f.name: f.metadata["duckdb"] for f in _columns(cls)}


def duckdb_struct(cls: type) -> str:
    return "STRUCT(" + ", ".join(f"{name} {kind}" for name, kind in duckdb_types(cls).items()) + ")"


def _sqlite_column(f: Field[Any]) -> str:
    return f"{f.name} {SQLITE_TYPES[f.metadata['duckdb']]}" + (
        " PRIMARY KEY" if f.metadata["primary_key"] else ""
    )


def create_table(table: str, cls: type) -> str:
    """`CREATE TABLE IF NOT EXISTS` for SQLite."""
    parts = [_sqlite_column(f) for f in _columns(cls)]
    return f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(parts)})"


def insert(table: str, cls: type, *, verb: str = "INSERT") -> str:
    """An insert naming every column, with one `?` per column (bind `values(row)`)."""
    columns = names(cls)
    return f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def select(table: str, cls: type) -> str:
    """A select of the columns in declaration order (read rows back with `from_row`)."""
    return f"SELECT {', '.join(names(cls))} FROM {table}"


def values(row: Any) -> tuple[Any, ...]:
    return tuple(getattr(row, name) for name in names(type(row)))


def from_row(cls: type[Row], row: tuple[Any, ...]) -> Row:
    """A dataclass from a row of `select(table, cls)`; SQLite's 0/1 become booleans."""
    converted = [
        bool(value) if f.metadata["duckdb"] == "BOOLEAN" and value is not None else value
        for f, value in zip(_columns(cls), row, strict=True)
    ]
    return cls(*converted)


def add_missing_columns(db: sqlite3.Connection, table: str, cls: type) -> list[str]:
    """Migrate a table written by an older release in place: add the columns it lacks
    (their values are NULL in its old rows). Returns the names added."""
    present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    added = []
    for f in _columns(cls):
        if f.name not in present:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {_sqlite_column(f)}")
            added.append(f.name)
    return added
