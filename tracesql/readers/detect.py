"""`traces(path)`: read a folder of mixed formats, detecting each file's format.

Each file's name and first bytes are offered to every format reader's `sniff`; the first
that claims it reads it, and the row carries that reader's source_kind. Files no reader
claims (Harbor config.json/result.json, sidecars, index files, stream-json logs...) are
skipped with a diagnostic that says so.
"""

from __future__ import annotations

import hashlib

from tracesql.readers.base import ReadContext, Trace, TraceReader, prepare_safely
from tracesql.readers.files import TraceStream, describe, plain_name

HEAD_BYTES = 64 * 1024
PREPARED = "\0prepared"  # in a format's shared state: its per-read state is built already


def read_head(path: str, size: int | None = None) -> bytes:
    """A file's first bytes of text (decompressed and transcoded, as its reader sees them)."""
    with TraceStream(path, size) as stream:
        head = stream.read(HEAD_BYTES)
    return head[:HEAD_BYTES]


class AutoReader(TraceReader):
    name = "auto"
    function_name = "traces"
    default_path = None
    default_pattern = "*.json*"

    def __init__(self, formats: list[TraceReader] | None = None) -> None:
        # the format readers in the order files are offered to them (see registry.get_reader)
        self.formats: list[TraceReader] = formats or []
        self.prepared: set[str] = set()
        self.root = ""
        self.recursive = True

    def rows_version(self) -> int:
        """traces() gives the format readers' rows: its cached reads follow their versions."""
        text = repr([(r.name, r.rows_version()) for r in self.formats])
        return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big")

    def accepts(self, relpath: str) -> str | None:
        if not plain_name(relpath).endswith((".json", ".jsonl")):
            return "not a .json or .jsonl file"
        return None

    def prepare(self, root: str, recursive: bool, ctx: ReadContext) -> None:
        self.root, self.recursive = root, recursive

    def prepare_formats(self, ctx: ReadContext) -> None:
        """Build every format's per-read state (indexes) now, into ctx.shared, so that the
        workers a read hands it to do not build it again for each batch of files."""
        for reader in self.formats:
            shared = ctx.shared.setdefault(reader.name, {})
            if not shared.get(PREPARED):
                prepare_safely(reader, self.root, self.recursive, ctx.for_format(reader.name, shared))
                shared[PREPARED] = True

    def detect(self, path: str, relpath: str, head: bytes) -> TraceReader | None:
        for reader in self.formats:
            if reader.accepts(relpath) is None and _claims(reader, path, head):
                return reader
        return None

    def why_not_a_trace(self, path: str, relpath: str, head: bytes) -> str:
        """Why no reader claimed a file: a reader that knows it as a non-trace says what it is
        (from its name, else from its first bytes)."""
        for reader in self.formats:
            reason = reader.accepts(relpath)
            if reason and not reason.startswith("not a .json"):
                return reason
        for reader in self.formats:
            try:
                reason = reader.explain(path, head)
            except Exception:
                reason = None
            if reason:
                return reason
        return "not a trace in any known format"

    def read_file(self, path: str, ctx: ReadContext) -> list[Trace]:
        return self._read(path, ctx, usage_only=False)

    def read_usage(self, path: str, ctx: ReadContext) -> list[Trace]:
        return self._read(path, ctx, usage_only=True)

    def _read(self, path: str, ctx: ReadContext, usage_only: bool) -> list[Trace]:
        relpath = path[len(self.root) + 1 :] if path.startswith(self.root + "/") else path
        try:
            head = read_head(path, ctx.size)
        except (OSError, EOFError, ValueError) as exc:
            ctx.skip(f"cannot read file: {describe(exc)}")
            return []
        # the hooks judge names as if uncompressed: s.jsonl.gz is a .jsonl file
        name, relname = plain_name(path), plain_name(relpath)
        reader = self.detect(name, relname, head)
        if reader is None:
            ctx.skip(self.why_not_a_trace(name, relname, head))
            return []
        shared = ctx.shared.setdefault(reader.name, {})
        if reader.name not in self.prepared and not shared.get(PREPARED):
            self.prepared.add(reader.name)
            prepare_safely(reader, self.root, self.recursive, ctx.for_format(reader.name, shared))
        sub = ctx.for_format(reader.name, shared)
        traces = reader.read_usage(path, sub) if usage_only else reader.read_file(path, sub)
        ctx.skipped = sub.skipped
        return traces


def _claims(reader: TraceReader, path: str, head: bytes) -> bool:
    """A sniffer that fails on an odd first record (a `type` that is a list...) does not
    claim the file, and cannot fail the read."""
    try:
        return bool(reader.sniff(path, head))
    except Exception:
        return False
