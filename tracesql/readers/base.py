"""The reader contract: one subclass of TraceReader per format, found through a registry.

A reader turns one file into zero or more `Trace` objects. It never raises for bad
input: it records diagnostics on the ReadContext (`ctx.warn` keeps the file's row,
`ctx.skip` gives the file no row) and returns what it could read. Adding a format is one
new subpackage with a subclass, listed in `registry.FORMATS`.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import orjson

from tracesql.readers import messages as msgs
from tracesql.readers.timestamps import TimeRange

MAX_INT64 = 2**63 - 1


@dataclass
class Diagnostic:
    source_kind: str
    path: str
    line: int | None
    severity: str  # "warning": the row is kept; "skip": the file gave no row
    reason: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.reason}"


class ReadContext:
    """What a reader may use while it reads one file: where it is, options, and the
    diagnostics sink. `shared` holds per-scan state a reader builds once (indexes)."""

    def __init__(self, source_kind: str, root: str, options: dict | None = None, shared: dict | None = None):
        self.source_kind = source_kind
        self.root = root
        self.options = options or {}
        self.shared = shared if shared is not None else {}
        self.path = ""
        self.diagnostics: list[Diagnostic] = []
        self.skipped = False

    def for_file(self, path: str) -> ReadContext:
        self.path = path
        self.skipped = False
        return self

    def warn(self, reason: str, line: int | None = None) -> None:
        self.diagnostics.append(Diagnostic(self.source_kind, self.path, line, "warning", reason))

    def skip(self, reason: str, line: int | None = None) -> None:
        self.skipped = True
        self.diagnostics.append(Diagnostic(self.source_kind, self.path, line, "skip", reason))


@dataclass
class Trace:
    """One normalized trace. Readers fill what their format records; `to_row` derives
    the rest (counts, final message, timestamps, trace_key)."""

    trace_id: str
    source_kind: str
    source_path: str
    root_session_id: str
    messages: list[dict] = field(default_factory=list)
    agent_id: str | None = None
    is_sidechain: bool = False
    cwd: str | None = None
    project_path: str | None = None
    git_branch: str | None = None
    times: TimeRange = field(default_factory=TimeRange)
    started_at: datetime | None = None  # set directly to override `times`
    ended_at: datetime | None = None
    started_at_raw: Any = None
    ended_at_raw: Any = None
    source_meta: dict = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None

    def add_model(self, model: Any) -> None:
        if isinstance(model, str) and model and model not in self.models:
            self.models.append(model)

    def add_usage(
        self, input: Any = None, output: Any = None, cache_read: Any = None, cache_write: Any = None
    ) -> None:
        for attr, value in (
            ("input_tokens", input),
            ("output_tokens", output),
            ("cache_read_tokens", cache_read),
            ("cache_write_tokens", cache_write),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if isinstance(value, float) and not math.isfinite(value):
                continue
            total = (getattr(self, attr) or 0) + int(value)
            if -MAX_INT64 <= total <= MAX_INT64:  # beyond BIGINT is not a token count
                setattr(self, attr, total)

    def to_row(self, ordinal: int = 0) -> dict:
        started, ended = self.started_at, self.ended_at
        started_raw, ended_raw = self.started_at_raw, self.ended_at_raw
        if started is None and started_raw is None:
            started, started_raw = self.times.start, self.times.start_raw
        if ended is None and ended_raw is None:
            ended, ended_raw = self.times.end, self.times.end_raw
        meta = dict(self.source_meta)
        if started_raw is not None:
            meta["started_at_raw"] = started_raw
        if ended_raw is not None:
            meta["ended_at_raw"] = ended_raw
        return {
            "trace_id": self.trace_id,
            "source_kind": self.source_kind,
            "source_path": self.source_path,
            "root_session_id": self.root_session_id,
            "agent_id": self.agent_id,
            "is_sidechain": bool(self.is_sidechain),
            "cwd": self.cwd,
            "project_path": self.project_path,
            "git_branch": self.git_branch,
            "started_at": started,
            "ended_at": ended,
            "messages": self.messages,
            "source_meta": orjson.dumps(meta, option=orjson.OPT_NON_STR_KEYS, default=str).decode(),
            "message_count": len(self.messages),
            "tool_call_count": msgs.tool_call_count(self.messages),
            "final_assistant_message": msgs.final_assistant_message(self.messages),
            "trace_key": trace_key(self.source_path, self.trace_id, ordinal),
            "models": self.models,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
        }


def trace_key(source_path: str, trace_id: str, ordinal: int = 0) -> str:
    """Unique within a read, stable across runs: the file, the trace id, and which
    occurrence of that id in the file it is (0 for the first)."""
    digest = hashlib.sha256(f"{source_path}\0{trace_id}\0{ordinal}".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:24]


class TraceReader:
    """Base class of the format readers.

    Class attributes configure a reader; `read_file` does the work. `accepts` filters
    discovered files by name before they are opened (return a reason to skip); `sniff`
    recognizes a file of this format from its name and first bytes (for `traces()`).
    """

    name: ClassVar[str] = ""
    function_name: ClassVar[str] = ""
    default_path: ClassVar[str | None] = None
    default_pattern: ClassVar[str] = "*.jsonl"
    # Bump when the rows a reader produces change, so cached reads are redone.
    version: ClassVar[int] = 1
    # `traces()` offers a file to the formats in ascending priority: the most specific
    # sniffers (those that recognise a distinctive first record) go first.
    sniff_priority: ClassVar[int] = 100

    def accepts(self, relpath: str) -> str | None:
        """None if the file should be read, else the reason it is not a trace."""
        return None

    def sniff(self, path: str, head: bytes) -> bool:
        """Whether a file (name and first bytes) is of this format."""
        return False

    def explain(self, path: str, head: bytes) -> str | None:
        """For `traces()`: what a file that no reader claimed is, when this format's world
        knows it (a log or sidecar of the same tool), else None."""
        return None

    def prepare(self, root: str, recursive: bool, ctx: ReadContext) -> None:
        """Build per-scan state (indexes) into ctx.shared before files are read."""

    def read_file(self, path: str, ctx: ReadContext) -> list[Trace]:
        raise NotImplementedError


def expand(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))
