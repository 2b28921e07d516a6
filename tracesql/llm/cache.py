"""The persistent response cache and call log: one SQLite file, written as answers arrive.

Each response is committed (WAL, synchronous=NORMAL) as it arrives, together with the
call-log row of the attempt that produced it, so a run killed with SIGKILL loses no
completed call: the next run finds every answer that came back before the kill (save the
few milliseconds between an answer's arrival and its group commit). The file
is safe to use from several threads (one connection behind a lock) and from several
processes (SQLite locking, with a busy timeout).
"""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from tracesql.llm import columns
from tracesql.llm.calls import CallRecord
from tracesql.llm.columns import column

SCHEMA_VERSION = 1
CACHE_FILE = "llm_cache.sqlite"


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


TABLES: dict[str, tuple[type, tuple[str, ...]]] = {
    "responses": (CachedResponse, ()),
    "calls": (CallRecord, ("id INTEGER PRIMARY KEY AUTOINCREMENT",)),
}
_SELECT_RESPONSE = columns.select("responses", CachedResponse)
_INSERT_RESPONSE = columns.insert("responses", CachedResponse, verb="INSERT OR REPLACE")
_INSERT_CALL = columns.insert("calls", CallRecord)


def create_or_migrate(db: sqlite3.Connection) -> None:
    """Create the tables, or bring those of a file written by an earlier release up to date
    in place (missing columns are added; the answers in it keep hitting)."""
    for table, (cls, leading) in TABLES.items():
        db.execute(columns.create_table(table, cls, leading=leading))
        columns.add_missing_columns(db, table, cls)
    db.execute("CREATE INDEX IF NOT EXISTS calls_run ON calls (run_id)")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


class LLMStore:
    """Cache and call log in one SQLite file (`path=None` keeps them in memory only).

    Writes go through one writer thread that commits whatever has arrived, in one
    transaction (group commit): the threads answering LLM calls never wait for the disk,
    and a burst of answers costs one commit. An answer is visible to `get` from the moment
    it is handed over (it waits in `_pending` until committed)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path in (None, ":memory:") else Path(path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(self.path) if self.path else ":memory:",
            check_same_thread=False,
            isolation_level=None,
            timeout=30,
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable across a process crash, cheap commits
        create_or_migrate(self._db)
        self._pending: dict[str, CachedResponse] = {}
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._unwritten = 0
        self._drained = threading.Condition()
        self._writer: threading.Thread | None = None
        self.write_error: BaseException | None = None

    # ---- reads ----------------------------------------------------------------------------
    def get(self, key: str) -> CachedResponse | None:
        pending = self._pending.get(key)
        if pending is not None:
            return pending
        with self._lock:
            row = self._db.execute(f"{_SELECT_RESPONSE} WHERE key = ?", (key,)).fetchone()
        return columns.from_row(CachedResponse, row) if row else None

    def get_many(self, keys: list[str]) -> dict[str, CachedResponse]:
        # Pending answers first, then the database: the writer commits an answer before it
        # leaves `_pending`, so one that is in neither at its turn was never handed over.
        # (Database first would miss an answer committed and dropped from `_pending` in
        # between, and pay for it again.)
        found: dict[str, CachedResponse] = {}
        unique = list(dict.fromkeys(keys))
        for key in unique:
            pending = self._pending.get(key)
            if pending is not None:
                found[key] = pending
        missing = [key for key in unique if key not in found]
        with self._lock:
            for i in range(0, len(missing), 500):
                part = missing[i : i + 500]
                marks = ",".join("?" * len(part))
                for row in self._db.execute(f"{_SELECT_RESPONSE} WHERE key IN ({marks})", part):
                    response = columns.from_row(CachedResponse, row)
                    found[response.key] = response
        return found

    def calls(self, run_id: str | None = None) -> list[CallRecord]:
        self.flush()
        sql = columns.select("calls", CallRecord)
        args: tuple = ()
        if run_id is not None:
            sql += " WHERE run_id = ?"
            args = (run_id,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [columns.from_row(CallRecord, row) for row in rows]

    def mean_output_tokens(self, model_alias: str) -> float | None:
        """Average output tokens of this alias's answers so far (for dry-run estimates)."""
        with self._lock:
            row = self._db.execute(
                "SELECT avg(output_tokens) FROM responses WHERE model_alias = ? AND output_tokens > 0",
                (model_alias,),
            ).fetchone()
        return row[0] if row and row[0] is not None else None

    # ---- writes ---------------------------------------------------------------------------
    def put(self, response: CachedResponse | None, records: list[CallRecord]) -> None:
        """Hand over a response (if any) and call-log rows; committed within milliseconds."""
        if response is None and not records:
            return
        if response is not None:
            self._pending[response.key] = response
        with self._drained:
            self._unwritten += 1
        self._queue.put((response, records))
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    self._writer = threading.Thread(
                        target=self._write_loop, name="tracesql-llm-cache", daemon=True
                    )
                    self._writer.start()

    def log(self, records: list[CallRecord]) -> None:
        self.put(None, records)

    def flush(self) -> None:
        """Wait until everything handed over is committed."""
        with self._drained:
            self._drained.wait_for(lambda: self._unwritten == 0, timeout=60)
        if self.write_error is not None:
            raise self.write_error

    def _write_loop(self) -> None:
        while True:
            items: list = [self._queue.get()]
            while len(items) < 1000:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is None for item in items)
            batch = [item for item in items if item is not None]
            try:
                self._commit(batch)
            except BaseException as exc:  # reported by flush(); the run goes on without caching
                self.write_error = exc
            for response, _records in batch:
                key = response.key if response is not None else None
                if key is not None and self._pending.get(key) is response:
                    del self._pending[key]
            with self._drained:
                self._unwritten -= len(batch)
                self._drained.notify_all()
            if stop:
                return

    def _commit(self, batch: list[tuple[CachedResponse | None, list[CallRecord]]]) -> None:
        responses = [columns.values(r) for r, _ in batch if r is not None]
        records = [columns.values(rec) for _, recs in batch for rec in recs]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                if responses:
                    self._db.executemany(_INSERT_RESPONSE, responses)
                if records:
                    self._db.executemany(_INSERT_CALL, records)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(timeout=60)
            self._writer = None
        with self._lock:
            self._db.close()


def cache_path(configured: str | None, project_dir: str | None, target_dir: str | None) -> str:
    """Where the cache lives: llm.cache_path (relative to the project), else
    <target dir>/llm_cache.sqlite, else $TRACESQL_LLM_CACHE or ~/.cache/tracesql/llm_cache.sqlite."""
    if configured == ":memory:":
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
