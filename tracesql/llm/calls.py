"""The call log's rows: one per HTTP attempt, cache hit or outcome without an attempt; the
`llm_calls` table of a project database, filled from the call-log file; and the rows of
`llm_call_log()`.

Every LLM value has one row marked `final`: the row that decided it (the answering
attempt or cache hit, the last failed attempt, or an outcome row: refused by a budget,
interrupted, not sent because its model was stopped). `request_hash` is the hash of the
value's request, also on the rows of its re-asks (`reask` 1, 2...), so a NULL joins to
its reason: `JOIN llm_calls USING (request_hash) WHERE final`. Both the call-log file
and `llm_calls` keep exactly one final row per request hash: its latest outcome.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import duckdb

from tracesql.llm import columns
from tracesql.llm.columns import column

if TYPE_CHECKING:
    import pyarrow as pa

    from tracesql.llm.cache import LLMStore


@dataclass
class CallRecord:
    """One row of the call log: one HTTP attempt, one answer served from the cache, or one
    outcome that needed no attempt (attempt NULL: budget reached, interrupted, model stopped).

    For a cache hit, attempt is 0 and the token columns give the size of the cached answer
    (cost_usd is 0: nothing was paid). The fields are the columns of the call-log file's
    `calls` table, of `llm_calls` and of `llm_call_log()` (see columns.py)."""

    run_id: str = column("VARCHAR")
    called_at: float = column("TIMESTAMP")  # unix seconds
    project_model: str | None = column("VARCHAR")  # the tracesql model being run, if any
    model_alias: str = column("VARCHAR")
    provider: str = column("VARCHAR")
    provider_model: str = column("VARCHAR")
    request_hash: str = column("VARCHAR")  # the value's request (its re-asks carry it too)
    attempt: int | None = column("INTEGER")  # 1, 2... per HTTP attempt; 0 cache hit; NULL outcome
    cache_hit: bool = column("BOOLEAN")
    status_code: int | None = column("INTEGER")
    input_tokens: int | None = column("BIGINT")
    output_tokens: int | None = column("BIGINT")
    latency_ms: float | None = column("DOUBLE")
    finish_reason: str | None = column("VARCHAR")
    error: str | None = column("VARCHAR")
    cost_usd: float | None = column("DOUBLE")
    final: bool = column("BOOLEAN", default=False)  # the row that decided the value (latest per hash)
    reask: int = column("INTEGER", default=0)  # 0: the request itself; n: its n-th structured re-ask
    call_id: int | None = column("BIGINT", primary_key=True, default=None)  # assigned by the log file


CALL_COLUMNS = columns.names(CallRecord)
LLM_CALLS_SQL_TYPES = columns.duckdb_types(CallRecord)
LLM_CALLS_STRUCT = columns.duckdb_struct(CallRecord) + "[]"
_BATCH_VIEW = "_tracesql_llm_calls_batch"


def records_table(records: list[CallRecord]) -> pa.Table:
    import pyarrow as pa  # here: `llm_call_log()` is registered in every connection, this is not

    arrow_types = {
        "VARCHAR": pa.string(),
        "TIMESTAMP": pa.timestamp("us"),
        "INTEGER": pa.int32(),
        "BIGINT": pa.int64(),
        "BOOLEAN": pa.bool_(),
        "DOUBLE": pa.float64(),
    }
    data = {name: [getattr(r, name) for r in records] for name in CALL_COLUMNS}
    data["called_at"] = [int(t * 1_000_000) for t in data["called_at"]]
    schema = pa.schema([(name, arrow_types[kind]) for name, kind in LLM_CALLS_SQL_TYPES.items()])
    return pa.table(data, schema=schema)


def ensure_llm_calls(con: duckdb.DuckDBPyConnection, table: str = "llm_calls") -> None:
    """Create `llm_calls`, or add the columns an older one lacks."""
    declared = ", ".join(f"{k} {v}" for k, v in LLM_CALLS_SQL_TYPES.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({declared})")
    present = {row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()}
    for name, kind in LLM_CALLS_SQL_TYPES.items():
        if name not in present:
            con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


def sync_llm_calls(con: duckdb.DuckDBPyConnection, store: LLMStore | None, table: str = "llm_calls") -> int:
    """Copy into `llm_calls` the call-log rows it does not have yet (this run's since the
    last sync, and those of runs it has never seen: `tracesql query`, `connect()`, a
    preview, a crashed run); returns the rows added. Rows copied before keep `final` only
    while no newer row of their request hash concludes it."""
    ensure_llm_calls(con, table)
    if store is None:
        return 0
    present = dict(con.execute(f"SELECT run_id, max(call_id) FROM {table} GROUP BY run_id").fetchall())
    records: list[CallRecord] = []
    for run_id, head in store.run_heads().items():
        if run_id in present and present[run_id] is None:
            continue  # rows written before the call log had ids: already here
        synced = present.get(run_id) or 0
        if head > synced:
            records += store.calls(run_id, after=synced)
    if not records:
        return 0
    con.register(_BATCH_VIEW, records_table(records))
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {_BATCH_VIEW}")
        con.execute(
            f"UPDATE {table} AS t SET final = false WHERE final "
            f"AND request_hash IN (SELECT request_hash FROM {_BATCH_VIEW} WHERE final) "
            f"AND NOT EXISTS (SELECT 1 FROM {_BATCH_VIEW} AS b "
            "WHERE b.final AND b.run_id = t.run_id AND b.call_id = t.call_id)"
        )
    finally:
        con.unregister(_BATCH_VIEW)
    return len(records)


def record_dicts(records: list[CallRecord]) -> list[dict[str, Any]]:
    """Rows for the live `llm_call_log()` table macro."""
    out = []
    for record in records:
        row = asdict(record)
        row["called_at"] = dt.datetime.fromtimestamp(record.called_at, dt.UTC).replace(tzinfo=None)
        out.append(row)
    return out
