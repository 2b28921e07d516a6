"""Opening the LLM layer's SQLite files (the response cache and the call log) and checking
them before any money is spent.

`open_sqlite` verifies a file up front: its folder can be created, it is an SQLite
database (not garbled), its schema is one this release reads, and it is writable (a write
transaction is taken and committed). Each failure is an `LLMStoreError` naming the file
and how to fix it. `FileIdentity` notices a file deleted or replaced while it is open
(SQLite would go on writing into the unlinked file, and every answer would be lost).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tracesql.errors import LLMStoreError

MEMORY = ":memory:"


@dataclass(frozen=True)
class FileIdentity:
    """The device and inode of an open file, to notice it being deleted or replaced."""

    path: str
    device: int
    inode: int

    @classmethod
    def of(cls, path: str) -> FileIdentity | None:
        if path == MEMORY:
            return None
        stat = os.stat(path)
        return cls(path, stat.st_dev, stat.st_ino)

    def problem(self) -> str | None:
        """None while the path is still this file; else what happened to it."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return "was deleted"
        except OSError as exc:
            return f"cannot be checked ({exc.strerror or exc})"
        if (stat.st_dev, stat.st_ino) != (self.device, self.inode):
            return "was replaced by another file"
        return None


def open_sqlite(
    path: str,
    what: str,
    *,
    schema_version: int,
    create: Callable[[sqlite3.Connection], None],
    read_only: bool = False,
) -> sqlite3.Connection | None:
    """An open, verified connection to the SQLite file `path` (`what` names it in errors:
    "LLM cache", "LLM call log"), its tables created or migrated by `create`.

    `read_only` (dry runs): never creates anything; None when the file does not exist."""
    if path != MEMORY:
        if read_only and not os.path.exists(path):
            return None
        if not read_only:
            _make_folder(path, what)
    try:
        if read_only and path != MEMORY:
            db = sqlite3.connect(
                f"{Path(path).absolute().as_uri()}?mode=ro", uri=True, check_same_thread=False, timeout=30
            )
        else:
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    except sqlite3.Error as exc:
        raise _error(path, what, f"cannot be opened ({exc})", "check the path (llm.cache_path)") from None
    try:
        _verify(db, path, what, schema_version, create, read_only)
    except BaseException:
        db.close()
        raise
    return db


def _verify(
    db: sqlite3.Connection,
    path: str,
    what: str,
    schema_version: int,
    create: Callable[[sqlite3.Connection], None],
    read_only: bool,
) -> None:
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise _error(
            path,
            what,
            f"is not a readable SQLite database ({exc})",
            "move it aside (or delete it) and run again; a new one is created",
        ) from None
    if version > schema_version:
        raise _error(
            path,
            what,
            f"was written by a newer tracesql (schema version {version}; this one reads up to {schema_version})",
            "upgrade tracesql, or point llm.cache_path at another file",
        )
    if read_only:
        return
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # durable across a process crash, cheap commits
        db.execute("BEGIN IMMEDIATE")  # takes the write lock: fails now, not after paying for answers
        try:
            create(db)
            db.execute(f"PRAGMA user_version={schema_version}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    except sqlite3.OperationalError as exc:
        raise _error(
            path,
            what,
            f"is not writable ({exc})",
            "make it (and its folder) writable, set llm.cache_path to a writable place, or stop "
            "the other process holding it",
        ) from None
    except sqlite3.DatabaseError as exc:
        raise _error(
            path,
            what,
            f"is damaged ({exc})",
            "move it aside (or delete it) and run again; a new one is created",
        ) from None


def _make_folder(path: str, what: str) -> None:
    folder = Path(path).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _error(
            path,
            what,
            f"cannot be created: its folder {folder} cannot be made ({exc.strerror or exc})",
            "set llm.cache_path in profiles.yml to a writable place",
        ) from None
    if not folder.is_dir():
        raise _error(
            path,
            what,
            f"cannot be created: {folder} is not a folder",
            "set llm.cache_path in profiles.yml to a writable place",
        )


def _error(path: str, what: str, problem: str, fix: str) -> LLMStoreError:
    return LLMStoreError(f"the {what} {path} {problem}; {fix}")
