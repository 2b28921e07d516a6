"""One read of a trace folder: discover, select, parse, and spill rows to Parquet.

DuckDB's Python API has no table functions, so a reader's SQL function is a table macro
over `read_parquet(<scan UDF>(...))`: the UDF runs this scan while DuckDB binds the query
and returns the Parquet files it wrote. Rows are written in batches as files are parsed,
so memory is bounded by a batch and the largest file, never by the corpus; DuckDB then
reads the files in parallel.

Selection works on files before they are opened (so a 5-trace preview of a huge corpus
parses only what it needs): `partition_index/partition_count` keep the files whose
relative path hashes to the partition (N machines split a corpus with no overlap and no
gap; traces of one file stay together), `shuffle` orders files by a seeded hash, and
`max_traces` stops once that many traces are read.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from tracesql.errors import ReaderError
from tracesql.readers import parallel
from tracesql.readers.base import Diagnostic, ReadContext, TraceReader, prepare_safely, shown_path
from tracesql.readers.cache import ParseCache, file_key
from tracesql.readers.discover import FoundFile, discover
from tracesql.readers.files import fingerprint, plain_name
from tracesql.readers.options import ReadOptions, ScanOptions
from tracesql.readers.registry import get_reader
from tracesql.readers.schema import TRACE_SCHEMA, conform_row

T = TypeVar("T")
BATCH_BYTES = 8 * 1024 * 1024  # most source bytes in one batch (one Parquet part)


@dataclass
class ScanResult:
    files: list[str]  # Parquet files holding the rows, in order
    rows: int
    diagnostics: list[Diagnostic] = field(default_factory=list)
    parsed: int = 0  # files parsed by this read
    cached: int = 0  # files whose rows came from the parse cache
    keys: dict[str, str] = field(default_factory=dict)  # every selected file (as shown) -> its key
    skipped: int = 0  # files left out because `skip` named them with their current key
    deps: dict[str, str | None] = field(default_factory=dict)  # other files the rows came from


def stable_hash(*parts: object) -> int:
    digest = hashlib.blake2b("\0".join(str(p) for p in parts).encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(digest.digest(), "big")


def resolve_root(opts: ScanOptions, reader: TraceReader) -> str:
    path = opts.path if opts.path not in (None, "") else reader.default_path
    if path is None:
        raise ReaderError(
            f"{reader.function_name}() has no default folder: give the path, "
            f"e.g. SELECT * FROM {reader.function_name}('/path/to/traces')"
        )
    return path


def select_files(files: list[FoundFile], opts: ScanOptions) -> list[FoundFile]:
    if opts.partition_count is not None or opts.partition_index is not None:
        count, index = opts.partition_count, opts.partition_index
        if count is None or index is None or count < 1 or not 0 <= index < count:
            raise ReaderError(
                f"partition_index must be in 0..partition_count-1 and both given (got {index} of {count})"
            )
        files = [f for f in files if stable_hash("partition", f.relpath) % count == index]
    if opts.shuffle:
        files = sorted(files, key=lambda f: (stable_hash("shuffle", opts.seed, f.relpath), f.relpath))
    return files


def plan(opts: ScanOptions) -> tuple[TraceReader, str, list[FoundFile], list[Diagnostic]]:
    """Discovery and selection, no parsing: which files a scan would read."""
    reader = get_reader(opts.source_kind)
    root = resolve_root(opts, reader)
    pattern = opts.file_pattern or reader.default_pattern
    root_dir, files, diagnostics = discover(
        root, pattern, opts.read.recursive, reader.name, opts.read.follow_symlinks
    )
    kept = []
    for f in files:
        reason = reader.accepts(plain_name(f.relpath))
        if reason:
            diagnostics.append(Diagnostic(reader.name, shown_path(f.path), None, "skip", reason))
        else:
            kept.append(f)
    if opts.max_traces is not None and opts.max_traces < 0:
        raise ReaderError(f"max_traces must be >= 0 (got {opts.max_traces})")
    return reader, root_dir, select_files(kept, opts), diagnostics


def read_one(reader: TraceReader, f: FoundFile, ctx: ReadContext, usage_only: bool = False) -> list:
    """Read one file (`usage_only`: `reader.read_usage`); every file ends with rows or a
    `skip` diagnostic, never silently (a file without usage gives no usage rows quietly)."""
    if f.size == 0:
        ctx.skip("empty file (0 bytes)")
        return []
    try:
        traces = (reader.read_usage if usage_only else reader.read_file)(f.path, ctx)
    except RecursionError:
        ctx.skip("JSON nested too deeply to process")
        return []
    except MemoryError:
        ctx.skip("out of memory while reading this file")
        return []
    except Exception as exc:  # a reader bug must cost one file, never the whole read
        ctx.skip(f"reader error: {type(exc).__name__}: {exc}")
        return []
    if not traces and not ctx.skipped and not usage_only:
        ctx.skip("no traces in this file")
    return traces


def file_rows(traces: list, ctx: ReadContext) -> list[dict] | None:
    """One file's traces as rows; a bug in building a row costs that file at most."""
    try:
        seen: dict[str, int] = {}
        rows = []
        for t in traces:
            n = seen.get(t.trace_id, 0)
            seen[t.trace_id] = n + 1
            rows.append(t.to_row(n, ctx.warn))
        return rows
    except RecursionError:
        ctx.skip("a value in this file is nested too deeply to store")
    except Exception as exc:
        ctx.skip(f"a value in this file cannot be stored: {type(exc).__name__}: {exc}")
    return None


STORE_ERRORS = (pa.ArrowException, ValueError, TypeError, OverflowError, UnicodeError)


def file_table(traces: list, ctx: ReadContext) -> pa.Table | None:
    """One file's traces as Arrow rows. Whatever goes wrong here (a value Arrow cannot
    hold, a bug in building a row) costs that file at most: values that cannot be stored
    become text or NULL with a warning, and only if that fails too is the file skipped."""
    rows = file_rows(traces, ctx)
    del traces
    return None if rows is None else rows_table(rows, ctx.warn, ctx.skip)


def rows_table(rows: list[dict], warn: Callable[[str], None], skip: Callable[[str], None]) -> pa.Table | None:
    """Rows of one file as Arrow (see file_table)."""
    try:
        try:
            return rows_to_table(rows)
        except STORE_ERRORS:
            pass
        problems: list[str] = []
        rows = [conform_row(row, problems) for row in rows]
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            warn(f"a value could not be stored as read: {problems[0]}{more}")
        return rows_to_table(rows)
    except RecursionError:
        skip("a value in this file is nested too deeply to store")
    except Exception as exc:
        skip(f"a value in this file cannot be stored: {type(exc).__name__}: {exc}")
    return None


def check_strict(opts: ScanOptions, diagnostics: list[Diagnostic]) -> None:
    if opts.strict and diagnostics:
        first = diagnostics[0]
        more = f" (and {len(diagnostics) - 1} more)" if len(diagnostics) > 1 else ""
        raise ReaderError(f"strict mode: {first.reason}{more}", path=first.path, line=first.line)


def run_scan(
    opts: ScanOptions,
    out_dir: str,
    planned: tuple | None = None,
    cache_dir: str | None = None,
    skip: dict[str, str] | None = None,
) -> ScanResult:
    """Read what `opts` selects and write the rows to Parquet files in `out_dir`.

    `planned` is `plan(opts)` when the caller has it already (the folder is walked once).
    Big reads without a trace limit are parsed by worker processes, a batch of files
    each, in file order; otherwise files are parsed here, stopping at `max_traces`.
    With `cache_dir`, a file whose key is in the parse cache is not parsed (cache.py).
    `skip` (file as shown -> key) leaves out the files it names with their current key:
    an incremental build reads only what changed.
    """
    reader, root_dir, files, diagnostics = planned if planned is not None else plan(opts)
    diagnostics = list(diagnostics)
    keys = {
        shown_path(f.path): file_key(reader.name, reader.rows_version(), opts.read.rows_key(), f)
        for f in files
    }
    skipped = 0
    if skip:
        kept = [f for f in files if skip.get(shown_path(f.path)) != keys[shown_path(f.path)]]
        skipped, files = len(files) - len(kept), kept
    ctx = ReadContext(reader.name, root_dir, opts.read)
    prepare_safely(reader, root_dir, opts.read.recursive, ctx)
    ctx.end_file()
    diagnostics.extend(ctx.diagnostics)
    job = BatchJob(reader.name, root_dir, ctx.options, ctx.shared, out_dir, cache_dir, reader.rows_version())
    os.makedirs(out_dir, exist_ok=True)
    cache = ParseCache(cache_dir) if cache_dir else None
    results: Iterator[Part]
    if cache is not None and opts.max_traces is None:
        results = with_cache_hits(job, files, keys, cache)
    elif opts.max_traces is None and parallel.worth_it(files):
        results = parallel.map_batches(job, make_batches(files, parallel.workers()))
    else:
        results = iter_sequential(job, files, opts.max_traces)
    written: list[str] = []
    total = parsed = cached = 0
    deps: dict[str, str | None] = {}
    for part in results:
        diagnostics.extend(part.diagnostics)
        parsed += part.parsed
        cached += part.cached
        deps.update((dep, fingerprint(dep)) for dep in part.deps)
        total += part.rows
        if part.rows:
            written.append(part.path)
        else:
            with contextlib.suppress(FileNotFoundError):  # a linked entry without rows has no file
                os.unlink(part.path)
    check_strict(opts, diagnostics)
    if not written:
        written.append(write_part(TRACE_SCHEMA.empty_table(), os.path.join(out_dir, "empty.parquet")))
    return ScanResult(written, total, diagnostics, parsed, cached, keys, skipped, deps)


@dataclass
class Part:
    """One batch of files parsed and written to one Parquet file."""

    path: str
    rows: int
    diagnostics: list[Diagnostic]
    parsed: int = 0
    cached: int = 0
    deps: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BatchJob:
    """Everything a process needs to parse a batch of files (picklable)."""

    source_kind: str
    root_dir: str
    options: ReadOptions
    shared: dict
    out_dir: str
    cache_dir: str | None = None
    version: int = 0  # the reader's, for cache keys

    def parse(self, index: int, files: list[FoundFile], limit: int | None = None) -> Part:
        """Parse `files` (stopping at `limit` traces) into Parquet part number `index`."""
        # Parsing allocates millions of dicts and lists that all live until the batch is
        # written and none of which form cycles: the cyclic GC would only re-walk them
        # (a fifth of the parse time). It is back on before this returns.
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            return self._parse(index, files, limit)
        finally:
            if gc_was_on:
                gc.enable()

    def _parse(self, index: int, files: list[FoundFile], limit: int | None) -> Part:
        reader = get_reader(self.source_kind)
        ctx = ReadContext(self.source_kind, self.root_dir, self.options, self.shared)
        cache = ParseCache(self.cache_dir) if self.cache_dir else None
        tables: list[pa.Table] = []
        pending = Pending(self.source_kind, cache, ctx.diagnostics)
        count = parsed = cached = 0
        deps: set[str] = set()
        for f in files:
            if limit is not None and count >= limit:
                break
            ctx.for_file(f.path, f.size)
            key = file_key(self.source_kind, self.version, self.options.rows_key(), f)
            hit = cache.get(f.path, key) if cache is not None else None
            if hit is not None:
                cached += 1
                ctx.diagnostics.extend(hit.diagnostics)
                deps.update(hit.deps)
                tables.extend(pending.flush())
                table = hit.table if limit is None else hit.table.slice(0, limit - count)
                tables.append(table)
                count += table.num_rows
                continue
            parsed += 1
            first = len(ctx.diagnostics)
            rows = file_rows(read_one(reader, f, ctx), ctx)
            deps.update(ctx.log.deps)
            entry = PendingFile(f, key, rows or [], list(ctx.log.deps), ctx.log.cacheable)
            ctx.end_file()
            entry.diagnostics = ctx.diagnostics[first:]
            if rows and limit is not None:
                del rows[limit - count :]
            del rows  # the entry holds them until they are converted (then they are freed)
            count += len(entry.rows)
            if f.size > PENDING_BYTES:  # a big file: alone, so its memory is freed sooner
                tables.extend(pending.flush())
            pending.add(entry)
            if pending.size >= PENDING_BYTES:
                tables.extend(pending.flush())
        tables.extend(pending.flush())
        ctx.end_file()
        table = pa.concat_tables(tables) if tables else TRACE_SCHEMA.empty_table()
        path = os.path.join(self.out_dir, f"part-{index:05d}.parquet")
        write_part(table, path)
        return Part(path, table.num_rows, ctx.diagnostics, parsed, cached, sorted(deps))


PENDING_BYTES = 4 << 20  # files' rows converted to Arrow together, up to this much source


@dataclass
class PendingFile:
    file: FoundFile
    key: str
    rows: list[dict]
    deps: list[str]
    cacheable: bool
    diagnostics: list[Diagnostic] = field(default_factory=list)


class Pending:
    """Rows of small files converted to Arrow together (one conversion per column per
    flush, not per file), then sliced back per file for the parse cache. Should the joint
    conversion fail, each file is converted alone, so a bad value costs its file only."""

    def __init__(self, source_kind: str, cache: ParseCache | None, diagnostics: list[Diagnostic]) -> None:
        self.source_kind = source_kind
        self.cache = cache
        self.diagnostics = diagnostics
        self.files: list[PendingFile] = []
        self.size = 0

    def add(self, entry: PendingFile) -> None:
        self.files.append(entry)
        self.size += entry.file.size

    def flush(self) -> list[pa.Table]:
        files, self.files, self.size = self.files, [], 0
        if not files:
            return []
        try:
            joint: pa.Table | None = rows_to_table([r for e in files for r in e.rows])
        except STORE_ERRORS:
            joint = None
        tables: list[pa.Table] = []
        offset = 0
        for e in files:
            if joint is not None:
                table: pa.Table | None = joint.slice(offset, len(e.rows))
                offset += len(e.rows)
            else:
                table = rows_table(e.rows, partial(self._note, e, "warning"), partial(self._note, e, "skip"))
            e.rows = []
            if self.cache is not None and e.cacheable:
                self.cache.put(e.file.path, e.key, table or TRACE_SCHEMA.empty_table(), e.diagnostics, e.deps)
            if table is not None and table.num_rows:
                tables.append(table)
        return tables

    def _note(self, e: PendingFile, severity: str, reason: str) -> None:
        d = Diagnostic(self.source_kind, shown_path(e.file.path), None, severity, reason)
        e.diagnostics.append(d)
        self.diagnostics.append(d)


def make_batches(files: list[FoundFile], workers: int) -> list[list[FoundFile]]:
    """Contiguous batches, small enough to balance `workers` processes, big enough to be cheap."""
    total = sum(f.size for f in files)
    target = min(BATCH_BYTES, max(4 << 20, total // (workers * 4) + 1))
    return contiguous(files, lambda f: f.size, target)


def contiguous(items: list[T], size: Callable[[T], int], target: int) -> list[list[T]]:
    """`items` in order, cut into runs of about `target` (each run at least one item)."""
    runs: list[list[T]] = [[]]
    total = 0
    for item in items:
        if total >= target and runs[-1]:
            runs.append([])
            total = 0
        runs[-1].append(item)
        total += size(item)
    return [r for r in runs if r]


def with_cache_hits(
    job: BatchJob, files: list[FoundFile], keys: dict[str, str], cache: ParseCache
) -> Iterator[Part]:
    """The parts of a read through the parse cache, in file order: a cached file's entry is
    linked as a part of its own (its rows are neither read nor written again: reading 960
    entries back and rewriting them cost more than parsing the files in workers), and the
    runs of files between them are parsed, in worker processes when that is worth it."""
    segments: list[Part | list[FoundFile]] = []
    for f in files:
        dest = os.path.join(job.out_dir, f"cached-{len(segments):05d}.parquet")
        hit = cache.link(f.path, keys[shown_path(f.path)], dest)
        if hit is not None:
            segments.append(Part(dest, hit.rows, hit.diagnostics, parsed=0, cached=1, deps=hit.deps))
        elif segments and isinstance(segments[-1], list):
            segments[-1].append(f)
        else:
            segments.append([f])
    misses = [f for s in segments if isinstance(s, list) for f in s]
    in_workers = parallel.worth_it(misses)
    width = parallel.workers() if in_workers else 1
    runs = [make_batches(s, width) if isinstance(s, list) else s for s in segments]
    batches = [b for r in runs if isinstance(r, list) for b in r]
    parsed = (
        parallel.map_batches(job, batches) if in_workers else map(job.parse, range(len(batches)), batches)
    )
    for run in runs:
        if isinstance(run, Part):
            yield run
        else:
            for _batch in run:
                yield next(parsed)


def iter_sequential(job: BatchJob, files: list[FoundFile], limit: int | None) -> Iterator[Part]:
    for index, batch in enumerate(make_batches(files, 1)):
        if limit is not None and limit <= 0:
            return
        part = job.parse(index, batch, limit)
        if limit is not None:
            limit -= part.rows
        yield part


def rows_to_table(rows: list[dict]) -> pa.Table:
    """Rows as an Arrow table, column by column, in the system allocator: it gives the
    builders' growth back in place (jemalloc, pyarrow's default, doubles the peak of a
    huge trace: 2x its row instead of 1x)."""
    pool = pa.system_memory_pool()
    arrays = [pa.array([r[f.name] for r in rows], type=f.type, memory_pool=pool) for f in TRACE_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=TRACE_SCHEMA)


HUGE_PART = 64 << 20  # a part this big (a huge trace) is written uncompressed


def write_part(table: pa.Table, path: str) -> str:
    """Parquet without dictionaries or statistics (DuckDB loads it as fast; a dictionary of
    message text is a copy of it); compressed unless huge, where the compressed copy
    would double the writer's memory."""
    compression = "none" if table.nbytes > HUGE_PART else "lz4"
    pq.write_table(
        table,
        path,
        compression=compression,
        row_group_size=2048,
        use_dictionary=False,
        write_statistics=False,
    )
    return path
