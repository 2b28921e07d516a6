"""Redacting whole columns: Arrow arrays of any type, a string array at a time.

    redact_array(pa.array(["x", "GITHUB_TOKEN=ghp_..."]))  -> ["x", "GITHUB_TOKEN=[REDACTED:github_token]"]
    redact_arrow(table.column("messages"))                  -> every string inside, lists and structs kept

A string array's values sit back to back in one buffer: the boundary-free PREFILTER scans
that buffer once, in C, without copying it or making a Python string of any value; only
the values a match overlaps go through `redact()` one by one. An array without a match is
returned as it came. Arrow is what DuckDB, pyarrow and Spark (`mapInArrow`) exchange, so
this is the engine-neutral way to redact a table on its way out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracesql.secrets import anonymize
from tracesql.secrets.detector import candidate_spans, redact_bytes

__all__ = ["REDACT", "Rewrite", "anonymizing", "redact_array", "redact_arrow", "redact_batches"]

Spans = Callable[[memoryview, Callable[[int], int]], list[tuple[int, int]]]


@dataclass(frozen=True)
class Rewrite:
    """A change to texts: where it may apply in many texts joined (a superset), and the
    change to one text (UTF-8 in and out; the same object back when nothing changes)."""

    spans: Spans
    apply: Callable[[bytes], bytes]

    def then(self, other: Rewrite) -> Rewrite:
        """This rewrite, then `other`, on the texts either may apply to."""

        def spans(data: memoryview, end_of: Callable[[int], int]) -> list[tuple[int, int]]:
            return self.spans(data, end_of) + other.spans(data, end_of)

        return Rewrite(spans, lambda b: other.apply(self.apply(b)))


REDACT = Rewrite(candidate_spans, redact_bytes)


def anonymizing(key: bytes) -> Rewrite:
    return Rewrite(anonymize.spans, lambda data: anonymize.anonymize_bytes(data, key))


def _flagged_rows(array: pa.Array, spans: Spans) -> list[int]:
    """Indexes of the values of a string array that a `spans` match overlaps."""
    _validity, offsets_buffer, data = array.buffers()[:3]
    if data is None or offsets_buffer is None:
        return []
    large = pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type)
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64 if large else np.int32)
    offsets = offsets[array.offset : array.offset + len(array) + 1]
    first, last = int(offsets[0]), int(offsets[-1])
    if last <= first:
        return []

    def end_of(pos: int) -> int:  # the end of the value holding `pos` (relative to `first`)
        index = min(int(np.searchsorted(offsets, first + pos, side="right")), len(offsets) - 1)
        return int(offsets[index]) - first

    found = spans(memoryview(data)[first:last], end_of)
    if not found:
        return []
    rows: set[int] = set()
    for start, end in found:
        lo = int(np.searchsorted(offsets, first + start, side="right")) - 1
        hi = int(np.searchsorted(offsets, first + max(start, end - 1), side="right")) - 1
        rows.update(range(max(lo, 0), min(hi, len(array) - 1) + 1))
    return sorted(i for i in rows if array[i].is_valid)


def redact_array(array: pa.Array, rewrite: Rewrite = REDACT) -> pa.Array:
    """A string array with every credential replaced (nulls stay null), or `rewrite` applied."""
    if isinstance(array, pa.ChunkedArray):
        return pa.chunked_array([redact_array(chunk, rewrite) for chunk in array.chunks], array.type)
    rows = _flagged_rows(array, rewrite.spans)
    changed = {}
    for i in rows:
        before = array[i].as_buffer().to_pybytes()
        after = rewrite.apply(before)
        if after != before:
            changed[i] = after
    if not changed:
        return array
    mask = np.zeros(len(array), dtype=bool)
    mask[list(changed)] = True
    values = [changed[i].decode("utf-8", "surrogatepass") for i in sorted(changed)]
    return pc.replace_with_mask(array, pa.array(mask), pa.array(values, array.type))


def redact_arrow(array: pa.Array | pa.ChunkedArray, rewrite: Rewrite = REDACT) -> pa.Array:
    """Any Arrow array with `rewrite` applied to every string inside it (lists, structs, maps)."""
    if isinstance(array, pa.ChunkedArray):
        return pa.chunked_array([redact_arrow(chunk, rewrite) for chunk in array.chunks], array.type)
    t = array.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return redact_array(array, rewrite)
    if isinstance(t, pa.ExtensionType):
        storage = redact_arrow(array.storage, rewrite)
        return array if storage is array.storage else pa.ExtensionArray.from_storage(t, storage)
    if pa.types.is_map(t):
        offsets, keys = _children(array, array.keys)
        _offsets, items = _children(array, array.items)
        redacted = redact_arrow(items, rewrite)
        if redacted is items:
            return array
        return pa.MapArray.from_arrays(offsets, keys, redacted, type=t, mask=_null_mask(array))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        offsets, values = _children(array, array.values)
        redacted = redact_arrow(values, rewrite)
        if redacted is values:
            return array
        cls = pa.LargeListArray if pa.types.is_large_list(t) else pa.ListArray
        return cls.from_arrays(offsets, redacted, type=t, mask=_null_mask(array))
    if pa.types.is_struct(t):
        fields = array.flatten()
        redacted = [redact_arrow(f, rewrite) for f in fields]
        if all(a is b for a, b in zip(redacted, fields, strict=True)):
            return array
        return pa.StructArray.from_arrays(redacted, fields=list(t), mask=_null_mask(array))
    return array


def _children(array: pa.Array, child: pa.Array) -> tuple[pa.Array, pa.Array]:
    """A (possibly sliced) list array's offsets from 0, and the part of `child` it uses."""
    offsets = array.offsets
    first, last = offsets[0].as_py(), offsets[-1].as_py()
    if first == 0 and last == len(child):
        return offsets, child
    return pc.subtract(offsets, pa.scalar(first, offsets.type)), child.slice(first, last - first)


def _null_mask(array: pa.Array) -> pa.Array | None:
    return array.is_null() if array.null_count else None


def redact_batches(reader: pa.RecordBatchReader, rewrite: Rewrite = REDACT) -> pa.RecordBatchReader:
    """A stream of record batches with `rewrite` applied to every string in them, lazily."""

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            columns = [redact_arrow(column, rewrite) for column in batch.columns]
            yield pa.RecordBatch.from_arrays(columns, schema=batch.schema)

    return pa.RecordBatchReader.from_batches(reader.schema, batches())
