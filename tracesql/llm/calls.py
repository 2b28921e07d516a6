"""The call log's rows: one per HTTP attempt or cache hit, the `llm_calls` table written
into the project database after each model, and the rows of `llm_call_log()`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import duckdb
import pyarrow as pa

from tracesql.llm import columns
from tracesql.llm.columns import column


@dataclass
class CallRecord:
    """One row of the call log: one HTTP attempt, or one answer served from the cache.

    For a cache hit, attempt is 0 and the token columns give the size of the cached answer
    (cost_usd is 0: nothing was paid). The fields are the columns of the cache file's
    `calls` table, of `llm_calls` and of `llm_call_log()` (see columns.py)."""

    run_id: str = column("VARCHAR")
    called_at: float = column("TIMESTAMP")  # unix seconds
    project_model: str | None = column("VARCHAR")  # the tracesql model being run, if any
    model_alias: str = column("VARCHAR")
    provider: str = column("VARCHAR")
    provider_model: str = column("VARCHAR")
    request_hash: str = column("VARCHAR")
    attempt: int = column("INTEGER")
    cache_hit: bool = column("BOOLEAN")
    status_code: int | None = column("INTEGER")
    input_tokens: int | None = column("BIGINT")
    output_tokens: int | None = column("BIGINT")
    latency_ms: float | None = column("DOUBLE")
    finish_reason: str | None = column("VARCHAR")
    error: str | None = column("VARCHAR")
    cost_usd: float | None = column("DOUBLE")


CALL_COLUMNS = columns.names(CallRecord)
LLM_CALLS_SQL_TYPES = columns.duckdb_types(CallRecord)
LLM_CALLS_STRUCT = columns.duckdb_struct(CallRecord) + "[]"

_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "TIMESTAMP": pa.timestamp("us"),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "BOOLEAN": pa.bool_(),
    "DOUBLE": pa.float64(),
}


def records_table(records: list[CallRecord]) -> pa.Table:
    data = {name: [getattr(r, name) for r in records] for name in CALL_COLUMNS}
    data["called_at"] = [int(t * 1_000_000) for t in data["called_at"]]
    schema = pa.schema([(name, _ARROW_TYPES[kind]) for name, kind in LLM_CALLS_SQL_TYPES.items()])
    return pa.table(data, schema=schema)


def write_llm_calls(
    con: duckdb.DuckDBPyConnection, records: list[CallRecord], table: str = "llm_calls"
) -> int:
    """Append call-log rows to the `llm_calls` table (created if missing); returns the row count."""
    declared = ", ".join(f"{k} {v}" for k, v in LLM_CALLS_SQL_TYPES.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({declared})")
    if not records:
        return 0
    view = "_tracesql_llm_calls_batch"
    con.register(view, records_table(records))
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {view}")
    finally:
        con.unregister(view)
    return len(records)


def record_dicts(records: list[CallRecord]) -> list[dict[str, Any]]:
    """Rows for the live `llm_call_log()` table macro."""
    import datetime as dt

    out = []
    for record in records:
        row = asdict(record)
        row["called_at"] = dt.datetime.fromtimestamp(record.called_at, dt.UTC).replace(tzinfo=None)
        out.append(row)
    return out
