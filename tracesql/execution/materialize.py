"""Materializations: how a compiled model becomes a view or a table in DuckDB.

- view: `CREATE OR REPLACE VIEW`.
- table: built under a temporary name, then swapped in inside one transaction, so a
  failed build leaves the previous table as it was.
- incremental: the first run (or `--full-refresh`) builds a table; later runs compute the
  new rows (the model filters them with `{% if is_incremental() %}`) into a temp table,
  then append them, or merge them on `unique_key` (delete matching keys, insert).
- ephemeral: nothing is built; `ref()` inlines the model as a CTE.

A failed LLM value never destroys a good one. Before anything is committed, `verdict()`
(the runner's) may refuse the new rows (every LLM value of the model failed): the old
table stays as it was. A model with a `unique_key` and an `llm_status` column (each
row's LLM outcome: 'ok', 'failed', 'skipped') keeps, for each new row whose status is
'failed' and whose key the old table has with a good value ('ok' or 'kept_previous'),
the old row instead: its value and its fingerprint (so the next run retries it), with
`llm_status = 'kept_previous'` and the failed request's `llm_request_hash` (which joins
to the reason in `llm_calls`). Incremental merges and full refreshes alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import duckdb

from tracesql.compile.compiler import Compiled
from tracesql.errors import ExecutionError
from tracesql.execution.by_file import build_by_file
from tracesql.project.nodes import Model, Relation, quote

if TYPE_CHECKING:
    from tracesql.readers.sql import ScanStore

BUILD_SUFFIX = "__tracesql_build"
BATCH_TABLE = "__tracesql_batch"
KEPT_TABLE = "__tracesql_kept"
# The columns by which a model tells the materializations each row's LLM outcome.
LLM_STATUS, LLM_REQUEST_HASH = "llm_status", "llm_request_hash"
FAILED, KEPT_PREVIOUS, SKIPPED = "failed", "kept_previous", "skipped"
GOOD = ("ok", KEPT_PREVIOUS)


@dataclass
class Materialized:
    rows: int | None  # rows written (None for a view)
    message: str  # what was done: "created", "replaced", "inserted 3 rows"...
    kept: int = 0  # rows whose LLM value failed and that kept their previous one
    skipped: int = 0  # new rows that needed no LLM call (llm_status 'skipped')


def relation_type(con: duckdb.DuckDBPyConnection, relation: Relation) -> str | None:
    """'table', 'view', or None when the relation does not exist in the current database."""
    rows = con.execute(
        "SELECT table_type FROM information_schema.tables "
        "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?",
        [relation.schema or "main", relation.identifier],
    ).fetchall()
    if not rows:
        return None
    return "view" if rows[0][0] == "VIEW" else "table"


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    """The first value a statement returns (read to the end: DuckDB wants results finished)."""
    rows = con.execute(sql).fetchall()
    return rows[0][0] if rows else None


def materialize(
    con: duckdb.DuckDBPyConnection,
    compiled: Compiled,
    *,
    full_refresh: bool = False,
    dry_run: bool = False,
    row_limit: int | None = None,
    verdict: Callable[[], None] | None = None,
    scans: ScanStore | None = None,
) -> Materialized:
    """Build a model; `verdict` runs once its new rows are computed, before anything is
    committed, and may refuse them by raising (the old relation then stays as it was)."""
    model = compiled.node
    assert isinstance(model, Model)
    sql = compiled.sql if row_limit is None else f"SELECT * FROM (\n{compiled.sql}\n) LIMIT {int(row_limit)}"
    relation = model.relation
    if relation.schema:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(relation.schema)}")
    existing = relation_type(con, relation)
    if model.materialized == "view":
        return build_view(con, relation, sql, existing)
    if (
        model.materialized == "incremental"
        and model.config.strategy == "by_file"
        and row_limit is None
        and not dry_run  # a dry run's table is the project's, mirrored read-only (a view)
    ):
        # (its relation is a view: is_incremental() looks for a table)
        refresh = existing is None or (full_refresh and model.config.full_refresh is not False)
        rows, what = build_by_file(con, model, relation, sql, scans, full_refresh=refresh, existing=existing)
        return Materialized(
            rows, what if existing is None or not refresh else f"rebuilt (full refresh): {what}"
        )
    if model.materialized == "incremental" and compiled.is_incremental and existing is not None:
        return build_increment(con, model, relation, sql, dry_run=dry_run, verdict=verdict)
    result = build_table(con, relation, sql, existing, keys=model.config.unique_keys, verdict=verdict)
    if model.materialized == "incremental" and existing is not None:
        result.message = "rebuilt (full refresh)"
    return result


def build_view(
    con: duckdb.DuckDBPyConnection, relation: Relation, sql: str, existing: str | None
) -> Materialized:
    with transaction(con):
        if existing == "table":
            con.execute(f"DROP TABLE {relation}")
        con.execute(f"CREATE OR REPLACE VIEW {relation} AS\n{sql}\n")
    return Materialized(None, "replaced" if existing else "created")


def build_table(
    con: duckdb.DuckDBPyConnection,
    relation: Relation,
    sql: str,
    existing: str | None,
    *,
    keys: list[str] | None = None,
    verdict: Callable[[], None] | None = None,
) -> Materialized:
    """Build under a temporary name, then swap it in; the old table survives a failed (or
    refused) build, and its good LLM values survive failed ones (keep_previous)."""
    building = relation.suffixed(BUILD_SUFFIX)
    con.execute(f"DROP TABLE IF EXISTS {building}")
    try:
        rows = scalar(con, f"CREATE TABLE {building} AS\n{sql}\n")
        if verdict is not None:
            verdict()
        kept = keep_previous(con, str(building), relation, keys or []) if existing == "table" else 0
        skipped = count_skipped(con, str(building))
    except BaseException:
        con.execute(f"DROP TABLE IF EXISTS {building}")
        raise
    with transaction(con):
        if existing is not None:
            con.execute(f"DROP {'VIEW' if existing == 'view' else 'TABLE'} {relation}")
        con.execute(f"ALTER TABLE {building} RENAME TO {quote(relation.identifier)}")
    return Materialized(
        None if rows is None else int(rows), "replaced" if existing else "created", kept, skipped
    )


def build_increment(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    relation: Relation,
    sql: str,
    *,
    dry_run: bool,
    verdict: Callable[[], None] | None = None,
) -> Materialized:
    """Compute the new rows, then append them or merge them on unique_key (a failed LLM
    value keeping its previous one: keep_previous)."""
    con.execute(f"DROP TABLE IF EXISTS temp.{BATCH_TABLE}")
    con.execute(f"CREATE TEMP TABLE {BATCH_TABLE} AS\n{sql}\n")
    kept = skipped = 0
    try:
        rows = scalar(con, f"SELECT count(*) FROM temp.{BATCH_TABLE}")
        if dry_run:
            return Materialized(rows, f"would add {rows} new rows")
        if verdict is not None:
            verdict()
        keys = model.config.unique_keys
        if keys and model.config.strategy == "merge":
            kept = keep_previous(con, f"temp.{BATCH_TABLE}", relation, keys)
        skipped = count_skipped(con, f"temp.{BATCH_TABLE}")
        columns = _columns_to_insert(con, model, relation)
        missing_keys = [k for k in keys if k not in columns]
        if missing_keys:
            raise ExecutionError(
                f"unique_key column {', '.join(missing_keys)} is not among the model's columns"
            )
        selected = ", ".join(quote(c) for c in columns)
        with transaction(con):
            replaced = 0
            if keys and model.config.strategy == "merge":
                match = " AND ".join(f"__target.{quote(k)} = __batch.{quote(k)}" for k in keys)
                replaced = scalar(
                    con,
                    f"DELETE FROM {relation} AS __target USING temp.{BATCH_TABLE} AS __batch WHERE {match}",
                )
            con.execute(f"INSERT INTO {relation} BY NAME SELECT {selected} FROM temp.{BATCH_TABLE}")
    finally:
        con.execute(f"DROP TABLE IF EXISTS temp.{BATCH_TABLE}")
    if keys and model.config.strategy == "merge":
        return Materialized(rows, f"merged {rows} rows ({replaced} replaced)", kept, skipped)
    return Materialized(rows, f"inserted {rows} rows", kept, skipped)


def count_skipped(con: duckdb.DuckDBPyConnection, new: str) -> int:
    """New rows that needed no LLM call (llm_status 'skipped'; 0 without that column)."""
    if LLM_STATUS not in {row[0] for row in con.execute(f"DESCRIBE {new}").fetchall()}:
        return 0
    return int(scalar(con, f"SELECT count(*) FROM {new} WHERE {LLM_STATUS} = '{SKIPPED}'"))


def keep_previous(con: duckdb.DuckDBPyConnection, new: str, old: Relation, keys: list[str]) -> int:
    """In the new rows `new`, put back the old row of each key whose new LLM value failed
    and whose old one was good (see the module docstring); the number of rows kept."""
    new_columns = {row[0]: row[1] for row in con.execute(f"DESCRIBE {new}").fetchall()}
    old_columns = {row[0] for row in con.execute(f"DESCRIBE {old}").fetchall()}
    if not keys or LLM_STATUS not in new_columns or LLM_STATUS not in old_columns:
        return 0
    if any(k not in new_columns or k not in old_columns for k in keys):
        return 0
    picked = []
    for name in new_columns:
        if name == LLM_STATUS:
            picked.append(f"'{KEPT_PREVIOUS}' AS {quote(name)}")
        elif name == LLM_REQUEST_HASH or name not in old_columns:
            picked.append(f"n.{quote(name)}")  # the failed request's hash: it joins to the reason
        else:
            picked.append(f"o.{quote(name)}")
    match = " AND ".join(f"n.{quote(k)} = o.{quote(k)}" for k in keys)
    good = ", ".join(f"'{status}'" for status in GOOD)
    con.execute(f"DROP TABLE IF EXISTS temp.{KEPT_TABLE}")
    con.execute(
        f"CREATE TEMP TABLE {KEPT_TABLE} AS SELECT {', '.join(picked)} FROM {new} AS n JOIN {old} AS o "
        f"ON {match} WHERE n.{LLM_STATUS} = '{FAILED}' AND o.{LLM_STATUS} IN ({good})"
    )
    try:
        kept = int(scalar(con, f"SELECT count(*) FROM temp.{KEPT_TABLE}"))
        if kept:
            back = " AND ".join(f"n.{quote(k)} = k.{quote(k)}" for k in keys)
            con.execute(f"DELETE FROM {new} AS n USING temp.{KEPT_TABLE} AS k WHERE {back}")
            con.execute(f"INSERT INTO {new} BY NAME SELECT * FROM temp.{KEPT_TABLE}")
    finally:
        con.execute(f"DROP TABLE IF EXISTS temp.{KEPT_TABLE}")
    return kept


def _columns_to_insert(con: duckdb.DuckDBPyConnection, model: Model, relation: Relation) -> list[str]:
    """The batch's columns, after on_schema_change dealt with those the table lacks."""
    batch = con.execute(f"DESCRIBE temp.{BATCH_TABLE}").fetchall()
    table = {row[0] for row in con.execute(f"DESCRIBE {relation}").fetchall()}
    new = [(name, kind) for name, kind, *_ in batch if name not in table]
    policy = model.config.on_schema_change
    if new and policy == "fail":
        names = ", ".join(name for name, _ in new)
        raise ExecutionError(
            f"the new rows have columns the existing table lacks ({names}); rebuild with --full-refresh, "
            "or set config(on_schema_change='append_new_columns') or 'ignore'"
        )
    if new and policy == "append_new_columns":
        for name, kind in new:
            con.execute(f"ALTER TABLE {relation} ADD COLUMN {quote(name)} {kind}")
        return [row[0] for row in batch]
    return [row[0] for row in batch if row[0] in table]


class transaction:
    """BEGIN ... COMMIT, or ROLLBACK when the block raises."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def __enter__(self) -> None:
        self.con.execute("BEGIN TRANSACTION")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.con.execute("ROLLBACK" if exc_type else "COMMIT")
