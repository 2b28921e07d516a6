"""The trace readers on Spark: one Python Data Source (`tracesql_traces`) for every format.

A model's `claude_code_traces(path := ..., max_traces := 5)` compiles to a temporary view
over this source (dialect.py); its options are the table function's, all of them. The
files are discovered and selected on the planning side (the same `plan()` as DuckDB's
scan, so partitions, shuffle and patterns pick the same files), and parsed by the
executors, a partition per group of files, each yielding Arrow batches of the normalized
row. With `max_traces` the read is one partition, in order, stopping at the limit.

Diagnostics are written as JSON lines beside the warehouse (`_diagnostics/<session>/`),
one file for the planning step and one per partition (rewritten, not appended, when Spark
reads a partition again), and `trace_diagnostics()` reads them back. `strict := true`
fails the read with the first diagnostic, naming its file and line. On a cluster the trace
paths and the warehouse must be storage every executor reads (docs/spark.md).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa

from tracesql.errors import ReaderError, TracesqlError
from tracesql.readers.base import Diagnostic, ReadContext, prepare_safely
from tracesql.readers.discover import FoundFile
from tracesql.readers.options import read_options
from tracesql.readers.registry import get_reader
from tracesql.readers.scan import ScanOptions, contiguous, file_table, plan, read_one
from tracesql.readers.schema import TRACE_SCHEMA
from tracesql.secrets.columns import redact_arrow

try:  # only with the spark extra; the rest of this module needs nothing of Spark
    from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition
except ImportError:  # pragma: no cover - exercised without pyspark
    DataSource = DataSourceReader = InputPartition = object  # type: ignore[misc,assignment]

FORMAT = "tracesql_traces"
DIAGNOSTIC_FIELDS = ("scan", "source_kind", "path", "line", "severity", "reason")
PARTITION_BYTES = 8 << 20  # most source bytes in one partition
ERROR_MARK = "TRACESQL_ERROR:"


@dataclass(frozen=True)
class ReadSpec:
    """Everything one read needs (the `spec` option, as JSON)."""

    source_kind: str
    scan: int
    diagnostics_dir: str
    options: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ReadSpec:
        return cls(**json.loads(text))

    def scan_options(self) -> tuple[ScanOptions, bool]:
        """The reader's ScanOptions (checked as DuckDB checks them) and whether to redact."""
        o = self.options
        opts = ScanOptions(
            source_kind=self.source_kind,
            path=o.get("path"),
            file_pattern=o.get("file_pattern"),
            max_traces=_int(o.get("max_traces")),
            shuffle=bool(o.get("shuffle") or False),
            seed=_int(o.get("seed")) or 0,
            partition_index=_int(o.get("partition_index")),
            partition_count=_int(o.get("partition_count")),
            strict=bool(o.get("strict") or False),
            read=read_options(
                recursive=o.get("recursive"),
                follow_symlinks=o.get("follow_symlinks"),
                max_line_bytes=_int(o.get("max_line_bytes")),
                max_diagnostics=_int(o.get("max_diagnostics")),
                off_path_warning=None if o.get("off_path_warning") is None else float(o["off_path_warning"]),
            ),
        )
        return opts, bool(o.get("redact") or False)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


class FilesPartition(InputPartition):  # type: ignore[misc,valid-type]
    def __init__(self, index: int, files: list[FoundFile], shared: dict) -> None:
        self.index, self.files, self.shared = index, files, shared
        self.root_dir = ""


class TraceReaderSource(DataSourceReader):  # type: ignore[misc,valid-type]
    def __init__(self, spec: ReadSpec) -> None:
        self.spec = spec

    def partitions(self) -> list[FilesPartition]:
        try:
            return self._partitions()
        except TracesqlError as exc:
            raise RuntimeError(carried(exc)) from None

    def _partitions(self) -> list[FilesPartition]:
        opts, _ = self.spec.scan_options()
        reader, root_dir, files, diagnostics = plan(opts)
        ctx = ReadContext(reader.name, root_dir, opts.read)
        prepare_safely(reader, root_dir, opts.read.recursive, ctx)
        ctx.end_file()
        diagnostics = diagnostics + ctx.diagnostics
        write_diagnostics(self.spec, "plan", diagnostics)
        strict_check(opts, diagnostics)
        batches = [files] if opts.max_traces is not None or not files else _split(files)
        parts = [FilesPartition(i, batch, ctx.shared) for i, batch in enumerate(batches)]
        for part in parts:
            part.root_dir = root_dir
        return parts

    def read(self, partition: FilesPartition) -> Iterator[pa.RecordBatch]:  # type: ignore[override]
        try:
            yield from self._read(partition)
        except TracesqlError as exc:
            raise RuntimeError(carried(exc)) from None

    def _read(self, partition: FilesPartition) -> Iterator[pa.RecordBatch]:
        opts, redact = self.spec.scan_options()
        reader = get_reader(opts.source_kind)
        ctx = ReadContext(reader.name, partition.root_dir, opts.read, partition.shared)
        limit = opts.max_traces
        count = 0
        try:
            for f in partition.files:
                if limit is not None and count >= limit:
                    break
                ctx.for_file(f.path, f.size)
                table = file_table(read_one(reader, f, ctx), ctx)
                if table is None or not table.num_rows:
                    continue
                if limit is not None:
                    table = table.slice(0, limit - count)
                count += table.num_rows
                if redact:
                    table = pa.table([redact_arrow(c) for c in table.columns], schema=table.schema)
                yield from table.to_batches()
            ctx.end_file()
        finally:
            write_diagnostics(self.spec, f"part-{partition.index:05d}", ctx.diagnostics)
        strict_check(opts, ctx.diagnostics)


def _split(files: list[FoundFile]) -> list[list[FoundFile]]:
    """Contiguous partitions of about PARTITION_BYTES of source each."""
    return contiguous(files, lambda f: f.size, PARTITION_BYTES)


class TraceDataSource(DataSource):  # type: ignore[misc,valid-type]
    """`spark.read.format("tracesql_traces").option("spec", ReadSpec(...).to_json())`."""

    @classmethod
    def name(cls) -> str:
        return FORMAT

    def schema(self) -> Any:
        from pyspark.sql.pandas.types import from_arrow_schema

        return from_arrow_schema(TRACE_SCHEMA)

    def reader(self, schema: Any) -> TraceReaderSource:
        return TraceReaderSource(ReadSpec.from_json(self.options["spec"]))


def carried(exc: TracesqlError) -> str:
    """A tracesql error as one line of text that survives Spark's wrapping of a Python
    worker's exception (engine.spark_error turns it back into the error)."""
    payload = {k: getattr(exc, k) for k in ("message", "path", "line", "column", "model")}
    return ERROR_MARK + json.dumps({"type": type(exc).__name__, **payload})


def strict_check(opts: ScanOptions, diagnostics: list[Diagnostic]) -> None:
    if opts.strict and diagnostics:
        first = diagnostics[0]
        more = f" (and {len(diagnostics) - 1} more)" if len(diagnostics) > 1 else ""
        raise ReaderError(f"strict mode: {first.reason}{more}", path=first.path, line=first.line)


def write_diagnostics(spec: ReadSpec, name: str, diagnostics: list[Diagnostic]) -> None:
    """One step's diagnostics as JSON lines (written whole, then renamed into place)."""
    folder = os.path.join(spec.diagnostics_dir, f"scan-{spec.scan:05d}")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.jsonl")
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as out:
        for d in diagnostics:
            row = {"scan": spec.scan, **asdict(d)}
            out.write(json.dumps({k: row[k] for k in DIAGNOSTIC_FIELDS}) + "\n")
    os.replace(temporary, path)


def read_diagnostics(diagnostics_dir: str) -> list[dict[str, Any]]:
    """Every diagnostic written under a session's folder, in scan and step order."""
    rows: list[dict[str, Any]] = []
    if not os.path.isdir(diagnostics_dir):
        return rows
    for scan in sorted(os.listdir(diagnostics_dir)):
        folder = os.path.join(diagnostics_dir, scan)
        for name in sorted(n for n in os.listdir(folder) if n.endswith(".jsonl")):
            with open(os.path.join(folder, name), encoding="utf-8") as lines:
                rows.extend(json.loads(line) for line in lines if line.strip())
    return rows
