"""The SQL face of the readers: one table macro per format, `traces()`, diagnostics.

    SELECT * FROM claude_code_traces();                      -- default folder
    SELECT * FROM codex_traces('~/x', file_pattern := '*.jsonl', max_traces := 10);
    SELECT * FROM traces('../shared/corpus');                -- any format, detected per file
    SELECT * FROM trace_diagnostics();                       -- what the reads of this connection reported

Each macro calls the scan UDF while DuckDB binds the query; see scan.py for why.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import weakref
from collections import OrderedDict

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

try:  # DuckDB 2.0
    from duckdb.func import SPECIAL
except ImportError:  # pragma: no cover - DuckDB 1.x
    from duckdb.functional import SPECIAL  # type: ignore[no-redef]

from tracesql.errors import TracesqlError
from tracesql.readers.base import Diagnostic
from tracesql.readers.options import read_options
from tracesql.readers.registry import READERS, get_reader
from tracesql.readers.scan import ScanOptions, ScanResult, plan, run_scan
from tracesql.secrets.columns import redact_arrow

SCAN_UDF = "__tracesql_scan"
DIAG_UDF = "__tracesql_diagnostics"
MACRO_PARAMS = (
    "path := NULL, file_pattern := NULL, recursive := true, max_traces := NULL, shuffle := false, "
    "seed := 0, partition_index := NULL, partition_count := NULL, strict := false, follow_symlinks := false, "
    "max_line_bytes := NULL, max_diagnostics := NULL, off_path_warning := NULL, redact := false"
)
DIAGNOSTIC_TYPE = (
    "STRUCT(scan INTEGER, source_kind VARCHAR, path VARCHAR, line BIGINT, severity VARCHAR, reason VARCHAR)[]"
)


class ScanStore:
    """Per-connection scan state: the spill folder, recent results, the diagnostics log.

    A repeated read with the same options over unchanged files reuses its Parquet files
    (DuckDB may bind a query more than once). Only the newest `keep` scans keep files.
    """

    def __init__(self, spill_dir: str | None = None, keep: int = 16) -> None:
        self.dir = tempfile.mkdtemp(prefix="tracesql-scan-", dir=spill_dir)
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.dir, True)
        self.keep = keep
        self.recent: OrderedDict[tuple, tuple[int, ScanResult]] = OrderedDict()
        self.diagnostics: list[tuple[int, Diagnostic]] = []
        self.counter = itertools.count(1)
        self.last_error: TracesqlError | None = None

    def scan(self, opts: ScanOptions, redact: bool = False) -> ScanResult:
        planned = plan(opts)
        files = planned[2]
        key = (
            opts,
            redact,
            get_reader(opts.source_kind).version,
            tuple((f.path, f.size, f.mtime_ns) for f in files),
        )
        hit = self.recent.get(key)
        if hit is not None and all(os.path.exists(p) for p in hit[1].files):
            self.recent.move_to_end(key)
            return hit[1]
        scan_id = next(self.counter)
        result = run_scan(opts, os.path.join(self.dir, f"scan-{scan_id:05d}"), planned)
        if redact:
            redact_spill_files(result.files)
        self.diagnostics.extend((scan_id, d) for d in result.diagnostics)
        self.recent[key] = (scan_id, result)
        while len(self.recent) > self.keep:
            _, (old_id, _old) = self.recent.popitem(last=False)
            shutil.rmtree(os.path.join(self.dir, f"scan-{old_id:05d}"), ignore_errors=True)
        return result

    def close(self) -> None:
        self._finalizer()


def redact_spill_files(paths: list[str]) -> None:
    """`redact := true`: rewrite a scan's Parquet files with every credential redacted."""
    for path in paths:
        table = pq.read_table(path)
        columns = [redact_arrow(column) for column in table.columns]
        if any(new is not old for new, old in zip(columns, table.columns, strict=True)):
            pq.write_table(
                pa.table(columns, schema=table.schema), path, compression="lz4", row_group_size=2048
            )


def register(con: duckdb.DuckDBPyConnection, store: ScanStore) -> None:
    """Register the scan UDF, one macro per reader, traces(), trace_diagnostics(), message_text()."""

    def scan_udf(
        kind,
        path,
        pattern,
        recursive,
        max_traces,
        shuffle,
        seed,
        pidx,
        pcount,
        strict,
        follow,
        line,
        diags,
        off,
        redact,
    ):
        try:
            opts = ScanOptions(
                source_kind=kind,
                path=path,
                file_pattern=pattern,
                max_traces=None if max_traces is None else int(max_traces),
                shuffle=bool(shuffle),
                seed=0 if seed is None else int(seed),
                partition_index=None if pidx is None else int(pidx),
                partition_count=None if pcount is None else int(pcount),
                strict=bool(strict),
                read=read_options(
                    recursive=recursive,
                    follow_symlinks=follow,
                    max_line_bytes=line,
                    max_diagnostics=diags,
                    off_path_warning=off,
                ),
            )
            return store.scan(opts, redact=bool(redact)).files
        except TracesqlError as exc:
            store.last_error = exc
            raise

    def diagnostics_udf():
        return [
            {
                "scan": sid,
                "source_kind": d.source_kind,
                "path": d.path,
                "line": d.line,
                "severity": d.severity,
                "reason": d.reason,
            }
            for sid, d in store.diagnostics
        ]

    con.create_function(
        SCAN_UDF,
        scan_udf,
        [
            "VARCHAR",
            "VARCHAR",
            "VARCHAR",
            "BOOLEAN",
            "BIGINT",
            "BOOLEAN",
            "BIGINT",
            "BIGINT",
            "BIGINT",
            "BOOLEAN",
            "BOOLEAN",
            "BIGINT",
            "BIGINT",
            "DOUBLE",
            "BOOLEAN",
        ],
        "VARCHAR[]",
        null_handling=SPECIAL,
        side_effects=True,
    )
    con.create_function(DIAG_UDF, diagnostics_udf, [], DIAGNOSTIC_TYPE, side_effects=True)

    args = (
        "path, file_pattern, recursive, max_traces, shuffle, seed, partition_index, partition_count, strict, "
        "follow_symlinks, max_line_bytes, max_diagnostics, off_path_warning, redact"
    )
    for name, cls in READERS.items():
        con.execute(
            f"CREATE OR REPLACE TEMP MACRO {cls.function_name}({MACRO_PARAMS}) AS TABLE "
            f"SELECT * REPLACE (source_meta::JSON AS source_meta) "
            f"FROM read_parquet({SCAN_UDF}('{name}', {args}))"
        )
    con.execute(
        f"CREATE OR REPLACE TEMP MACRO trace_diagnostics() AS TABLE "
        f"SELECT d.scan, d.source_kind, d.path, d.line, d.severity, d.reason FROM (SELECT unnest({DIAG_UDF}()) AS d)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP MACRO message_text(m) AS "
        "array_to_string(list_transform(list_filter(m.content, lambda b: coalesce(b.text, '') <> ''), "
        "lambda b: b.text), chr(10) || chr(10))"
    )
