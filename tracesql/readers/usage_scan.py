"""Reading the token usage of every agent's sessions, for `tracesql usage`: no project, no
conversation, as fast as the files allow.

Each file gives its traces' identity (format, trace and session ids, project, path) and
usage entries, through its reader's `read_usage` (the same entries the full reader
gives; Claude Code parses only the lines that can hold usage). Big reads are parsed by
worker processes. What each file gave is kept in a usage cache (an Arrow IPC file in the
user's cache folder, private: reading it costs a fraction of what Parquet's reader
allocates), keyed as the parse cache keys files (path, size, mtime,
inode, ctime, the reader's version, and the sidecars and indexes the rows came from):
a repeated run reads only new and changed files.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa

from tracesql.readers import parallel
from tracesql.readers.base import Diagnostic, ReadContext, TraceReader, expand, prepare_safely, shown_path
from tracesql.readers.cache import file_key
from tracesql.readers.detect import AutoReader
from tracesql.readers.discover import FoundFile
from tracesql.readers.files import fingerprint
from tracesql.readers.options import ReadOptions, ScanOptions
from tracesql.readers.registry import FORMATS
from tracesql.readers.scan import STORE_ERRORS, make_batches, plan, read_one
from tracesql.readers.schema import USAGE_ENTRY
from tracesql.readers.storage import private_folder

USAGE_VERSION = 1  # bump when what read_usage gives changes (the usage cache is redone)
USAGE_SCHEMA = pa.schema(
    [
        ("source_kind", pa.string()),
        ("trace_id", pa.string()),
        ("root_session_id", pa.string()),
        ("project_path", pa.string()),
        ("source_path", pa.string()),
        ("usage", pa.list_(USAGE_ENTRY)),
    ]
)
# the cache also says which file a row came from, its key, and what else it depended on;
# a file that gave no usage has one row with no trace (so it is not read again)
CACHE_SCHEMA = pa.schema(
    [*USAGE_SCHEMA, ("file", pa.string()), ("file_key", pa.string()), ("deps", pa.string())]
)
CACHE_FILE = "usage-cache.arrow"


@dataclass(frozen=True)
class UsageSource:
    """A folder (or file) to read: a format's, or any format's (`auto`: detected per file)."""

    source_kind: str
    path: str


def default_sources(env: dict[str, str] | None = None) -> list[UsageSource]:
    """The session folders of every installed agent that exist on this machine: Claude
    Code's under each `$CLAUDE_CONFIG_DIR` (comma-separated; else `~/.config/claude` and
    `~/.claude`), Codex's under `$CODEX_HOME` (else `~/.codex`), Pi's and Hermes's default
    folders. ATIF has no default folder (give it with --path)."""
    env = dict(os.environ) if env is None else env
    home = env.get("HOME") or os.path.expanduser("~")
    candidates: list[UsageSource] = []
    claude = env.get("CLAUDE_CONFIG_DIR")
    roots = (
        [p.strip() for p in claude.split(",") if p.strip()]
        if claude
        else [
            os.path.join(home, ".config", "claude"),
            os.path.join(home, ".claude"),
        ]
    )
    candidates += [UsageSource("claude_code", os.path.join(root, "projects")) for root in roots]
    codex = env.get("CODEX_HOME") or os.path.join(home, ".codex")
    candidates.append(UsageSource("codex", os.path.join(codex, "sessions")))
    for cls in FORMATS:
        if cls.name not in ("claude_code", "codex") and cls.default_path:
            candidates.append(UsageSource(cls.name, cls.default_path.replace("~", home, 1)))
    seen: set[str] = set()
    found = []
    for source in candidates:
        path = expand(source.path)
        if os.path.isdir(path) and path not in seen:
            seen.add(path)
            found.append(UsageSource(source.source_kind, path))
    return found


@dataclass
class UsageScan:
    table: pa.Table  # USAGE_SCHEMA: a row per trace with usage (and per file without: no trace_id)
    files: int = 0
    parsed: int = 0  # files read by this run
    cached: int = 0  # files whose usage came from the usage cache
    diagnostics: list[Diagnostic] = field(default_factory=list)


@dataclass
class UsageBatch:
    table: pa.Table  # CACHE_SCHEMA
    diagnostics: list[Diagnostic]
    parsed: int


@dataclass(frozen=True)
class UsageJob:
    """What a worker needs to read a batch of files' usage (picklable)."""

    source_kind: str
    root_dir: str
    options: ReadOptions
    shared: dict
    keys: dict[str, str]  # file path -> its key

    def parse(self, index: int, files: list[FoundFile]) -> UsageBatch:
        from tracesql.readers.registry import get_reader

        reader = get_reader(self.source_kind)
        if self.source_kind == "auto":
            reader.prepare(self.root_dir, self.options.recursive, ReadContext("auto", self.root_dir))
        ctx = ReadContext(self.source_kind, self.root_dir, self.options, self.shared)
        per_file: list[list[dict]] = []
        for f in files:
            ctx.for_file(f.path, f.size)
            traces = read_one(reader, f, ctx, usage_only=True)
            deps = json.dumps([[dep, fingerprint(dep)] for dep in ctx.log.deps])
            base = {"file": shown_path(f.path), "file_key": self.keys[f.path], "deps": deps}
            rows = [dict(base)]  # no usage: one row without a trace
            if traces:
                rows = []
                for trace in traces:
                    trace.link_usage()
                    rows.append(
                        {
                            **base,
                            "source_kind": trace.source_kind,
                            "trace_id": trace.trace_id,
                            "root_session_id": trace.root_session_id,
                            "project_path": trace.project_path,
                            "source_path": shown_path(trace.source_path),
                            "usage": trace.usage,
                        }
                    )
            per_file.append(rows)
        ctx.end_file()
        return UsageBatch(self._table(per_file, ctx), ctx.diagnostics, len(files))

    def _table(self, per_file: list[list[dict]], ctx: ReadContext) -> pa.Table:
        """The rows as Arrow, converted together; should that fail, file by file, a file
        whose rows cannot be stored keeping only its row without a trace."""
        try:
            return pa.Table.from_pylist([r for rows in per_file for r in rows], schema=CACHE_SCHEMA)
        except STORE_ERRORS:
            pass
        tables = []
        for rows in per_file:
            try:
                tables.append(pa.Table.from_pylist(rows, schema=CACHE_SCHEMA))
            except STORE_ERRORS as exc:
                base = {k: rows[0][k] for k in ("file", "file_key", "deps")}
                ctx.log.add(
                    Diagnostic(
                        self.source_kind, base["file"], None, "skip", f"its usage cannot be stored: {exc}"
                    )
                )
                tables.append(pa.Table.from_pylist([base], schema=CACHE_SCHEMA))
        return pa.concat_tables(tables) if tables else CACHE_SCHEMA.empty_table()


def scan_usage(sources: Iterable[UsageSource], cache_dir: str | None = None) -> UsageScan:
    """Read the usage of every file under `sources` (a file under two of them once)."""
    cache = UsageCache(cache_dir) if cache_dir else None
    previous = cache.load() if cache is not None else None
    kept: list[pa.Table] = []
    new: list[pa.Table] = []
    result = UsageScan(USAGE_SCHEMA.empty_table())
    seen: set[str] = set()
    for source in sources:
        reader, root_dir, files, diagnostics = plan(ScanOptions(source.source_kind, source.path))
        result.diagnostics.extend(d for d in diagnostics if "no files match" not in d.reason)
        files = [f for f in files if f.path not in seen]
        seen.update(f.path for f in files)
        result.files += len(files)
        keys = {f.path: usage_key(reader, f) for f in files}
        to_read = files
        if previous is not None:
            hits = previous.hits(files, keys)
            kept.append(previous.rows(hits))
            result.cached += len(hits)
            to_read = [f for f in files if f.path not in hits]
        if not to_read:
            continue
        ctx = ReadContext(reader.name, root_dir)
        prepare_safely(reader, root_dir, True, ctx)
        if isinstance(reader, AutoReader):
            reader.prepare_formats(ctx)
        ctx.end_file()
        result.diagnostics.extend(ctx.diagnostics)
        job = UsageJob(reader.name, root_dir, ReadOptions(), ctx.shared, keys)
        batches = make_batches(to_read, parallel.workers())
        parts = (
            parallel.map_batches(job, batches)
            if parallel.worth_it(to_read)
            else map(job.parse, range(len(batches)), batches)
        )
        for part in parts:
            new.append(part.table)
            result.diagnostics.extend(part.diagnostics)
            result.parsed += part.parsed
    tables = [t for t in kept + new if t.num_rows]
    combined = pa.concat_tables(tables) if tables else CACHE_SCHEMA.empty_table()
    if cache is not None and (new or previous is None or previous.table.num_rows != combined.num_rows):
        cache.save(combined)
    result.table = combined.select(USAGE_SCHEMA.names)  # rows without a trace: no usage
    return result


def usage_key(reader: TraceReader, f: FoundFile) -> str:
    return file_key(reader.name, reader.rows_version(), ("usage", USAGE_VERSION, ReadOptions().rows_key()), f)


class CachedUsage:
    """The usage cache as loaded: which files it has, with which key and dependencies."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.by_file: dict[str, tuple[str, list[int], str]] = {}
        files, keys, deps = (table.column(c).to_pylist() for c in ("file", "file_key", "deps"))
        for i, (name, key, dep) in enumerate(zip(files, keys, deps, strict=True)):
            entry = self.by_file.setdefault(name, (key, [], dep))
            entry[1].append(i)

    def hits(self, files: list[FoundFile], keys: dict[str, str]) -> set[str]:
        """The files whose cached usage is current (same key, dependencies unchanged)."""
        out = set()
        for f in files:
            entry = self.by_file.get(shown_path(f.path))
            if entry is None or entry[0] != keys[f.path]:
                continue
            try:
                deps = json.loads(entry[2])
            except ValueError:
                continue
            if all(fingerprint(dep) == fp for dep, fp in deps):
                out.add(f.path)
        return out

    def rows(self, files: set[str]) -> pa.Table:
        """The cached rows of `files`, as zero-copy slices of runs of consecutive rows (a
        `take` would load Arrow's compute kernels: 75 MB for a usage report)."""
        indexes = sorted(i for path in files for i in self.by_file[shown_path(path)][1])
        runs = contiguous_runs(indexes)
        if not runs:
            return CACHE_SCHEMA.empty_table()
        return pa.concat_tables([self.table.slice(start, length) for start, length in runs])


def contiguous_runs(indexes: list[int]) -> list[tuple[int, int]]:
    """Sorted indexes as (start, length) runs of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for i in indexes:
        if runs and runs[-1][0] + runs[-1][1] == i:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((i, 1))
    return runs


class UsageCache:
    """One Arrow IPC file (zstd), replaced whole (written aside, then renamed into place)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.path = os.path.join(folder, CACHE_FILE)

    def load(self) -> CachedUsage | None:
        """The cache, or None when there is none or it cannot be used (then it is rebuilt)."""
        try:
            with pa.memory_map(self.path) as source:
                table = pa.ipc.open_file(source).read_all()
        except (OSError, pa.ArrowException):
            return None
        if not table.schema.equals(CACHE_SCHEMA):
            return None
        return CachedUsage(table)

    def save(self, table: pa.Table) -> None:
        private_folder(self.folder)
        tmp = os.path.join(self.folder, f".{CACHE_FILE}.{uuid.uuid4().hex}.tmp")
        try:
            options = pa.ipc.IpcWriteOptions(compression="zstd")
            with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, CACHE_SCHEMA, options=options) as writer:
                writer.write_table(table)
            os.replace(tmp, self.path)
        except (OSError, pa.ArrowException):
            with contextlib.suppress(OSError):
                os.unlink(tmp)
