"""The SELECT that gives a relation's values the JSON encoding tracesql writes.

DuckDB's `COPY ... (FORMAT json)` streams rows to a file, but alone it writes blobs as
`"\\xAB"`, timestamps with a space and a short offset (`2024-03-01 09:04:56.5-03:30`),
non-finite doubles as the bare words `NaN`/`Infinity` (not JSON) and maps as objects.
`json_select` rewrites, at any depth of structs, lists and maps, only the values whose
encoding differs from tracesql's (the one `rows.json_default` gives printed rows):

    BLOB                  lower-case hex                          "ab00ff"
    TIMESTAMP[_S|_MS]     ISO 8601, microseconds when not zero    "2024-03-01T12:34:56.123456"
    TIMESTAMPTZ           the same in the session's time zone     "2024-03-01T09:04:56.500000-03:30"
    TIME                  ISO 8601                                "08:09:10.250000"
    DOUBLE, FLOAT         null when NaN or infinite; FLOAT widened to DOUBLE
    INTERVAL              [months, days, nanoseconds]             [0, 3, 5400000000000]
    MAP                   a list of [key, value] pairs            [["k", 1.5]]

Everything else (numbers, text, booleans, dates, UUIDs, JSON values embedded as JSON,
structs as objects, lists as arrays) is written by COPY as it is.
"""

from __future__ import annotations

from typing import Any

from tracesql.sqltext import quote, string_literal

_TIMESTAMPS = {"timestamp", "timestamp_s", "timestamp_ms", "timestamp_ns"}
_FLOATS = {"double", "float"}


def json_select(relation: Any, source: str) -> str:
    """SELECT every column of `relation` (a DuckDB relation over `source`) encoded for JSON."""
    columns = []
    for name, dtype in zip(relation.columns, relation.types, strict=True):
        encoded = encode(quote(name), dtype, 0)
        columns.append(f"{encoded} AS {quote(name)}" if encoded is not None else quote(name))
    return f"SELECT {', '.join(columns)} FROM {source}"


_NESTED = {"list", "array", "struct", "map", "union"}


def csv_select(relation: Any, source: str) -> str:
    """SELECT every column of `relation` for CSV: nested values as JSON text (with the
    encoding above), everything else as DuckDB writes it."""
    columns = []
    for name, dtype in zip(relation.columns, relation.types, strict=True):
        if dtype.id in _NESTED:
            encoded = encode(quote(name), dtype, 0) or quote(name)
            columns.append(f"to_json({encoded})::VARCHAR AS {quote(name)}")
        else:
            columns.append(quote(name))
    return f"SELECT {', '.join(columns)} FROM {source}"


def encode(expr: str, dtype: Any, depth: int) -> str | None:
    """SQL giving `expr` (of DuckDB type `dtype`) its JSON encoding, or None if COPY's is right."""
    kind = dtype.id
    if kind == "blob":
        return f"lower(hex({expr}))"
    if kind in _FLOATS:
        return f"CASE WHEN isfinite({expr}) THEN {expr}::DOUBLE END"
    if kind in _TIMESTAMPS:
        return _iso(f"{expr}::TIMESTAMP", "%Y-%m-%dT%H:%M:%S")
    if kind == "timestamp with time zone":
        offset = f"datepart('timezone', {expr})"
        return (
            _iso(expr, "%Y-%m-%dT%H:%M:%S")
            + f" || printf('%s%02d:%02d', CASE WHEN {offset} < 0 THEN '-' ELSE '+' END,"
            f" abs({offset}) // 3600, abs({offset}) % 3600 // 60)"
        )
    if kind == "time":
        return _iso(f"(DATE '2000-01-01' + {expr})", "%H:%M:%S")
    if kind == "interval":
        months = f"datepart('year', {expr}) * 12 + datepart('month', {expr})"
        micros = (
            f"datepart('hour', {expr}) * 3600000000 + datepart('minute', {expr}) * 60000000"
            f" + datepart('microsecond', {expr})"
        )
        return f"CASE WHEN {expr} IS NOT NULL THEN [{months}, datepart('day', {expr}), ({micros}) * 1000] END"
    if kind in ("list", "array"):
        item = f"__item{depth}"
        inner = encode(item, dict(dtype.children)["child"], depth + 1)
        return None if inner is None else f"list_transform({expr}, lambda {item}: {inner})"
    if kind == "map":
        entry = f"__entry{depth}"
        types = dict(dtype.children)
        key = f"{entry}.key"
        value = f"{entry}.value"
        pair = (
            f"json_array({encode(key, types['key'], depth + 1) or key},"
            f" {encode(value, types['value'], depth + 1) or value})"
        )
        return f"list_transform(map_entries({expr}), lambda {entry}: {pair})"
    if kind == "struct":
        fields = [
            (name, f"struct_extract({expr}, {string_literal(name)})", child) for name, child in dtype.children
        ]
        encoded = [(name, field, encode(field, child, depth)) for name, field, child in fields]
        if all(enc is None for _, _, enc in encoded):
            return None
        packed = ", ".join(f"{quote(name)} := {enc or field}" for name, field, enc in encoded)
        return f"CASE WHEN {expr} IS NOT NULL THEN struct_pack({packed}) END"
    return None


def _iso(expr: str, pattern: str) -> str:
    """ISO 8601 text of a TIMESTAMP(TZ) expression, with `.ffffff` only when not zero (as
    Python's isoformat)."""
    return (
        f"strftime({expr}, '{pattern}') || CASE WHEN datepart('microsecond', {expr}) % 1000000 = 0"
        f" THEN '' ELSE strftime({expr}, '.%f') END"
    )
