"""The persistent response cache and the call log: two SQLite files, written as answers arrive.

- `llm_cache.sqlite`: one row per answer, keyed by the request hash. `--no-cache` neither
  reads nor writes it.
- `llm_calls.sqlite`, beside it: the call log, one row per HTTP attempt, cache hit or
  outcome (budget, interrupt...). Always written (even under `--no-cache`, and from
  read-only or in-memory DuckDB connections); `llm_calls` in a project database is
  filled from it after each model, and `llm_call_log()` reads it from any connection.

Both files are opened and verified when the store is created (see sqlitedb.py), before
any request. Each answer is committed (WAL, synchronous=NORMAL) as it arrives, with the
call-log row of its attempt, so a run killed with SIGKILL loses no completed call. A file
deleted or replaced while open is noticed at the next commit or `check()`: an error, not
a silent loss. Safe from several threads (one connection per file behind a lock) and
several processes (SQLite locking, with a busy timeout).
"""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
import weakref
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tracesql.errors import LLMStoreError
from tracesql.llm import columns
from tracesql.llm.calls import CallRecord
from tracesql.llm.columns import column
from tracesql.llm.sqlitedb import MEMORY, FileIdentity, open_sqlite

CACHE_SCHEMA_VERSION = 2  # 2: the call log moved to its own file
LOG_SCHEMA_VERSION = 1
CACHE_FILE = "llm_cache.sqlite"
LOG_FILE = "llm_calls.sqlite"

# The open stores of this process that write a call-log file: a read of the log first waits
# for the rows the others were handed (another connection's), see LLMStore.calls().
_LOG_WRITERS: weakref.WeakSet[LLMStore] = weakref.WeakSet()
_LOG_WRITERS_LOCK = threading.Lock()


@dataclass(frozen=True)
class CachedResponse:
    """One answer in the cache: a row of its `responses` table (see columns.py)."""

    key: str = column("VARCHAR", primary_key=True)
    model_alias: str = column("VARCHAR")
    provider_model: str = column("VARCHAR")
    content: str | None = column("VARCHAR")
    finish_reason: str | None = column("VARCHAR")
    input_tokens: int = column("BIGINT")
    output_tokens: int = column("BIGINT")
    created_at: float = column("DOUBLE")
    reasoning: str | None = column("VARCHAR")  # the server's reasoning_content, when it sends one


_SELECT_RESPONSE = columns.select("responses", CachedResponse)
_INSERT_RESPONSE = columns.insert("responses", CachedResponse, verb="INSERT OR REPLACE")
_INSERT_CALL = columns.insert("calls", CallRecord)
_SELECT_CALLS = columns.select("calls", CallRecord)


def create_cache_tables(db: sqlite3.Connection) -> None:
    """Create the responses table, or bring one written by an earlier release up to date in
    place (missing columns are added; the answers in it keep hitting)."""
    db.execute(columns.create_table("responses", CachedResponse))
    columns.add_missing_columns(db, "responses", CachedResponse)


def create_log_tables(db: sqlite3.Connection) -> None:
    db.execute(columns.create_table("calls", CallRecord))
    columns.add_missing_columns(db, "calls", CallRecord)
    db.execute("CREATE INDEX IF NOT EXISTS calls_run ON calls (run_id, call_id)")
    db.execute("CREATE INDEX IF NOT EXISTS calls_hash ON calls (request_hash) WHERE final")


class LLMStore:
    """The cache (`cache_path`; None: no cache) and the call log (`log_path`), verified on
    opening. `read_only` (dry runs) creates and writes nothing; a missing file is empty.

    Writes go through one writer thread that commits whatever has arrived, in one
    transaction per file (group commit): the threads answering LLM calls never wait for
    the disk. An answer is visible to `get` from the moment it is handed over, and a
    call-log row to `calls` of any store of the process reading the same file."""

    def __init__(
        self,
        cache_path: str | os.PathLike[str] | None,
        log_path: str | os.PathLike[str],
        *,
        read_only: bool = False,
    ) -> None:
        cache_path = None if cache_path is None else os.fspath(cache_path)
        log_path = os.fspath(log_path)
        self.cache_path, self.log_path, self.read_only = cache_path, log_path, read_only
        self._cache: sqlite3.Connection | None = None
        self._log: sqlite3.Connection | None = None
        if cache_path is not None:
            self._cache = open_sqlite(
                cache_path,
                "LLM cache",
                schema_version=CACHE_SCHEMA_VERSION,
                create=create_cache_tables,
                read_only=read_only,
            )
        try:
            self._log = open_sqlite(
                log_path,
                "LLM call log",
                schema_version=LOG_SCHEMA_VERSION,
                create=create_log_tables,
                read_only=read_only,
            )
            if not read_only and self._cache is not None and self._log is not None:
                _move_legacy_calls(self._cache, self._log)
        except BaseException:
            if self._cache is not None:
                self._cache.close()
            raise
        self._files = [
            identity
            for path, db in ((cache_path, self._cache), (log_path, self._log))
            if db is not None and path is not None and (identity := FileIdentity.of(path)) is not None
        ]
        self._lock = threading.Lock()
        self._pending: dict[str, CachedResponse] = {}
        self._pending_lock = threading.Lock()  # a newer answer to a key is never dropped from it
        self._queue: queue.SimpleQueue[tuple[CachedResponse | None, list[CallRecord]] | None] = (
            queue.SimpleQueue()
        )
        # items handed to the writer and committed by it, in the queue's order: a wait covers
        # what was handed before it, not what other threads keep handing over meanwhile
        self._handed = self._written = 0
        self._drained = threading.Condition()
        self._writer: threading.Thread | None = None
        self.write_error: LLMStoreError | None = None
        self._log_file = None if log_path == MEMORY else os.path.realpath(log_path)
        if not read_only and self._log_file is not None:
            with _LOG_WRITERS_LOCK:
                _LOG_WRITERS.add(self)

    # ---- health ---------------------------------------------------------------------------
    def check(self) -> None:
        """Raise LLMStoreError if a write failed or a file was deleted or replaced since it
        was opened (before each request: no answer is paid for that could not be kept)."""
        if self.write_error is None:
            for identity in self._files:
                problem = identity.problem()
                if problem is not None:
                    self.write_error = LLMStoreError(
                        f"the LLM store file {identity.path} {problem} during the run: answers can no "
                        "longer be kept, so no further request is made; run again to continue "
                        "(a new file is created)"
                    )
                    break
        if self.write_error is not None:
            raise self.write_error

    # ---- reads ----------------------------------------------------------------------------
    def get(self, key: str) -> CachedResponse | None:
        pending = self._pending.get(key)
        if pending is not None or self._cache is None:
            return pending
        with self._lock:
            row = self._cache.execute(f"{_SELECT_RESPONSE} WHERE key = ?", (key,)).fetchone()
        return columns.from_row(CachedResponse, row) if row else None

    def get_many(self, keys: list[str]) -> dict[str, CachedResponse]:
        # Pending answers first, then the database: the writer commits an answer before it
        # leaves `_pending`, so one that is in neither at its turn was never handed over.
        found: dict[str, CachedResponse] = {}
        unique = list(dict.fromkeys(keys))
        for key in unique:
            pending = self._pending.get(key)
            if pending is not None:
                found[key] = pending
        if self._cache is None:
            return found
        missing = [key for key in unique if key not in found]
        with self._lock:
            for i in range(0, len(missing), 500):
                part = missing[i : i + 500]
                marks = ",".join("?" * len(part))
                for row in self._cache.execute(f"{_SELECT_RESPONSE} WHERE key IN ({marks})", part):
                    response = columns.from_row(CachedResponse, row)
                    found[response.key] = response
        return found

    def calls(self, run_id: str | None = None, after: int = 0) -> list[CallRecord]:
        """Call-log rows (of one run, with call_id > `after`), in the order they were written:
        every row handed over before the call, by this store or another of the process
        writing the same file (another connection)."""
        self._flush_log()
        if self._log is None:
            return []
        sql, args = f"{_SELECT_CALLS} WHERE call_id > ?", [after]
        if run_id is not None:
            sql += " AND run_id = ?"
            args = [after, run_id]  # type: ignore[list-item]
        with self._lock:
            rows = self._log.execute(sql + " ORDER BY call_id", args).fetchall()
        return [columns.from_row(CallRecord, row) for row in rows]

    def run_heads(self) -> dict[str, int]:
        """run_id -> the highest call_id of its rows, for every run in the call log."""
        self._flush_log()
        if self._log is None:
            return {}
        with self._lock:
            return dict(self._log.execute("SELECT run_id, max(call_id) FROM calls GROUP BY run_id"))

    def output_tokens(self, project_model: str | None, provider_model: str) -> float | None:
        """Mean output tokens of this model's answers in the call log: for this project model
        (its prompts) when it has any, else for the provider model; None without history."""
        if self._log is None:
            return None
        sql = (
            "SELECT avg(output_tokens) FROM calls WHERE provider_model = ? AND status_code = 200 "
            "AND output_tokens > 0"
        )
        with self._lock:
            for extra, args in (
                (" AND project_model IS ?", (provider_model, project_model)),
                ("", (provider_model,)),
            ):
                row = self._log.execute(sql + extra, args).fetchone()
                if row and row[0] is not None:
                    return float(row[0])
        return None

    # ---- writes ---------------------------------------------------------------------------
    def put(self, response: CachedResponse | None, records: list[CallRecord]) -> None:
        """Hand over an answer (None: none) and call-log rows; committed within milliseconds.
        Without a cache the answer is not kept; a read-only store keeps nothing."""
        if self.read_only:
            return
        if self._cache is None:
            response = None
        if response is None and not records:
            return
        if response is not None:
            with self._pending_lock:
                self._pending[response.key] = response
        with self._drained:  # counted and queued together: the n-th handed is the n-th written
            self._handed += 1
            self._queue.put((response, records))
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    self._writer = threading.Thread(
                        target=self._write_loop, name="tracesql-llm-store", daemon=True
                    )
                    self._writer.start()

    def log(self, records: list[CallRecord]) -> None:
        self.put(None, records)

    def flush(self, timeout: float = 60) -> None:
        """Wait until everything handed over before the call is committed."""
        self._wait_written(timeout)
        if self.write_error is not None:
            raise self.write_error

    def _wait_written(self, timeout: float = 60) -> None:
        with self._drained:
            handed = self._handed
            self._drained.wait_for(lambda: self._written >= handed, timeout=timeout)

    def _flush_log(self) -> None:
        """Before reading the call log: wait until the rows handed to this store, and to the
        other open stores of the process writing the same file, are committed (their write
        errors are theirs to raise)."""
        if self._log_file is not None:
            with _LOG_WRITERS_LOCK:
                others = [s for s in _LOG_WRITERS if s is not self and s._log_file == self._log_file]
            for other in others:
                other._wait_written()
        self.flush()

    def _write_loop(self) -> None:
        while True:
            items: list[Any] = [self._queue.get()]
            while len(items) < 1000:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is None for item in items)
            batch = [item for item in items if item is not None]
            try:
                self.check()
                self._commit(batch)
            except LLMStoreError:
                pass  # kept in write_error: raised by check() and flush()
            except BaseException as exc:  # reported by check() and flush()
                self.write_error = LLMStoreError(f"the LLM cache or call log could not be written: {exc}")
            with self._pending_lock:  # not a newer answer to the key, handed over meanwhile
                for response, _records in batch:
                    key = response.key if response is not None else None
                    if key is not None and self._pending.get(key) is response:
                        del self._pending[key]
            with self._drained:
                self._written += len(batch)
                self._drained.notify_all()
            if stop:
                return

    def _commit(self, batch: list[tuple[CachedResponse | None, list[CallRecord]]]) -> None:
        responses = [columns.values(r) for r, _ in batch if r is not None]
        records = _one_final_per_hash([rec for _, recs in batch for rec in recs])
        with self._lock:
            if responses and self._cache is not None:
                _transaction(self._cache, lambda db: db.executemany(_INSERT_RESPONSE, responses))
            if records and self._log is not None:
                _transaction(self._log, lambda db: _append_calls(db, records))

    def close(self) -> None:
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(timeout=60)
            self._writer = None
        with _LOG_WRITERS_LOCK:  # after its last rows are committed
            _LOG_WRITERS.discard(self)
        with self._lock:
            for db in (self._cache, self._log):
                if db is not None:
                    db.close()
            self._cache = self._log = None


def _one_final_per_hash(records: list[CallRecord]) -> list[CallRecord]:
    """Within one batch, only the last row concluding a request keeps `final`."""
    last: dict[str, int] = {}
    for i, record in enumerate(records):
        if record.final:
            last[record.request_hash] = i
    return [
        replace(r, final=False) if r.final and last[r.request_hash] != i else r for i, r in enumerate(records)
    ]


def _append_calls(db: sqlite3.Connection, records: list[CallRecord]) -> None:
    """Append rows; a row concluding a request takes `final` from the request's earlier row
    (the log holds exactly one final row per request hash: its latest outcome)."""
    finals = [(r.request_hash,) for r in records if r.final]
    if finals:
        db.executemany("UPDATE calls SET final = 0 WHERE final AND request_hash = ?", finals)
    db.executemany(_INSERT_CALL, [columns.values(r) for r in records])


def _transaction(db: sqlite3.Connection, work: Any) -> None:
    db.execute("BEGIN")
    try:
        work(db)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _move_legacy_calls(cache: sqlite3.Connection, log: sqlite3.Connection) -> None:
    """A cache file from before the call log had its own file keeps its call-log rows in a
    `calls` table: copy them into the call log, then drop them from the cache."""
    if not cache.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'calls'").fetchone():
        return
    present = {row[1] for row in cache.execute("PRAGMA table_info(calls)")}
    names = [name for name in columns.names(CallRecord) if name in present and name != "call_id"]
    rows = cache.execute(f"SELECT {', '.join(names)} FROM calls ORDER BY rowid").fetchall()
    if rows:
        marks = ", ".join("?" * len(names))
        _transaction(
            log, lambda db: db.executemany(f"INSERT INTO calls ({', '.join(names)}) VALUES ({marks})", rows)
        )
    _transaction(cache, lambda db: db.execute("DROP TABLE calls"))


def cache_path(configured: str | None, project_dir: str | None, target_dir: str | None) -> str:
    """Where the cache lives: llm.cache_path (relative to the project), else
    <target dir>/llm_cache.sqlite, else $TRACESQL_LLM_CACHE or ~/.cache/tracesql/llm_cache.sqlite."""
    if configured == MEMORY:
        return configured
    if configured:
        path = Path(os.path.expandvars(configured)).expanduser()
        return str(path if path.is_absolute() or not project_dir else Path(project_dir) / path)
    if target_dir:
        return str(Path(target_dir) / CACHE_FILE)
    if project_dir:
        return str(Path(project_dir) / "target" / CACHE_FILE)
    if os.environ.get("TRACESQL_LLM_CACHE"):
        return os.environ["TRACESQL_LLM_CACHE"]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return str(base / "tracesql" / CACHE_FILE)


def log_path(cache: str) -> str:
    """The call log lives beside the cache: llm_calls.sqlite in the same folder."""
    return cache if cache == MEMORY else str(Path(cache).with_name(LOG_FILE))
