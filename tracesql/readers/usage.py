"""Token usage as the readers record it: one entry per API response, in a trace's `usage`.

Every format that records usage gives entries (docs/usage.md has each format's rules): an
entry is one API response (a Claude Code message, a Codex turn, a Pi message, an ATIF
step), or a session's totals where the format records only those (Hermes, ATIF
`final_metrics`). An entry that is a message of the conversation points at it
(`message_index`), and that message carries the entry's model and counts; a response off
the conversation's path (an abandoned branch, a rewind) is an entry without a message.
The trace's token columns are the sums of its entries.

An entry's `id` says which API response it is, so that the same response copied into
another file (a resumed or forked session) is counted once: `file_scoped_id` makes one
for entries whose format gives them no identity of their own (never equal across files).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

MAX_TOKENS = 1 << 48  # a count at or above this is not a token count
COUNT_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
TOTAL_COLUMNS = COUNT_COLUMNS[:4]  # the trace row's token columns


def token_count(value: Any) -> tuple[int | None, bool]:
    """(count, rejected): a whole number in 0..2^48 (an integral float included) is a
    count; None is no count; anything else is rejected (and is no count)."""
    if value is None:
        return None, False
    if isinstance(value, bool):
        return None, True
    if isinstance(value, int):
        return (value, False) if 0 <= value < MAX_TOKENS else (None, True)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and 0 <= value < MAX_TOKENS:
        return int(value), False
    return None, True


def cost(value: Any) -> float | None:
    """A recorded cost in USD: a finite, non-negative number, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def file_scoped_id(source_path: str, where: object) -> str:
    """An id for an entry whose format gives it none: unique to its file and place in it."""
    return f"{source_path}#{where}"


def entry(
    entry_id: str,
    timestamp: datetime | None,
    model: str | None,
    counts: Mapping[str, int | None],
    cost_usd: float | None = None,
) -> dict:
    """A usage entry (message_index is filled when the trace becomes a row)."""
    out: dict[str, Any] = {"id": entry_id, "timestamp": timestamp, "model": model}
    for column in COUNT_COLUMNS:
        out[column] = counts.get(column)
    out["cost_usd"] = cost_usd
    out["message_index"] = None
    return out


def message_usage(usage_entry: dict) -> dict:
    """The counts of an entry, as a message's `usage` struct."""
    return {column: usage_entry[column] for column in COUNT_COLUMNS}


def totals(entries: list[dict]) -> dict[str, int | None]:
    """The trace row's token columns: each the sum over the entries that have it (NULL
    when none has)."""
    out: dict[str, int | None] = dict.fromkeys(TOTAL_COLUMNS)
    for item in entries:
        for column in TOTAL_COLUMNS:
            value = item[column]
            if value is not None:
                total = out[column]
                out[column] = value if total is None else total + value
    return out
