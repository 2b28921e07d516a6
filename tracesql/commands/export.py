"""Getting data out: `tracesql export` and `tracesql show --record`.

export(project, "sft_dataset", ExportRequest("out/sft.parquet"))       # nested types kept
export(project, "traces", ExportRequest("out/t.jsonl", anonymize=True))  # e-mails, users, IPs too
export(project, "sft_dataset", ExportRequest("out/sft.jsonl", chat=True, kept=True, dedupe=True,
       split="train=0.9,validation=0.1", seed=7))                       # out/sft.train.jsonl, ...
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
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tracesql.commands.datasets import (
    DatasetColumns,
    ExportPlan,
    ExportRequest,
    export_format,
    parse_split,
    rows_query,
)
from tracesql.commands.json_encoding import csv_select, json_select
from tracesql.commands.on_spark import mirrored, on_spark
from tracesql.errors import ConfigError, ExecutionError, ProjectError
from tracesql.execution.materialize import relation_type
from tracesql.project.project import Project
from tracesql.rows import arrow_rows, decode_json
from tracesql.secrets.columns import REDACT, Rewrite, anonymizing, redact_batches
from tracesql.secrets.keys import project_key
from tracesql.sqltext import quote, string_literal

EXPORT_FORMATS = ("parquet", "jsonl", "csv")
_COPY_OPTIONS = {
    "parquet": "FORMAT parquet, COMPRESSION zstd",
    "jsonl": "FORMAT json, COMPRESSION uncompressed",
    "csv": "FORMAT csv, HEADER true",
}


@dataclass
class ExportResult:
    files: list[tuple[str | None, Path, int]]  # (split or None, path, rows written)
    model_rows: int  # rows of the model
    duplicates: int = 0  # rows --dedupe dropped
    incomplete: int = 0  # rows --chat left out: no instruction or no response
    unkept: int = 0  # rows --kept left out
    hint: str | None = None  # why nothing was written, when nothing was

    @property
    def rows(self) -> int:
        return sum(rows for _, _, rows in self.files)


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


def _reading(project: Project, model: str) -> Any:
    """The project database, read-only; on a Spark target, the model's rows copied into DuckDB."""
    if on_spark(project):
        return mirrored(project, [model] if model in project.models else [])
    return project.connect_for_reading()


def export(project: Project, model: str, request: ExportRequest | None = None) -> ExportResult:
    """Write a built model to Parquet, JSON Lines or CSV, as `request` says (split, de-duplicated,
    chat records...). Redacted as the project's `secrets:` settings say."""
    request = request or ExportRequest()
    plan = _plan(project, model, request)
    rewrite = _rewrite(project, request.anonymize)
    with _reading(project, model) as con:
        relation = _built_relation(project, con, model)
        columns = con.sql(f"SELECT * FROM {relation}").columns
        result = ExportResult([], _count(con, f"SELECT * FROM {relation}"))
        try:
            if not request.shapes_rows:
                is_table = relation_type(con.duckdb, project.models[model].relation) == "table"
                chunks = row_chunks(con, relation) if plan.fmt == "jsonl" and is_table else None
                rows = copy_to(con, relation, plan.fmt, plan.path, rewrite, chunks=chunks)
                result.files.append((None, plan.path, rows))
            else:
                _count_dropped(con, plan, relation, columns, result)
                for split in plan.splits or [None]:
                    query = rows_query(plan, relation, columns, split)
                    path = plan.output(split)
                    result.files.append((split, path, copy_to(con, f"({query})", plan.fmt, path, rewrite)))
        except duckdb.Error as exc:
            first_line = str(exc).splitlines()[0]
            raise ExecutionError(f"export to {plan.path} failed: {first_line}", model=model) from exc
        if result.rows == 0:
            result.hint = empty_hint(project, con, plan, result)
    return result


def _plan(project: Project, model: str, request: ExportRequest) -> ExportPlan:
    node = project.models.get(model)
    if node is None:
        raise ProjectError(f"no model named '{model}'{project.suggest(model)}")
    fmt = export_format(request.output, request.fmt)
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"unknown export format {fmt!r} (use {', '.join(EXPORT_FORMATS)})")
    if request.chat and fmt != "jsonl":
        raise ConfigError("--chat writes JSON Lines records: name the output .jsonl")
    if (request.system or request.metadata) and not request.chat:
        raise ConfigError("--system and --metadata shape chat records: add --chat")
    extension = {"parquet": ".parquet", "jsonl": ".jsonl", "csv": ".csv"}[fmt]
    path = Path(request.output or project.profile.target_dir / "exports" / f"{model}{extension}")
    return ExportPlan(model, fmt, path, request, parse_split(request.split), DatasetColumns.of(node))


def _rewrite(project: Project, anonymize: bool | None) -> Rewrite | None:
    secrets = project.profile.secrets
    rewrite = REDACT if secrets.redact else None
    if anonymize or (anonymize is None and secrets.anonymize):
        anonymizer = anonymizing(project_key(project.profile.target_dir))
        rewrite = anonymizer if rewrite is None else rewrite.then(anonymizer)
    return rewrite


def _count(con: Any, query: str) -> int:
    rows = con.execute(f"SELECT count(*) FROM ({query})").fetchall()
    return int(rows[0][0])


def _count_dropped(
    con: Any, plan: ExportPlan, relation: str, columns: list[str], result: ExportResult
) -> None:
    """How many rows --kept, --chat and --dedupe leave out, each after the ones before."""
    remaining = result.model_rows
    if plan.request.kept:
        kept = _count(con, rows_query(plan.only(chat=False, dedupe=False), relation, columns))
        result.unkept, remaining = remaining - kept, kept
    if plan.request.chat:
        complete = _count(con, rows_query(plan.only(dedupe=False), relation, columns))
        result.incomplete, remaining = remaining - complete, complete
    if plan.request.dedupe:
        result.duplicates = remaining - _count(con, rows_query(plan.only(), relation, columns))


def empty_hint(project: Project, con: Any, plan: ExportPlan, result: ExportResult) -> str:
    """Why an export wrote no row: the option that dropped them all, or the model's empty
    parents (and their keep flags), so the next step is clear."""
    if result.model_rows:
        reasons = [
            f"{n} {what}"
            for n, what in (
                (result.unkept, f"without {plan.columns.keep} (--kept)"),
                (result.incomplete, "without an instruction or a response (--chat)"),
                (result.duplicates, "duplicates (--dedupe)"),
            )
            if n
        ]
        return f"{plan.model} has {result.model_rows} rows; left out: {', '.join(reasons)}"
    model = project.models[plan.model]
    parts = []
    for parent in model.refs:
        node = project.models.get(parent)
        if node is None or node.materialized == "ephemeral" or not relation_type(con, node.relation):
            continue
        rows = _count(con, f"SELECT * FROM {node.relation}")
        keep = DatasetColumns.of(node).keep
        part = f"{parent} has {rows} row{'s' * (rows != 1)}"
        if keep and rows:
            kept = _count(con, f"SELECT * FROM {node.relation} WHERE {quote(keep)}")
            part += f", {kept} with {keep} true (`tracesql report {parent}` shows why rows are dropped)"
        parts.append(part)
    upstream = f": {'; '.join(parts)}" if parts else ""
    return f"{plan.model} has no rows{upstream}"


CHUNK_BYTES = 8 << 20  # stored bytes per part of a chunked JSON Lines export
MIN_CHUNK_ROWS = 64
_BLOCK_SIZE = 262144  # DuckDB's storage block


def row_chunks(con: Any, table: str) -> list[str]:
    """rowid ranges splitting a table into parts of about CHUNK_BYTES of stored data, when
    its rows are big enough to need it (else []): DuckDB's JSON writer holds a whole
    2,048-row chunk, which for wide rows (whole traces) is the whole table."""
    low, high, rows = con.execute(f"SELECT min(rowid), max(rowid), count(*) FROM {table}").fetchall()[0]
    blocks = con.execute(
        "SELECT count(DISTINCT block_id) + coalesce(sum(len(additional_block_ids)), 0)"
        f" FROM pragma_storage_info({string_literal(table)})"
    ).fetchall()[0][0]
    if not rows:
        return []
    per_row = max(blocks * _BLOCK_SIZE / rows, 1)
    size = max(MIN_CHUNK_ROWS, int(CHUNK_BYTES / per_row))
    if size >= rows:
        return []
    return [f"rowid >= {start} AND rowid < {start + size}" for start in range(low, high + 1, size)]


def copy_to(
    con: Any,
    relation: str,
    fmt: str,
    path: Path,
    rewrite: Rewrite | None = None,
    *,
    chunks: list[str] | None = None,
) -> int:
    """COPY a relation to `path` (through a temporary file renamed at the end); the row count.
    JSON Lines get tracesql's encoding (json_encoding.py); Parquet keeps DuckDB's types.
    With `rewrite`, every string of every row goes through it first. With `chunks` (WHERE
    conditions, JSON Lines only), each part is written in turn and appended."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    part = tmp.with_name(tmp.name + ".part")
    try:
        if not chunks:
            count = _copy(con, relation, fmt, tmp, rewrite)
        else:
            count = 0
            with tmp.open("wb") as out:
                for condition in chunks:
                    count += _copy(con, f"(SELECT * FROM {relation} WHERE {condition})", fmt, part, rewrite)
                    with part.open("rb") as piece:
                        shutil.copyfileobj(piece, out)
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, part):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    return count


def _copy(con: Any, relation: str, fmt: str, target: Path, rewrite: Rewrite | None) -> int:
    stream = RewrittenRows(con, relation, rewrite) if rewrite is not None else None
    if stream is not None:
        relation = stream.relation
    source = f"SELECT * FROM {relation}"
    threads = None
    if fmt == "csv":
        source = csv_select(con.sql(source), relation)
    if fmt == "jsonl":
        source = json_select(con.sql(source), relation)
    # One DuckDB thread: its JSON writer keeps every thread's ordered output in memory (one
    # thread writes as it goes: half the peak, and faster here; see docs/benchmarks.md),
    # and rows coming through the redacting Arrow stream (one Python thread) leave a second
    # DuckDB thread spending CPU for nothing (docs/secrets.md).
    if fmt == "jsonl" or stream is not None:
        threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
        con.execute("SET threads = 1")
    try:
        count = con.execute(
            f"COPY ({source}) TO {string_literal(str(target))} ({_COPY_OPTIONS[fmt]})"
        ).fetchall()
        if stream is not None:
            stream.check()
    finally:
        if stream is not None:
            stream.close()
        if threads is not None:
            con.execute(f"SET threads = {int(threads)}")
    return int(count[0][0]) if count else 0


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
    with _reading(project, model) as con:
        table, json_columns = arrow_rows(
            con, _built_relation(project, con, model), limit=1, offset=number - 1
        )
    if table.num_rows == 0:
        raise ExecutionError(f"model '{model}' has fewer than {number} rows", model=model)
    return decode_json(table.to_pylist()[0], json_columns)
