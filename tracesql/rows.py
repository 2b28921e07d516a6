"""Reading result rows as Python values through Arrow.

DuckDB's own `fetchall()` needs pytz for TIMESTAMPTZ values (the normalized trace row has
two); Arrow converts them with zoneinfo, so tracesql reads rows this way.
"""

from __future__ import annotations

import contextlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported by the console, which must not load DuckDB for `--help`
    import duckdb
    import pyarrow as pa


def json_default(value: Any) -> Any:
    """JSON for the values rows hold that JSON has no type for (dates, decimals, blobs as hex)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def read_rows(relation: duckdb.DuckDBPyRelation, limit: int | None) -> tuple[list[str], list[tuple], bool]:
    """(columns, the first `limit` rows or all, whether more rows exist)."""
    columns = list(relation.columns)
    reader = relation.to_arrow_reader(batch_size=min(limit + 1, 2048) if limit is not None else 2048)
    rows: list[tuple] = []
    for batch in reader:
        values = [column.to_pylist() for column in batch.columns]
        rows.extend(zip(*values, strict=True))
        if limit is not None and len(rows) > limit:
            return columns, rows[:limit], True
    return columns, rows, False


def arrow_rows(
    con: Any, relation: str, limit: int | None = None, offset: int = 0
) -> tuple[pa.Table, set[str]]:
    """The rows of a relation, and the names of its JSON columns (Arrow sees them as text)."""
    sql = f"SELECT * FROM {relation}"
    if limit is not None:
        sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
    described = con.execute(f"DESCRIBE {relation}").fetchall()
    json_columns = {name for name, dtype, *_ in described if dtype == "JSON"}
    return con.sql(sql).to_arrow_table(), json_columns


def decode_json(row: dict[str, Any], json_columns: set[str]) -> dict[str, Any]:
    out = dict(row)
    for key in json_columns:
        if isinstance(out.get(key), str):
            with contextlib.suppress(ValueError):
                out[key] = json.loads(out[key])
    return out
