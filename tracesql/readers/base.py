"""The reader contract: one subclass of TraceReader per format, found through a registry.

A reader turns one file into zero or more `Trace` objects. It never raises for bad
input: it records diagnostics on the ReadContext (`ctx.warn` keeps the file's row,
`ctx.skip` gives the file no row) and returns what it could read. Adding a format is one
new subpackage with a subclass, listed in `registry.FORMATS`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import orjson

from tracesql.readers import messages as msgs
from tracesql.readers import usage
from tracesql.readers.options import ReadOptions
from tracesql.readers.timestamps import TimeRange

MAX_INT64 = 2**63 - 1


@dataclass
class Diagnostic:
    source_kind: str
    path: str  # as shown: bytes of a name that is not UTF-8 escaped as \xNN (see shown_path)
    line: int | None
    severity: str  # "warning": the row is kept; "skip": the file gave no row
    reason: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.reason}"


def shown_path(path: str) -> str:
    """A path as text that can be stored and printed: a file name that is not valid UTF-8
    reaches Python with its bad bytes as lone surrogates (surrogateescape); those become
    `\\xNN`, so the name stays recognisable and the row and its diagnostics can be stored."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return (
            "".join(f"\\x{ord(ch) - 0xDC00:02x}" if "\udc80" <= ch <= "\udcff" else ch for ch in path)
            .encode("utf-8", "replace")
            .decode("utf-8")
        )


class DiagnosticLog:
    """The diagnostics of a read, at most `cap` listed per file: the rest are counted and
    told in one more diagnostic when the file is done (junk costs O(1), not O(lines)).
    Also what the current file's rows depend on besides the file (for the parse cache)."""

    def __init__(self, cap: int) -> None:
        self.items: list[Diagnostic] = []
        self.cap = cap
        self.listed = 0
        self.unlisted = 0
        self.last: Diagnostic | None = None
        self.deps: list[str] = []  # other files the current file's rows came from
        self.cacheable = True  # False: its rows depend on more than files (do not cache)

    def add(self, diagnostic: Diagnostic) -> None:
        if diagnostic.severity == "skip" or self.listed < self.cap:
            self.items.append(diagnostic)
            self.listed += 1
            self.last = diagnostic
        else:
            self.unlisted += 1

    def end_file(self) -> None:
        if self.unlisted and self.last is not None:
            # before the file's verdict (a skip), which stays its last word
            at = len(self.items) - 1 if self.items[-1].severity == "skip" else len(self.items)
            self.items.insert(
                at,
                Diagnostic(
                    self.last.source_kind,
                    self.last.path,
                    None,
                    "warning",
                    f"{self.unlisted} more diagnostics for this file not listed "
                    f"(the first {self.cap} are; max_diagnostics sets how many)",
                ),
            )
        self.listed = self.unlisted = 0
        self.last = None
        self.deps = []
        self.cacheable = True


class ReadContext:
    """What a reader may use while it reads one file: where it is, options, and the
    diagnostics sink. `shared` holds per-scan state a reader builds once (indexes).
    `size` is the file's size when it was discovered: nothing past it is read."""

    def __init__(
        self,
        source_kind: str,
        root: str,
        options: ReadOptions | None = None,
        shared: dict | None = None,
        log: DiagnosticLog | None = None,
    ):
        self.source_kind = source_kind
        self.root = root
        self.options = options or ReadOptions()
        self.shared = shared if shared is not None else {}
        self.path = ""
        self.size: int | None = None
        self.log = log or DiagnosticLog(self.options.max_diagnostics)
        self.skipped = False

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self.log.items

    @diagnostics.setter
    def diagnostics(self, items: list[Diagnostic]) -> None:
        self.log.items = items

    def for_file(self, path: str, size: int | None = None) -> ReadContext:
        self.log.end_file()
        self.path = path
        self.size = size
        self.skipped = False
        return self

    def end_file(self) -> None:
        self.log.end_file()

    def file_diagnostics(self) -> int:
        """How many diagnostics the current file has had so far."""
        return self.log.listed + self.log.unlisted

    def for_format(self, source_kind: str, shared: dict) -> ReadContext:
        """A context for another format's reader on the same file (`traces()`), writing to
        the same diagnostics."""
        sub = ReadContext(source_kind, self.root, self.options, shared, self.log)
        sub.path, sub.size = self.path, self.size
        return sub

    def depend(self, path: str) -> None:
        """The current file's rows also come from `path` (a sidecar, an index): a cached read
        of the file is used only while `path` is unchanged (or still missing)."""
        if path not in self.log.deps:
            self.log.deps.append(path)

    def not_cacheable(self) -> None:
        """The current file's rows depend on more than files can say: never cache them."""
        self.log.cacheable = False

    def warn(self, reason: str, line: int | None = None) -> None:
        self.log.add(Diagnostic(self.source_kind, shown_path(self.path), line, "warning", reason))

    def skip(self, reason: str, line: int | None = None) -> None:
        self.skipped = True
        self.log.add(Diagnostic(self.source_kind, shown_path(self.path), line, "skip", reason))


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
    usage: list[dict] = field(default_factory=list)  # entries (readers/usage.py); totals sum them
    # (entry, message) pairs: the message an entry is, linked when the row is made
    usage_messages: list[tuple[dict, dict]] = field(default_factory=list, repr=False)

    def add_model(self, model: Any) -> None:
        """Add a model name once. One model spelled with and without its provider prefix
        (`openai/gpt-4o`, `gpt-4o`) is one model: the prefixed spelling is kept."""
        if not isinstance(model, str) or not model or model in self.models:
            return
        for i, known in enumerate(self.models):
            if known.endswith("/" + model):
                return
            if model.endswith("/" + known):
                self.models[i] = model
                return
        self.models.append(model)

    def add_usage(
        self,
        entry_id: str,
        timestamp: datetime | None,
        model: Any,
        *,
        input: Any = None,
        output: Any = None,
        cache_read: Any = None,
        cache_write: Any = None,
        reasoning: Any = None,
        cost_usd: Any = None,
        message: dict | None = None,
    ) -> int:
        """Add one usage entry (an API response, or the session's totals) and return how
        many of its counts were rejected (not whole numbers in 0..2^48: left out, so the
        reader can warn). `message`: the assistant message this response is; it gets the
        entry's model and counts, and the entry its position."""
        counts: dict[str, int | None] = {}
        rejected = 0
        for column, value in zip(
            usage.COUNT_COLUMNS, (input, output, cache_read, cache_write, reasoning), strict=True
        ):
            counts[column], bad = usage.token_count(value)
            rejected += bad
        model = model if isinstance(model, str) and model else None
        item = usage.entry(entry_id, timestamp, model, counts, usage.cost(cost_usd))
        self.usage.append(item)
        if message is not None:
            self.usage_messages.append((item, message))
        return rejected

    def totals(self) -> dict[str, int | None]:
        """The token columns: sums over the usage entries."""
        return usage.totals(self.usage)

    @property
    def input_tokens(self) -> int | None:
        return self.totals()["input_tokens"]

    @property
    def output_tokens(self) -> int | None:
        return self.totals()["output_tokens"]

    @property
    def cache_read_tokens(self) -> int | None:
        return self.totals()["cache_read_tokens"]

    @property
    def cache_write_tokens(self) -> int | None:
        return self.totals()["cache_write_tokens"]

    def link_usage(self) -> None:
        """Point each entry at the message it is (1-based), and give that message the
        entry's model and counts. A message already given an entry keeps the first."""
        if not self.usage_messages:
            return
        positions = {id(m): i for i, m in enumerate(self.messages, start=1)}
        for item, message in self.usage_messages:
            position = positions.get(id(message))
            if position is None or message.get("usage") is not None:
                continue
            item["message_index"] = position
            message["usage"] = usage.message_usage(item)
            if item["model"] is not None:
                message["model"] = item["model"]

    def to_row(self, ordinal: int = 0, warn: Callable[[str], None] | None = None) -> dict:
        """The row. A source_meta value JSON cannot hold (an integer beyond 64 bits, a NaN)
        is stored as text or null, and `warn` is told."""
        started, ended = self.started_at, self.ended_at
        started_raw, ended_raw = self.started_at_raw, self.ended_at_raw
        if started is None and started_raw is None:
            started, started_raw = self.times.start, self.times.start_raw
        if ended is None and ended_raw is None:
            ended, ended_raw = self.times.end, self.times.end_raw
        self.link_usage()
        meta = dict(self.source_meta)
        if started_raw is not None:
            meta["started_at_raw"] = started_raw
        if ended_raw is not None:
            meta["ended_at_raw"] = ended_raw
        return {
            "trace_id": self.trace_id,
            "source_kind": self.source_kind,
            "source_path": shown_path(self.source_path),
            "root_session_id": self.root_session_id,
            "agent_id": self.agent_id,
            "is_sidechain": bool(self.is_sidechain),
            "cwd": self.cwd,
            "project_path": self.project_path,
            "git_branch": self.git_branch,
            "started_at": started,
            "ended_at": ended,
            "messages": self.messages,
            "source_meta": json_text(meta, warn),
            "message_count": len(self.messages),
            "tool_call_count": msgs.tool_call_count(self.messages),
            "final_assistant_message": msgs.final_assistant_message(self.messages),
            "trace_key": trace_key(self.source_path, self.trace_id, ordinal),
            "models": self.models,
            **self.totals(),
            "usage": self.usage,
        }


def json_text(value: Any, warn: Callable[[str], None] | None = None) -> str:
    """JSON text of a value read from a trace. orjson refuses integers beyond 64 bits and
    lone surrogates; then such integers become strings, non-finite numbers null and lone
    surrogates U+FFFD, and `warn` says so."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
    except (TypeError, orjson.JSONEncodeError):
        pass
    changed: list[str] = []
    text = json.dumps(jsonable(value, changed), sort_keys=False, ensure_ascii=False, default=str)
    if warn is not None and changed:
        warn(f"source_meta: {changed[0]}" + (f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""))
    return text


def jsonable(value: Any, changed: list[str]) -> Any:
    """`value` with what strict JSON cannot hold replaced (see json_text); `changed` lists each change."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            changed.append("a lone surrogate in a string was replaced with U+FFFD")
            return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if -(2**63) <= value < 2**64:
            return value
        changed.append(f"an integer of {len(str(abs(value)))} digits was kept as a string")
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        changed.append(f"a non-finite number ({value}) was stored as null")
        return None
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): jsonable(v, changed) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, changed) for v in value]
    return value


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

    def rows_version(self) -> int:
        """What a cached read of this reader depends on: its `version`."""
        return self.version

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

    def read_usage(self, path: str, ctx: ReadContext) -> list[Trace]:
        """The traces of a file with (at least) their identity and usage entries, for
        usage reports: by default the full read; a format whose files are big and whose
        usage sits on few lines reads only those."""
        return self.read_file(path, ctx)


def warn_off_path(ctx: ReadContext, off: int, total: int, what: str) -> None:
    """The warning every tree-shaped format gives when more than `off_path_warning` of a
    file's message records are on no row (abandoned branches, links that lead nowhere)."""
    if total and off > ctx.options.off_path_warning * total:
        ctx.warn(
            f"{off} of {total} {what} ({100 * off / total:.0f} %) are off the active path "
            "(abandoned branches, or links the reader could not follow) and are in no row"
        )


def prepare_safely(reader: TraceReader, root: str, recursive: bool, ctx: ReadContext) -> None:
    """`reader.prepare`, whose failure (a bad index) costs its metadata, never the read."""
    path, size = ctx.path, ctx.size
    try:
        reader.prepare(root, recursive, ctx)
    except RecursionError:
        ctx.warn(f"{reader.name}: per-read index nested too deeply; not used")
    except Exception as exc:
        ctx.warn(f"{reader.name}: building the per-read index failed ({type(exc).__name__}: {exc}); not used")
    ctx.path, ctx.size = path, size


def expand(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))
