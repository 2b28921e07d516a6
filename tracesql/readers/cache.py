"""The parse cache: each file's rows and diagnostics, kept between runs, so an unchanged
file is never parsed twice.

An entry is one Parquet file, named by the file's path and its key: the reader and its
version, the options that change rows (`ReadOptions.rows_key`), and the file's size,
mtime_ns, inode and ctime (some agents rewrite session files in place, keeping size and
mtime). It also records the other files the rows came from (a sub-agent's sidecar, a
session index) with their fingerprints: when one of them changed, the entry is not used.

Safe under concurrent runs and crashes: an entry is written to a temporary file and
renamed into place (readers see the old entry or the new one, never half of one);
writing a file's new entry removes its older ones; entries not used for 30 days and
temporary files left by a crash are pruned when a cache is opened. The folder is private
(0700): the cache holds the traces' text.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from tracesql.readers.base import Diagnostic
from tracesql.readers.discover import FoundFile
from tracesql.readers.files import fingerprint
from tracesql.readers.schema import TRACE_SCHEMA

STALE_SECONDS = 30 * 86400
META_KEY = b"tracesql"


def file_key(reader: str, version: int, options: tuple, f: FoundFile) -> str:
    text = f"{reader}\0{version}\0{options}\0{f.size}:{f.mtime_ns}:{f.inode}:{f.ctime_ns}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _usable(entry: str, serialized_meta: bytes) -> tuple[list[Diagnostic], list[str]] | None:
    """An entry's diagnostics and dependencies, or None when a dependency has changed since
    (a used entry is touched: it is not stale)."""
    meta = json.loads(serialized_meta)
    if any(fingerprint(dep) != fp for dep, fp in meta.get("deps", [])):
        return None
    with contextlib.suppress(OSError):
        os.utime(entry)
    return [Diagnostic(*d) for d in meta.get("diagnostics", [])], [dep for dep, _fp in meta.get("deps", [])]


def _link_or_copy(entry: str, dest: str) -> bool:
    try:
        try:
            os.link(entry, dest)
        except OSError:  # another file system
            shutil.copyfile(entry, dest)
    except OSError:
        return False
    return True


def _path_id(path: str) -> str:
    return hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:32]


@dataclass
class Entry:
    table: pa.Table
    diagnostics: list[Diagnostic]
    deps: list[str]


@dataclass
class Linked:
    """A cache entry linked in place of a parse: its rows stay on disk, only counted."""

    rows: int
    diagnostics: list[Diagnostic]
    deps: list[str]


class ParseCache:
    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._shapes: dict[bytes, bool] = {}
        os.makedirs(folder, mode=0o700, exist_ok=True)

    def _entry(self, path: str, key: str) -> str:
        pid = _path_id(path)
        return os.path.join(self.folder, pid[:2], f"{pid}-{key}.parquet")

    def get(self, path: str, key: str) -> Entry | None:
        """The cached rows of `path` under `key`, if present and its dependencies are unchanged."""
        entry = self._entry(path, key)
        try:
            table = pq.read_table(entry)
        except (OSError, pa.ArrowException):
            return None
        try:
            rows = table.replace_schema_metadata(None).cast(TRACE_SCHEMA)
        except (ValueError, pa.ArrowException):
            return None  # an older shape of the row: parsed again
        found = _usable(entry, (table.schema.metadata or {}).get(META_KEY, b"{}"))
        return None if found is None else Entry(rows, *found)

    def link(self, path: str, key: str, dest: str) -> Linked | None:
        """Like `get`, without reading the rows: the entry, when present, current and in
        today's row shape, is hard-linked to `dest` (a part of the scan, which reads it like
        any other), and only its footer is read. A link keeps the rows readable should a
        concurrent run replace the entry; across file systems it is copied."""
        entry = self._entry(path, key)
        try:
            footer = pq.read_metadata(entry)
        except (OSError, pa.ArrowException):
            return None
        values = footer.metadata or {}
        if not self._current_shape(values.get(b"ARROW:schema", b""), footer):
            return None  # written by an older shape of the row: parsed again
        found = _usable(entry, values.get(META_KEY, b"{}"))
        if found is None or (footer.num_rows and not _link_or_copy(entry, dest)):
            return None
        return Linked(footer.num_rows, *found)

    def _current_shape(self, serialized: bytes, footer: pq.FileMetaData) -> bool:
        """Whether an entry's Arrow schema is TRACE_SCHEMA (decoded once per distinct form)."""
        known = self._shapes.get(serialized)
        if known is None:
            try:
                known = footer.schema.to_arrow_schema().remove_metadata().equals(TRACE_SCHEMA)
            except (pa.ArrowException, ValueError):
                known = False
            self._shapes[serialized] = known
        return known

    def put(
        self, path: str, key: str, table: pa.Table, diagnostics: list[Diagnostic], deps: list[str]
    ) -> None:
        entry = self._entry(path, key)
        folder = os.path.dirname(entry)
        meta = {
            "path": path.encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
            "diagnostics": [[d.source_kind, d.path, d.line, d.severity, d.reason] for d in diagnostics],
            "deps": [[dep, fingerprint(dep)] for dep in deps],
        }
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            tmp = os.path.join(folder, f".{uuid.uuid4().hex}.tmp")
            pq.write_table(
                table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()}),
                tmp,
                compression="lz4",
                use_dictionary=False,
                write_statistics=False,
            )
            os.replace(tmp, entry)
            prefix = os.path.basename(entry).split("-", 1)[0] + "-"
            for name in os.listdir(folder):  # this file's older versions
                if name.startswith(prefix) and name != os.path.basename(entry):
                    os.unlink(os.path.join(folder, name))
        except OSError:
            pass  # a cache that cannot be written only costs a parse next time

    def prune(self, now: float | None = None) -> int:
        """Remove entries not used for STALE_SECONDS and a crash's temporary files."""
        now = time.time() if now is None else now
        removed = 0
        for sub in os.listdir(self.folder) if os.path.isdir(self.folder) else ():
            folder = os.path.join(self.folder, sub)
            if not os.path.isdir(folder):
                continue
            for name in os.listdir(folder):
                path = os.path.join(folder, name)
                try:
                    age = now - os.stat(path).st_mtime
                    if age > STALE_SECONDS or (name.endswith(".tmp") and age > 3600):
                        os.unlink(path)
                        removed += 1
                except OSError:
                    continue
        return removed
