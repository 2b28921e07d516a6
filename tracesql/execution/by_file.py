"""`incremental_strategy='by_file'`: a table of trace rows kept up to date file by file.

    {{ config(materialized='incremental', incremental_strategy='by_file') }}
    select * from {{ trace_source() }}

For a model that reads one trace reader call and gives each row from one trace row (a
projection or a filter; `source_path` kept):

- A run reads only the files that are new or changed since the last run (their key:
  size, mtime_ns, inode, ctime, reader version, options) and replaces the rows of changed
  and removed files; an unchanged corpus reads nothing. `--full-refresh` rebuilds.
- The rows are stored in pieces of bounded size (`<model>__piece_NNNNN` tables, each
  written to disk before the next is built) behind a view named after the model, so
  memory stays flat however big the corpus: DuckDB holds a table's last row group in
  memory until it is checkpointed, and a few thousand traces are one row group.
- `<model>__files` lists each file read, its key and so what the next run can skip.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import duckdb

from tracesql.errors import ExecutionError
from tracesql.project.nodes import Model, Relation
from tracesql.readers.scan import contiguous

if TYPE_CHECKING:
    from tracesql.readers.sql import ScanStore

PIECE_BYTES = 48 << 20  # of spilled Parquet per piece (about 3x that in DuckDB while built)
SMALL_PIECE_ROWS = 64  # pieces this small are merged once there are more than MAX_SMALL
MAX_SMALL = 16


def pieces_of(con: duckdb.DuckDBPyConnection, relation: Relation) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = ? AND table_name LIKE ? ESCAPE '\\' ORDER BY table_name",
        [relation.schema or "main", relation.identifier.replace("_", "\\_") + "\\_\\_piece\\_%"],
    ).fetchall()
    return [r[0] for r in rows]


def _rel(relation: Relation, name: str) -> Relation:
    return Relation(name, relation.schema)


def build_by_file(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    relation: Relation,
    sql: str,
    scans: ScanStore | None,
    *,
    full_refresh: bool,
    existing: str | None,
) -> tuple[int, str]:
    """Build or update the model; returns (rows added, what was done)."""
    if scans is None:
        raise ExecutionError("incremental_strategy='by_file' needs a tracesql connection (trace readers)")
    files = relation.suffixed("__files")
    old_pieces = pieces_of(con, relation)
    manifest = _manifest(con, files) if existing and not full_refresh and old_pieces else None
    known = manifest or {}
    number = 1 + max((int(p.rsplit("_", 1)[1]) for p in old_pieces), default=0)
    new_pieces: list[str] = []
    try:
        with scans.incremental(known) as results:
            con.execute(f"SELECT * FROM (\n{sql}\n) LIMIT 0").fetchall()  # binding runs the read
            if len(results) != 1:
                raise ExecutionError(
                    "incremental_strategy='by_file' needs a model that calls one trace reader "
                    f"(this one made {len(results)} reads)"
                )
            result = results[0]
            for group in _groups(result.files) if result.rows else []:
                name = _rel(relation, f"{relation.identifier}__piece_{number:05d}")
                number += 1
                with scans.window(group):
                    con.execute(f"CREATE TABLE {name} AS\n{sql}\n")
                con.execute("CHECKPOINT")  # on disk before the next piece: memory stays flat
                new_pieces.append(name.identifier)
            if not new_pieces and manifest is None:  # a first build that read no row
                name = _rel(relation, f"{relation.identifier}__piece_{number:05d}")
                with scans.window([]):
                    con.execute(f"CREATE TABLE {name} AS SELECT * FROM (\n{sql}\n) LIMIT 0")
                new_pieces.append(name.identifier)
    except BaseException:
        for piece in new_pieces:
            con.execute(f"DROP TABLE IF EXISTS {_rel(relation, piece)}")
        raise
    _check_source_path(con, _rel(relation, (new_pieces or old_pieces)[0]), model)
    gone = [path for path, key in known.items() if result.keys.get(path) != key]  # changed or removed
    read = {path: key for path, key in result.keys.items() if known.get(path) != key}
    kept = old_pieces if manifest is not None else []
    con.execute("BEGIN TRANSACTION")
    try:
        if gone and kept:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE __tracesql_gone AS SELECT unnest(?::VARCHAR[]) AS p", [gone]
            )
            for piece in kept:
                con.execute(
                    f"DELETE FROM {_rel(relation, piece)} WHERE source_path IN (SELECT p FROM temp.__tracesql_gone)"
                )
        if manifest is None:
            con.execute(f"CREATE OR REPLACE TABLE {files} (source_path VARCHAR, file_key VARCHAR)")
        elif gone or read:
            con.execute(
                f"DELETE FROM {files} WHERE list_contains(?::VARCHAR[], source_path)", [gone + list(read)]
            )
        if read:
            con.execute(
                f"INSERT INTO {files} SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
                [list(read), list(read.values())],
            )
        if existing == "table":
            con.execute(f"DROP TABLE {relation}")
        pieces = kept + new_pieces
        union = "\nUNION ALL ".join(f"SELECT * FROM {_rel(relation, p)}" for p in pieces)
        con.execute(f"CREATE OR REPLACE VIEW {relation} AS\n{union}\n")
        for piece in old_pieces:
            if piece not in kept:
                con.execute(f"DROP TABLE {_rel(relation, piece)}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        for piece in new_pieces:
            con.execute(f"DROP TABLE IF EXISTS {_rel(relation, piece)}")
        raise
    _merge_small_pieces(con, relation)
    added = sum(_count(con, _rel(relation, p)) for p in new_pieces)
    what = (
        f"{len(read)} files read, {len(gone)} replaced or removed, {result.skipped} unchanged"
        if manifest is not None
        else f"built from {len(read)} files"
    )
    return added, what


def _count(con: duckdb.DuckDBPyConnection, relation: Relation) -> int:
    row = con.execute(f"SELECT count(*) FROM {relation}").fetchone()
    return int(row[0]) if row else 0


def _manifest(con: duckdb.DuckDBPyConnection, files: Relation) -> dict[str, str] | None:
    try:
        return dict(con.execute(f"SELECT source_path, file_key FROM {files}").fetchall())
    except duckdb.CatalogException:
        return None


def _groups(parts: list[str]) -> list[list[str]]:
    """Consecutive Parquet parts, about PIECE_BYTES each."""
    return contiguous(parts, os.path.getsize, PIECE_BYTES)


def _check_source_path(con: duckdb.DuckDBPyConnection, piece: Relation, model: Model) -> None:
    columns = {row[0] for row in con.execute(f"DESCRIBE {piece}").fetchall()}
    if "source_path" not in columns:
        raise ExecutionError(
            "incremental_strategy='by_file' needs the model to keep the source_path column "
            "(rows are replaced by the file they came from)",
            model=model.name,
        )


def _merge_small_pieces(con: duckdb.DuckDBPyConnection, relation: Relation) -> None:
    """Many small increments (nightly runs) become one piece, so the view stays short."""
    pieces = pieces_of(con, relation)
    small = [p for p in pieces if _count(con, _rel(relation, p)) < SMALL_PIECE_ROWS]
    if len(small) <= MAX_SMALL:
        return
    merged = _rel(
        relation, f"{relation.identifier}__piece_{1 + max(int(p.rsplit('_', 1)[1]) for p in pieces):05d}"
    )
    union = " UNION ALL ".join(f"SELECT * FROM {_rel(relation, p)}" for p in small)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE TABLE {merged} AS {union}")
        rest = [p for p in pieces if p not in small] + [merged.identifier]
        view = " UNION ALL ".join(f"SELECT * FROM {_rel(relation, p)}" for p in sorted(rest))
        con.execute(f"CREATE OR REPLACE VIEW {relation} AS {view}")
        for piece in small:
            con.execute(f"DROP TABLE {_rel(relation, piece)}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("CHECKPOINT")
