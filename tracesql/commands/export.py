"""Getting data out: `tracesql export` and `tracesql show --record`.

export(project, "sft_dataset", "parquet", "out/sft.parquet")   # nested types kept
export(project, "sft_chat", "jsonl", "out/sft_chat.jsonl")     # one JSON object a line
export(project, "traces", "jsonl", anonymize=True)             # e-mails, users, IPs too
record(project, "traces", 3)                                   # one row as a nested dict

Exports stream through DuckDB's `COPY (SELECT ...) TO` into a temporary file beside the
output, renamed over it once complete: a failed export leaves no half-written file.

Every string on its way out, at any depth, is redacted (credentials become
`[REDACTED:<kind>]`) unless profiles.yml says `secrets: {redact: false}`, and anonymized
with `--anonymize` or `secrets: {anonymize: true}`. The rows then flow through Arrow
(tracesql.secrets.columns, which scans each string column's buffer once) into the COPY.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tracesql.commands.json_encoding import json_select
from tracesql.errors import ExecutionError, ProjectError
from tracesql.execution.materialize import relation_type
from tracesql.project.project import Project
from tracesql.rows import arrow_rows, decode_json
from tracesql.secrets.columns import REDACT, Rewrite, anonymizing, redact_batches
from tracesql.secrets.keys import project_key
from tracesql.sqltext import quote, string_literal

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
        raise ProjectError(
            f"model '{name}' is not built yet: run `tracesql run -s +{name}` first (the model and what it is built from)",
            model=name,
        )
    return str(model.relation)


def export(
    project: Project, model: str, fmt: str, output: str | None = None, *, anonymize: bool | None = None
) -> tuple[str, int]:
    """Write a built model to Parquet or JSON Lines; returns (path, rows). Redacted as the
    project's `secrets:` settings say; `anonymize` (None: the settings) anonymizes too."""
    if fmt not in EXPORT_FORMATS:
        raise ProjectError(f"unknown export format {fmt!r} (use {' or '.join(EXPORT_FORMATS)})")
    path = output or str(project.profile.target_dir / "exports" / f"{model}.{fmt}")
    secrets = project.profile.secrets
    rewrite = REDACT if secrets.redact else None
    if anonymize or (anonymize is None and secrets.anonymize):
        anonymizer = anonymizing(project_key(project.profile.target_dir))
        rewrite = anonymizer if rewrite is None else rewrite.then(anonymizer)
    with project.connect_for_reading() as con:
        try:
            return path, copy_to(con, _built_relation(project, con, model), fmt, Path(path), rewrite)
        except duckdb.Error as exc:
            first_line = str(exc).splitlines()[0]
            raise ExecutionError(f"export to {path} failed: {first_line}", model=model) from exc


def copy_to(con: Any, relation: str, fmt: str, path: Path, rewrite: Rewrite | None = None) -> int:
    """COPY a relation to `path` (through a temporary file renamed at the end); the row count.
    JSON Lines get tracesql's encoding (json_encoding.py); Parquet keeps DuckDB's types.
    With `rewrite`, every string of every row goes through it first."""
    stream = RewrittenRows(con, relation, rewrite) if rewrite is not None else None
    if stream is not None:
        relation = stream.relation
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
        if stream is not None:
            stream.check()
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if stream is not None:
            stream.close()
        if threads is not None:
            con.execute(f"SET threads = {int(threads)}")
    return int(count[0]) if count else 0


class RewrittenRows:
    """A relation's rows with `rewrite` applied to every string, streamed through Arrow:
    `relation` is a subquery over them with the relation's own column types (a JSON column
    comes back from Arrow as text). A failure reading the rows is kept for `check()`, with
    DuckDB's own message, instead of surfacing inside the COPY wrapped in a traceback."""

    NAME = "__tracesql_export_rows"

    def __init__(self, con: Any, relation: str, rewrite: Rewrite) -> None:
        self.con = con
        self.error: duckdb.Error | None = None  # a failure reading the rows
        self.cursor = (con.duckdb if hasattr(con, "duckdb") else con).cursor()
        rows = self.cursor.sql(f"SELECT * FROM {relation}")
        reader = rows.to_arrow_reader(2048)

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                yield from reader
            except (duckdb.Error, pa.ArrowException, OSError) as exc:  # DuckDB's, through the Arrow stream
                self.error = exc if isinstance(exc, duckdb.Error) else duckdb.Error(str(exc))

        con.register(
            self.NAME, redact_batches(pa.RecordBatchReader.from_batches(reader.schema, batches()), rewrite)
        )
        streamed = con.sql(f"SELECT * FROM {self.NAME}").types
        columns = [
            quote(name) if str(after) == str(before) else f"CAST({quote(name)} AS {before}) AS {quote(name)}"
            for name, before, after in zip(rows.columns, rows.types, streamed, strict=True)
        ]
        self.relation = f"(SELECT {', '.join(columns)} FROM {self.NAME})"

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.con.unregister(self.NAME)
        self.cursor.close()


def record(project: Project, model: str, number: int) -> dict[str, Any]:
    """Row `number` (1-based) of a built model, as a dict with nested values."""
    with project.connect_for_reading() as con:
        table, json_columns = arrow_rows(
            con, _built_relation(project, con, model), limit=1, offset=number - 1
        )
    if table.num_rows == 0:
        raise ExecutionError(f"model '{model}' has fewer than {number} rows", model=model)
    return decode_json(table.to_pylist()[0], json_columns)
