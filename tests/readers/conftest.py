from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracesql.connection import open_connection


def claude_record(
    session: str, i: int, role: str = "user", text: str | None = None, parent: str | None = None
) -> dict:
    """A minimal, valid Claude Code transcript record."""
    uuid = f"{session}-{i}"
    rec = {
        "type": role,
        "sessionId": session,
        "uuid": uuid,
        "parentUuid": parent,
        "timestamp": f"2025-03-01T10:00:{i:02d}.000Z",
        "cwd": "/work/project",
    }
    if role == "user":
        rec["message"] = {"role": "user", "content": text or f"question {i}"}
    else:
        rec["message"] = {
            "id": f"msg-{session}-{i}",
            "role": "assistant",
            "model": "claude-test",
            "content": [{"type": "text", "text": text or f"answer {i}"}],
        }
    return rec


def claude_session_lines(session: str, turns: int = 2) -> list[str]:
    lines, parent = [], None
    for i in range(turns * 2):
        role = "user" if i % 2 == 0 else "assistant"
        rec = claude_record(session, i, role, parent=parent)
        parent = rec["uuid"]
        lines.append(json.dumps(rec))
    return lines


def write_session(path: Path, session: str, turns: int = 2, extra: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(claude_session_lines(session, turns)) + "\n").encode() + extra)
    return path


class SQL:
    """A tracesql connection for tests: rows(sql) -> list of dicts."""

    def __init__(self) -> None:
        self.con = open_connection()

    def rows(self, sql: str, params: list | None = None) -> list[dict]:
        cur = self.con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def close(self) -> None:
        self.con.close()


@pytest.fixture
def con():
    """A bare tracesql connection (readers registered)."""
    connection = open_connection()
    yield connection
    connection.close()


def trace_rows(con, function: str, path, **args) -> list[dict]:
    """Rows of `function(path, name := value, ...)` as dicts (through Arrow); `meta` is
    source_meta parsed."""
    extra = "".join(f", {k} := {v!r}" for k, v in args.items())
    out = con.sql(f"SELECT * FROM {function}('{path}'{extra})").to_arrow_table().to_pylist()
    for row in out:
        row["meta"] = json.loads(row["source_meta"])
    return out


def diagnostics(con) -> list[dict]:
    """The connection's reader diagnostics, ordered by file and line."""
    cur = con.execute("SELECT path, line, severity, reason FROM trace_diagnostics() ORDER BY path, line")
    return [dict(zip(("path", "line", "severity", "reason"), r, strict=True)) for r in cur.fetchall()]


@pytest.fixture
def sql():
    conn = SQL()
    yield conn
    conn.close()
