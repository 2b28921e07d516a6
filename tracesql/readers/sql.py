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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

import duckdb

try:  # DuckDB 2.0
    from duckdb.func import SPECIAL
except ImportError:  # pragma: no cover - DuckDB 1.x
    from duckdb.functional import SPECIAL  # type: ignore[no-redef]

from tracesql.errors import TracesqlError
from tracesql.readers.base import Diagnostic
from tracesql.readers.files import fingerprint
from tracesql.readers.options import ScanOptions, read_options
from tracesql.readers.registry import SQL_FUNCTIONS, get_reader
from tracesql.readers.storage import SPILL_PREFIX, private_folder, readers_folder, remove_stale_spills

if TYPE_CHECKING:
    from tracesql.readers.scan import ScanResult

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
    """Per-connection scan state: the spill folder, the parse cache, recent results, the
    diagnostics log.

    A repeated read with the same options over unchanged files reuses its Parquet files
    (DuckDB may bind a query more than once). Only the newest `keep` scans keep files.
    See storage.py for where the folders are. `incremental()` and `window()` let a
    by-file build read only changed files and store the rows in pieces.
    """

    def __init__(self, spill_dir: str | None = None, target_dir: str | None = None, keep: int = 16) -> None:
        base = readers_folder(target_dir)
        self._spill_parent = spill_dir or os.path.join(base, "spill")
        # made at the first read: a connection that reads nothing leaves nothing behind
        self._dirs: list[str] = []
        self._finalizer = weakref.finalize(self, _remove, self._dirs)
        self.cache_dir: str | None = os.path.join(base, "parse-cache") if target_dir else None
        self._cache_ready = False
        self.keep = keep
        self.recent: OrderedDict[tuple, tuple[int, ScanResult]] = OrderedDict()
        self.diagnostics: list[tuple[int, Diagnostic]] = []
        self.counter = itertools.count(1)
        self.last_error: TracesqlError | None = None
        self.last_result: ScanResult | None = None
        self._skip: dict[str, str] | None = None
        self._results: list[ScanResult] | None = None
        self._parts: set[str] | None = None
        self._plans: dict[ScanOptions, tuple] = {}

    @property
    def dir(self) -> str:
        """This connection's spill folder (private; a dead process's are removed first)."""
        if not self._dirs:
            parent = private_folder(self._spill_parent)
            remove_stale_spills(parent)
            self._dirs.append(tempfile.mkdtemp(prefix=f"{SPILL_PREFIX}{os.getpid()}-", dir=parent))
        return self._dirs[0]

    def parse_cache_dir(self) -> str | None:
        """The parse cache's folder (made and pruned at the first read), or None without a project."""
        if self.cache_dir is not None and not self._cache_ready:
            from tracesql.readers.cache import ParseCache  # (pyarrow: loaded at the first read)

            private_folder(self.cache_dir)
            ParseCache(self.cache_dir).prune()
            self._cache_ready = True
        return self.cache_dir

    def scan(self, opts: ScanOptions, redact: bool = False) -> ScanResult:
        from tracesql.readers.scan import plan, run_scan  # (pyarrow: loaded at the first read)

        planned = self._plans.get(opts) or plan(opts)
        if self._results is not None:  # the folder is walked once per incremental build
            self._plans[opts] = planned
        files = planned[2]
        key = (
            opts,
            redact,
            get_reader(opts.source_kind).rows_version(),
            tuple((f.path, f.size, f.mtime_ns, f.inode, f.ctime_ns) for f in files),
            id(self._skip),
        )
        hit = self.recent.get(key)
        if (
            hit is not None
            and all(os.path.exists(p) for p in hit[1].files)
            and all(fingerprint(dep) == fp for dep, fp in hit[1].deps.items())
        ):
            self.recent.move_to_end(key)
            return self._windowed(hit[1])
        scan_id = next(self.counter)
        result = run_scan(
            opts, os.path.join(self.dir, f"scan-{scan_id:05d}"), planned, self.parse_cache_dir(), self._skip
        )
        if redact:
            redact_spill_files(result.files)
        self.diagnostics.extend((scan_id, d) for d in result.diagnostics)
        self.recent[key] = (scan_id, result)
        self.last_result = result
        if self._results is not None:
            self._results.append(result)
        while len(self.recent) > self.keep:
            _, (old_id, _old) = self.recent.popitem(last=False)
            shutil.rmtree(os.path.join(self.dir, f"scan-{old_id:05d}"), ignore_errors=True)
        return self._windowed(result)

    def _windowed(self, result: ScanResult) -> ScanResult:
        if self._parts is None:
            return result
        files = [f for f in result.files if f in self._parts]
        return replace(result, files=files or [self._empty()])

    def _empty(self) -> str:
        from tracesql.readers.scan import write_part
        from tracesql.readers.schema import TRACE_SCHEMA

        path = os.path.join(self.dir, "empty.parquet")
        return path if os.path.exists(path) else write_part(TRACE_SCHEMA.empty_table(), path)

    @contextmanager
    def incremental(self, known: dict[str, str]) -> Iterator[list[ScanResult]]:
        """Within: a read leaves out the files `known` (file as shown -> key) names with their
        current key, and each new read's result (with every selected file's key) is
        added to the yielded list."""
        self._skip, self._results, self._plans = dict(known), [], {}
        try:
            yield self._results
        finally:
            self._skip, self._results, self._plans = None, None, {}

    @contextmanager
    def window(self, parts: list[str]) -> Iterator[None]:
        """Within: a read that repeats a recent one gives only these of its Parquet files."""
        self._parts = set(parts)
        try:
            yield
        finally:
            self._parts = None

    def close(self) -> None:
        self._finalizer()


def _remove(folders: list[str]) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def redact_spill_files(paths: list[str]) -> None:
    """`redact := true`: rewrite a scan's Parquet files with every credential redacted."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tracesql.secrets.columns import redact_arrow

    for path in paths:
        table = pq.read_table(path)
        columns = [redact_arrow(column) for column in table.columns]
        if any(new is not old for new, old in zip(columns, table.columns, strict=True)):
            pq.write_table(
                pa.table(columns, schema=table.schema), path, compression="lz4", row_group_size=2048
            )


def register(con: duckdb.DuckDBPyConnection, store: ScanStore) -> None:
    """Register the scan UDF, one macro per reader, traces(), trace_diagnostics(), message_text()."""

    def scan_udf(  # the SQL arguments, NULL for a default (null_handling=SPECIAL)
        kind: str,
        path: str | None,
        pattern: str | None,
        recursive: bool | None,
        max_traces: int | None,
        shuffle: bool | None,
        seed: int | None,
        pidx: int | None,
        pcount: int | None,
        strict: bool | None,
        follow: bool | None,
        line: int | None,
        diags: int | None,
        off: float | None,
        redact: bool | None,
    ) -> list[str]:
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

    def diagnostics_udf() -> list[dict[str, object]]:
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
    for name, function in SQL_FUNCTIONS.items():
        con.execute(
            f"CREATE OR REPLACE TEMP MACRO {function}({MACRO_PARAMS}) AS TABLE "
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
