"""Reading JSON Lines and JSON documents without ever losing a whole file to one bad line.

Every problem becomes a diagnostic (file, line, reason) on the read context; the good
records are still returned. Handles: a UTF-8 BOM, CRLF, blank lines, a truncated last line
(live sessions), invalid UTF-8 (decoded with U+FFFD and reported), lines that are not
objects, two JSON objects written on one line, and nesting too deep to parse.
"""

from __future__ import annotations

import gc
import json
import math
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import orjson

from tracesql.readers.files import TraceStream, describe
from tracesql.readers.lines import Junk, is_binary, iter_lines, segments

if TYPE_CHECKING:
    from tracesql.readers.base import ReadContext


class _Numbers:
    """Hooks for the fallback parser (Python's json, used where orjson refuses a line): a
    number beyond a double's range (`1e999999`) and the tokens NaN/Infinity, which are not
    JSON, are kept as the text they were written as instead of becoming floats that are
    written back as `Infinity` (which strict JSON parsers reject)."""

    def __init__(self) -> None:
        self.kept: list[str] = []
        self.decoder = json.JSONDecoder(parse_float=self.number, parse_constant=self.constant)

    def number(self, text: str) -> float | str:
        value = float(text)
        if math.isfinite(value):
            return value
        self.kept.append(text)
        return text

    def constant(self, text: str) -> str:
        self.kept.append(text)
        return text

    def report(self, ctx: ReadContext, line: int | None = None) -> None:
        if self.kept:
            more = f" (and {len(self.kept) - 1} more)" if len(self.kept) > 1 else ""
            ctx.warn(
                f"{self.kept[0][:40]} is not a number JSON can hold; kept as the string {self.kept[0][:40]!r}{more}",
                line=line,
            )


BOM = b"\xef\xbb\xbf"


def strip_bom(data: bytes) -> bytes:
    """`data` without a leading UTF-8 byte order mark."""
    return data[len(BOM) :] if data.startswith(BOM) else data


def head_lines(head: bytes, limit: int) -> list[bytes]:
    """The first `limit` non-blank lines of a file's first bytes, each stripped, a UTF-8
    BOM dropped. The last may be cut short where the head ends (a line longer than it)."""
    lines: list[bytes] = []
    pos, size = (len(BOM) if head.startswith(BOM) else 0), len(head)
    while pos < size and len(lines) < limit:
        end = head.find(b"\n", pos)
        if end < 0:
            end = size
        line = head[pos:end].strip()
        if line:
            lines.append(line)
        pos = end + 1
    return lines


def first_line(head: bytes) -> bytes:
    """The first non-blank line of a file's first bytes (stripped, BOM dropped); b"" if none."""
    lines = head_lines(head, 1)
    return lines[0] if lines else b""


def json_object(line: bytes) -> dict | None:
    """`line` parsed as a JSON object; None when it is not JSON (or cut short) or not an object."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:  # numbers orjson cannot hold (beyond 64 bits or a double's range)
            value = json.loads(line)
        except (ValueError, RecursionError):
            return None
    return value if isinstance(value, dict) else None


def first_record(head: bytes) -> dict | None:
    """The first non-blank line of a file's first bytes as a JSON object (BOM dropped); None
    when that line is not a JSON object (or is cut short by the head's end)."""
    return json_object(first_line(head))


def open_stream(path: str, ctx: ReadContext) -> TraceStream | None:
    """The file as a stream of text (see files.TraceStream); None with a `skip` when it
    cannot be opened."""
    try:
        return TraceStream(path, ctx.size)
    except (OSError, EOFError, ValueError) as exc:  # zstd/gzip header errors included
        ctx.skip(f"cannot read file: {describe(exc)}")
        return None


def read_document(path: str, ctx: ReadContext) -> bytes | None:
    """A whole JSON document's text, NUL runs taken out; None with a `skip` when it cannot
    be read or its text is over `max_line_bytes` (a document is one record)."""
    stream = open_stream(path, ctx)
    if stream is None:
        return None
    limit = ctx.options.max_line_bytes
    junk = Junk()
    parts: list[bytes] = []
    size = 0
    try:
        with stream:
            for piece, _cut in segments(stream, junk, [1]):
                size += len(piece)
                if size > limit:
                    ctx.skip(f"a JSON document over max_line_bytes ({limit} bytes)")
                    return None
                parts.append(piece)
    except (OSError, EOFError, ValueError) as exc:
        ctx.skip(f"cannot read file: {describe(exc)}")
        return None
    junk.report(ctx, limit)
    return b"".join(parts)


def jsonl_records(path: str, ctx: ReadContext) -> Iterator[tuple[int, dict]]:
    """Every good (line number, object) of a JSONL file, streamed: memory holds one line
    at a time (see lines.py). Nothing, with a `skip`, when the file cannot be opened."""
    stream = open_stream(path, ctx)
    if stream is None:
        return
    junk = Junk()
    try:
        with stream:
            yield from parse_lines(iter_lines(stream, ctx.options.max_line_bytes, junk), junk, ctx)
    except (OSError, EOFError, ValueError) as exc:  # a corrupt archive ends the file here
        ctx.warn(f"reading stopped: {describe(exc)}")
    junk.report(ctx, ctx.options.max_line_bytes)


def read_jsonl_records(path: str, ctx: ReadContext) -> list[tuple[int, dict]]:
    """Every good (line number, object) of a JSONL file; [] with a `skip` when the file
    cannot be read or holds no JSON object at all."""
    records = list(jsonl_records(path, ctx))
    if not records and not ctx.skipped:
        ctx.skip("empty file: no JSON records")
    return records


def iter_jsonl(data: bytes, ctx: ReadContext) -> Iterator[tuple[int, dict]]:
    """Every good (line number, object) of JSONL text held in memory."""
    lines = ((n, line, False) for n, line in enumerate(data.split(b"\n"), start=1))
    return parse_lines(lines, Junk(), ctx)


def parse_lines(
    lines: Iterable[tuple[int, bytes | memoryview, bool]], junk: Junk, ctx: ReadContext
) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for every good record among `lines`.

    Lines are parsed in place (memoryviews of the chunk read: session files are mostly
    base64 images and tool output). A line orjson rejects is stripped and tried again,
    then recovered, so the result is that of parsing each stripped line. Binary lines are
    counted in `junk`, not reported one by one.
    """
    loads = orjson.loads
    first = True
    failures = 0
    for lineno, line, last in lines:
        if first:
            first = False
            if line[:3] == BOM:
                line = line[3:]
        try:
            value = loads(line)
        except orjson.JSONDecodeError:
            failures += 1
            if failures % 512 == 0 and not gc.isenabled():
                # a failed parse leaves a reference cycle (an exception and its frame); a
                # batch is parsed with the cyclic GC off, so collect the young ones here
                gc.collect(0)
            stripped = bytes(line).strip()
            if stripped and (is_binary(stripped) or junk.binary_last >= lineno - 1):
                # binary data, or a short line that looks like text inside it: a binary tail
                # is one diagnostic
                junk.binary(lineno, len(stripped))
                continue
            value = _retry(stripped, lineno, last, ctx, junk, len(stripped) == len(line))
        if isinstance(value, dict):
            yield lineno, value
        elif isinstance(value, _Recovered):
            yield from value.records
        elif value is not _BLANK:
            if junk.binary_last >= lineno - 1:  # a number or string among binary lines
                junk.binary(lineno, len(line))
            else:
                ctx.warn(f"expected a JSON object, got {_type_name(value)}", line=lineno)


class _Recovered:
    __slots__ = ("records",)

    def __init__(self, records: list[tuple[int, dict]]) -> None:
        self.records = records


_BLANK = _Recovered([])


def _retry(
    line: bytes, lineno: int, is_last_unterminated: bool, ctx: ReadContext, junk: Junk, stripped_nothing: bool
) -> Any:
    """A line orjson rejected as it stood: blank, padded with other whitespace, or bad."""
    if not line:
        return _BLANK
    try:
        if stripped_nothing:  # orjson has seen this very line
            raise orjson.JSONDecodeError("", "", 0)
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        # only the last piece of the file can lack its newline: a truncated last line
        return _Recovered(list(_recover(line, lineno, is_last_unterminated, ctx, junk)))


def _recover(
    line: bytes, lineno: int, is_last_unterminated: bool, ctx: ReadContext, junk: Junk
) -> Iterator[tuple[int, dict]]:
    bad_utf8 = None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = line.decode("utf-8", errors="replace")
        bad_utf8 = exc.start
    numbers = _Numbers()
    try:
        values = _decode_concatenated(text, numbers.decoder)
        if "\\ud" in text or "\\uD" in text:
            values = [_without_lone_surrogates(v) for v in values]
    except RecursionError:
        ctx.warn("JSON nested too deeply to parse; line skipped", line=lineno)
        return
    except ValueError as exc:
        if bad_utf8 is not None:  # neither UTF-8 nor JSON: binary junk, counted once per file
            junk.binary(lineno, len(line))
            return
        if is_last_unterminated:
            ctx.warn(f"truncated last line (file still being written?): {exc}", line=lineno)
        else:
            ctx.warn(f"invalid JSON: {exc}", line=lineno)
        return
    if bad_utf8 is not None:
        ctx.warn(f"invalid UTF-8 at byte {bad_utf8}; replaced with U+FFFD", line=lineno)
    numbers.report(ctx, lineno)
    if len(values) > 1:
        ctx.warn(f"{len(values)} JSON values on one line; each read as a record", line=lineno)
    for value in values:
        if isinstance(value, dict):
            yield lineno, value
        else:
            ctx.warn(f"expected a JSON object, got {_type_name(value)}", line=lineno)


def _without_lone_surrogates(value: Any) -> Any:
    """JSON text may escape half a surrogate pair (`"\\ud800"`); such strings cannot be
    encoded as UTF-8 later, so the lone halves become U+FFFD."""
    if isinstance(value, str):
        if _has_surrogate(value):
            return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in value)
        return value
    if isinstance(value, list):
        return [_without_lone_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    return value


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def _decode_concatenated(text: str, decoder: json.JSONDecoder) -> list[Any]:
    values = []
    pos, end = 0, len(text)
    while pos < end:
        while pos < end and text[pos] in " \t\r":
            pos += 1
        if pos >= end:
            break
        value, pos = decoder.raw_decode(text, pos)
        values.append(value)
    return values


def load_json_document(data: bytes, ctx: ReadContext) -> Any:
    """Parse a whole JSON document (read_document's text); on failure record a skip and
    return None."""
    data = strip_bom(data)
    if not data.strip():
        ctx.skip("empty file")
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8", errors="replace")
        ctx.warn(f"invalid UTF-8 at byte {exc.start}; replaced with U+FFFD")
    numbers = _Numbers()
    try:
        value = numbers.decoder.decode(text)
        numbers.report(ctx)
        return _without_lone_surrogates(value) if ("\\ud" in text or "\\uD" in text) else value
    except RecursionError:
        ctx.skip("JSON nested too deeply to parse")
    except ValueError as exc:
        ctx.skip(f"invalid JSON: {exc}", line=getattr(exc, "lineno", None))
    return None


def _type_name(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"
