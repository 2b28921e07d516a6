"""Opening DuckDB with everything tracesql adds: the one place SQL functions are registered.

Every connection tracesql opens (runs, `tracesql query`, `tracesql.connect()`) goes
through `configure_connection`, so the trace readers and the LLM functions exist in all
of them. The registered objects are TEMP macros and Python UDFs: they live in the
connection, never in the database file, which stays readable by the plain duckdb CLI.

    with tracesql.connect("x.duckdb") as con:      # a Connection
        con.sql("SELECT count(*) FROM traces('~/.claude/projects')").show()
        con.duckdb                                  # the raw DuckDBPyConnection
        con.session.llm                             # the LLM runtime its functions share

A `Connection` owns a `Session`: the reader spill folder, the LLM runtime (event loop,
cache writer, HTTP thread pools). `close()`, leaving the `with` block, or dropping the
last reference to the Connection stops those threads and removes the spill folder.
"""

from __future__ import annotations

import os
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

import duckdb

from tracesql.errors import DatabaseLocked, TracesqlError
from tracesql.llm import functions as llm_functions
from tracesql.llm import interrupts
from tracesql.llm.options import RunOptions
from tracesql.readers import registry as reader_registry
from tracesql.readers import sql as reader_sql
from tracesql.secrets import sql as secrets_sql
from tracesql.sqltext import quote, string_literal

if TYPE_CHECKING:
    from tracesql.llm.config import LLMConfig
    from tracesql.llm.runtime import LLMRuntime


@dataclass(frozen=True)
class ConnectionOptions:
    """What configure_connection needs besides the DuckDB connection."""

    project_dir: str | None = None  # where relative LLM cache paths start
    target_dir: str | None = None  # the default LLM cache lives here
    llm_config: LLMConfig | None = None  # None: the built-in providers plus the environment
    run_options: RunOptions = field(default_factory=RunOptions)
    spill_dir: str | None = None  # parent of the readers' spill folder (default: the temp dir)
    redact: bool = True  # credentials become [REDACTED:<kind>] in every LLM request body


class Session:
    """What the SQL functions of one connection share, for as long as it is open."""

    def __init__(
        self,
        scans: reader_sql.ScanStore,
        llm: llm_functions.RuntimeSlot,
        on_close: Callable[[], None] = lambda: None,
    ) -> None:
        self.scans = scans
        self._llm = llm
        self._on_close = on_close

    @property
    def llm(self) -> LLMRuntime:
        """The LLM runtime (made at the first use: see llm.functions.RuntimeSlot)."""
        return self._llm.get()

    @llm.setter
    def llm(self, runtime: LLMRuntime) -> None:
        """Another runtime for the session (a test's scripted one); the SQL functions keep theirs."""
        self._llm = llm_functions.RuntimeSlot(lambda: runtime)
        self._llm.get()

    def pop_error(self) -> TracesqlError | None:
        """The clean error a Python UDF recorded before DuckDB wrapped it in its own (the LLM
        layer's, or a reader's), taken off so the next failure starts fresh."""
        llm = self._llm.started
        recorded = (llm.pop_error() if llm is not None else None) or self.scans.last_error
        self.scans.last_error = None
        return recorded

    def close(self) -> None:
        """Stop the LLM runtime's threads and remove the spill folder (idempotent)."""
        try:
            self._on_close()
            llm = self._llm.started
            if llm is not None:
                llm.close()
        finally:
            self.scans.close()


def python_sql_names() -> set[str]:
    """Names of SQL functions backed by Python: a view that calls one cannot be opened
    outside tracesql, so models using them default to tables."""
    return reader_registry.function_names() | llm_functions.SQL_NAMES | secrets_sql.SQL_NAMES


def configure_connection(con: duckdb.DuckDBPyConnection, options: ConnectionOptions) -> Session:
    """Register every SQL function tracesql adds (the readers', secrets', the LLM layer's)."""
    scans = reader_sql.ScanStore(options.spill_dir, options.target_dir)
    try:
        reader_sql.register(con, scans)
        secrets_sql.register(con, options.target_dir)
        llm = llm_functions.configure_llm(
            con,
            options.llm_config,
            project_dir=options.project_dir,
            target_dir=options.target_dir,
            run_options=options.run_options,
            redact=options.redact,
        )
    except BaseException:
        scans.close()
        raise

    def stop(reason: str) -> None:
        """SIGINT/SIGTERM (llm.interrupts): stop spending, and stop the query in progress."""
        llm.interrupt(reason)
        con.interrupt()

    return Session(scans, llm, interrupts.on_stop(stop))


class Connection:
    """A DuckDB connection with tracesql's SQL functions, and the session behind them.

    Every DuckDB method works on it (`sql`, `execute`, `fetchall`, `register`, ...: they are
    the raw connection's); `.duckdb` is the raw `DuckDBPyConnection` for APIs that need
    one. A context manager; `close()` also ends the session."""

    def __init__(self, con: duckdb.DuckDBPyConnection, session: Session) -> None:
        self.duckdb = con
        self.session = session
        # on close(), or when the Connection is garbage-collected (or at exit)
        self._finalizer = weakref.finalize(self, _close, con, session)

    def sql(self, query: str, **kwargs: Any) -> duckdb.DuckDBPyRelation:
        return self.duckdb.sql(query, **kwargs)

    def execute(self, query: str | duckdb.Statement, parameters: object = None) -> Connection:
        """Run a statement; fetch its rows from the returned connection (`.fetchall()`)."""
        self.duckdb.execute(query, parameters)
        return self

    def executemany(self, query: str | duckdb.Statement, parameters: object = None) -> Connection:
        self.duckdb.executemany(query, parameters)
        return self

    def close(self) -> None:
        """Close DuckDB, stop the session's threads, remove its spill folder (idempotent)."""
        self._finalizer()

    def hand_over(self) -> tuple[duckdb.DuckDBPyConnection, Session]:
        """The DuckDB connection and session, for a new owner (a subclass wrapping them):
        this object no longer closes them."""
        self._finalizer.detach()
        return self.duckdb, self.session

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def __getattr__(self, name: str) -> Any:
        if name in ("duckdb", "session", "_finalizer"):  # not set yet (or copied without them)
            raise AttributeError(name)
        return getattr(self.duckdb, name)

    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<tracesql.Connection {'closed' if self.closed else 'open'}>"


def _close(con: duckdb.DuckDBPyConnection, session: Session) -> None:
    try:
        con.close()
    finally:
        session.close()


def open_connection(
    database: str = ":memory:",
    *,
    read_only: bool = False,
    wal: bool = True,
    options: ConnectionOptions | None = None,
    storage_version: str | None = None,
) -> Connection:
    """Open DuckDB and configure it.

    `wal=False` (what `tracesql run` uses) attaches the file without write-ahead logging:
    a big table is written once, at a CHECKPOINT, instead of into the WAL and then again
    into the file (for a 230 MB trace table: ~300 MiB less memory, ~0.5 s less). The runner
    checkpoints after every model, so a crash can lose at most the model being built.

    `storage_version` ("v1.4.0"; None: DuckDB's newest) is the on-disk format a file is
    created with, so that older duckdb CLIs can read it; an existing file keeps its own.
    A file another process holds raises DatabaseLocked naming that process.
    """
    creating = database != ":memory:" and not read_only and not os.path.exists(database)
    version = storage_version if creating else None
    try:
        if wal or read_only or database == ":memory:":
            config: dict[str, str | bool | int | float | list[str]] = (
                {"storage_compatibility_version": version} if version else {}
            )
            con = duckdb.connect(database, read_only=read_only, config=config)
        else:
            con = duckdb.connect(":memory:")
            alias = _attach_alias(database)
            attach_options = "RECOVERY_MODE no_wal_writes" + (
                f", STORAGE_VERSION {string_literal(version)}" if version else ""
            )
            try:
                con.execute(f"ATTACH {string_literal(database)} AS {quote(alias)} ({attach_options})")
                con.execute(f"USE {quote(alias)}")
            except BaseException:
                con.close()
                raise
    except duckdb.IOException as exc:
        raise locked_error(exc, database, read_only) or exc from None
    try:
        session = configure_connection(con, options or ConnectionOptions())
    except BaseException:
        con.close()
        raise
    return Connection(con, session)


_LOCK_HOLDER = re.compile(r"Could not set lock on file .*?Conflicting lock is held in (.*?) \(PID (\d+)\)")


def locked_error(exc: duckdb.Error, database: str, read_only: bool) -> DatabaseLocked | None:
    """DuckDB's lock conflict as one line naming the holder and the fix; None for other errors."""
    found = _LOCK_HOLDER.search(str(exc))
    if found is None:
        return None
    program, pid = os.path.basename(found.group(1)), found.group(2)
    if read_only:
        return DatabaseLocked(
            f"{database} is open for writing in another process (PID {pid}, {program}): "
            "wait for it to finish, or close that connection, then try again"
        )
    return DatabaseLocked(
        f"{database} is open in another process (PID {pid}, {program}), and DuckDB lets no one write "
        "while anyone reads: close that connection (a notebook's `con.close()`) and try again"
    )


def _attach_alias(database: str) -> str:
    """The name DuckDB itself would give the file (its stem), unless that name is reserved."""
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(database))[0]) or "project"
    return stem if stem.lower() not in ("memory", "system", "temp", "main") else f"{stem}_db"
