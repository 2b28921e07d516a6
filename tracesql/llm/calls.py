"""The call log: one row per HTTP attempt or cache hit, per-model totals, and the
`llm_calls` table written into the project database after a run."""

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


@dataclass
class ModelStats:
    """Totals of one model alias over a run."""

    model_alias: str
    provider_model: str = ""
    input_price: float | None = None  # USD per million tokens
    output_price: float | None = None
    calls: int = 0  # requests that went over HTTP (retries not counted)
    attempts: int = 0  # HTTP attempts, retries included
    cache_hits: int = 0
    errors: int = 0  # values left NULL because the call failed (after retries / re-asks)
    truncated: int = 0  # answers cut off at max_tokens
    budget_skipped: int = 0  # values left NULL because the budget was reached
    input_tokens: int = 0
    output_tokens: int = 0
    would_call: int = 0  # dry-run: calls a real run would make
    est_input_tokens: int = 0
    est_output_tokens: int = 0
    not_configured: str | None = None  # dry-run: why a real run would skip this model
    latency_ms_total: float = 0.0

    def cost(self, input_tokens: int, output_tokens: int) -> float | None:
        if self.input_price is None and self.output_price is None:
            return None
        return (input_tokens * (self.input_price or 0) + output_tokens * (self.output_price or 0)) / 1_000_000

    def as_dict(self, dry_run: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model_alias": self.model_alias,
            "provider_model": self.provider_model,
            "calls": self.calls,
            "attempts": self.attempts,
            "cache_hits": self.cache_hits,
            "errors": self.errors,
            "truncated": self.truncated,
            "budget_skipped": self.budget_skipped,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost(self.input_tokens, self.output_tokens),
            "mean_latency_ms": round(self.latency_ms_total / self.attempts, 1) if self.attempts else None,
        }
        if dry_run:
            out.update(
                would_call=self.would_call,
                est_input_tokens=self.est_input_tokens,
                est_output_tokens=self.est_output_tokens,
                est_tokens=self.est_input_tokens + self.est_output_tokens,
                est_cost_usd=self.cost(self.est_input_tokens, self.est_output_tokens),
                not_configured=self.not_configured,
            )
        return out
