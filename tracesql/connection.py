"""Opening DuckDB with everything tracesql adds: the one place SQL functions are registered.

Every connection tracesql opens (runs, `tracesql query`, `tracesql.connect()`) goes
through `configure_connection`, so the trace readers and the LLM functions exist in all
of them. The registered objects are TEMP macros and Python UDFs: they live in the
connection, never in the database file, which stays readable by the plain duckdb CLI.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import duckdb

from tracesql.llm import functions as llm_functions
from tracesql.readers import registry as reader_registry
from tracesql.readers import sql as reader_sql
from tracesql.sqltext import quote, string_literal


@dataclass
class SessionState:
    """Per-connection state shared by the registered SQL functions."""

    scans: reader_sql.ScanStore
    extras: dict[str, Any] = field(default_factory=dict)


_STATES: dict[int, SessionState] = {}


def python_sql_names() -> set[str]:
    """Names of SQL functions backed by Python: a view that calls one cannot be opened
    outside tracesql, so models using them default to tables."""
    return reader_registry.function_names() | llm_functions.SQL_NAMES


def configure_connection(con: duckdb.DuckDBPyConnection, **options: Any) -> SessionState:
    """Register every SQL function tracesql adds (the readers', then the LLM layer's)."""
    state = SessionState(scans=reader_sql.ScanStore(options.get("spill_dir")))
    reader_sql.register(con, state.scans)
    llm_functions.configure_llm(con, state.extras, options)
    _STATES[id(con)] = state
    return state


def open_connection(database: str = ":memory:", *, read_only: bool = False, wal: bool = True, **options: Any):
    """Open DuckDB and configure it; returns (connection, state).

    `wal=False` (what `tracesql run` uses) attaches the file without write-ahead logging:
    a big table is written once, at a CHECKPOINT, instead of into the WAL and then again
    into the file (for a 230 MB trace table: ~300 MiB less memory, ~0.5 s less). The runner
    checkpoints after every model, so a crash can lose at most the model being built.
    """
    if wal or read_only or database == ":memory:":
        con = duckdb.connect(database, read_only=read_only)
    else:
        con = duckdb.connect(":memory:")
        alias = _attach_alias(database)
        try:
            con.execute(f"ATTACH {string_literal(database)} AS {quote(alias)} (RECOVERY_MODE no_wal_writes)")
            con.execute(f"USE {quote(alias)}")
        except BaseException:
            con.close()
            raise
    return con, configure_connection(con, **options)


def _attach_alias(database: str) -> str:
    """The name DuckDB itself would give the file (its stem), unless that name is reserved."""
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(database))[0]) or "project"
    return stem if stem.lower() not in ("memory", "system", "temp", "main") else f"{stem}_db"


def state_for(con: duckdb.DuckDBPyConnection) -> SessionState | None:
    return _STATES.get(id(con))


def close(con: duckdb.DuckDBPyConnection) -> None:
    state = _STATES.pop(id(con), None)
    con.close()
    if state is not None:
        state.scans.close()
        for closer in state.extras.get("closers", []):
            closer()
