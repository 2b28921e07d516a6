"""Getting data out: `tracesql export` and `tracesql show --record`.

export(project, "sft_dataset", "parquet", "out/sft.parquet")   # nested types kept
export(project, "sft_chat", "jsonl", "out/sft_chat.jsonl")     # one JSON object a line
record(project, "traces", 3)                                   # one row as a nested dict

Exports stream through DuckDB's `COPY (SELECT ...) TO` into a temporary file beside the
output, renamed over it once complete: a failed export leaves no half-written file.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import duckdb

from tracesql.commands.json_encoding import json_select
from tracesql.errors import ExecutionError, ProjectError
from tracesql.execution.materialize import relation_type
from tracesql.project.project import Project
from tracesql.rows import arrow_rows, decode_json
from tracesql.sqltext import string_literal

EXPORT_FORMATS = ("parquet", "jsonl")
_COPY_OPTIONS = {
    "parquet": "FORMAT parquet, COMPRESSION zstd",
    "jsonl": "FORMAT json, COMPRESSION uncompressed",
}


def _built_relation(project: Project, con: Any, name: str) -> str:
    model = project.models.get(name)
    if model is None:
        raise ProjectError(f"no model named '{name}'{project.suggest(name)}")
    if not relation_type(con, model.relation):
        raise ProjectError(f"model '{name}' is not built yet: run `tracesql run -s {name}` first", model=name)
    return str(model.relation)


def export(project: Project, model: str, fmt: str, output: str | None = None) -> tuple[str, int]:
    """Write a built model to Parquet or JSON Lines; returns (path, rows)."""
    if fmt not in EXPORT_FORMATS:
        raise ProjectError(f"unknown export format {fmt!r} (use {' or '.join(EXPORT_FORMATS)})")
    path = output or str(project.profile.target_dir / "exports" / f"{model}.{fmt}")
    with project.connect_for_reading() as con:
        try:
            return path, copy_to(con, _built_relation(project, con, model), fmt, Path(path))
        except duckdb.Error as exc:
            first_line = str(exc).splitlines()[0]
            raise ExecutionError(f"export to {path} failed: {first_line}", model=model) from exc


def copy_to(con: Any, relation: str, fmt: str, path: Path) -> int:
    """COPY a relation to `path` (through a temporary file renamed at the end); the row count.
    JSON Lines get tracesql's encoding (json_encoding.py); Parquet keeps DuckDB's types."""
    source = f"SELECT * FROM {relation}"
    threads = None
    if fmt == "jsonl":
        source = json_select(con.sql(source), relation)
        # DuckDB's JSON writer keeps every thread's ordered output in memory: one thread
        # writes as it goes (half the peak, and faster here; see docs/benchmarks.md).
        threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
        con.execute("SET threads = 1")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        count = con.execute(
            f"COPY ({source}) TO {string_literal(str(tmp))} ({_COPY_OPTIONS[fmt]})"
        ).fetchone()
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if threads is not None:
            con.execute(f"SET threads = {int(threads)}")
    return int(count[0]) if count else 0


def record(project: Project, model: str, number: int) -> dict[str, Any]:
    """Row `number` (1-based) of a built model, as a dict with nested values."""
    with project.connect_for_reading() as con:
        table, json_columns = arrow_rows(
            con, _built_relation(project, con, model), limit=1, offset=number - 1
        )
    if table.num_rows == 0:
        raise ExecutionError(f"model '{model}' has fewer than {number} rows", model=model)
    return decode_json(table.to_pylist()[0], json_columns)
