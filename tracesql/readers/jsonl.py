"""Reading JSON Lines and JSON documents without ever losing a whole file to one bad line.

Every problem becomes a diagnostic (file, line, reason) on the read context; the good
records are still returned. Handles: a UTF-8 BOM, CRLF, blank lines, a truncated last line
(live sessions), invalid UTF-8 (decoded with U+FFFD and reported), lines that are not
objects, two JSON objects written on one line, and nesting too deep to parse.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson

from tracesql.readers.files import as_utf8, open_regular

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


def read_bytes(path: str, ctx: ReadContext) -> bytes | None:
    """The file's bytes, no more than its discovered size (see files.py); None with a
    `skip` when it cannot be read."""
    try:
        with open_regular(path) as fh:
            return as_utf8(fh.read(-1 if ctx.size is None else ctx.size))
    except OSError as exc:
        ctx.skip(f"cannot read file: {exc.strerror or exc}")
        return None


def read_jsonl_records(path: str, ctx: ReadContext) -> list[tuple[int, dict]]:
    """Every good (line number, object) of a JSONL file; [] with a `skip` when the file
    cannot be read or holds no JSON object at all."""
    data = read_bytes(path, ctx)
    if data is None:
        return []
    records = list(iter_jsonl(data, ctx))
    if not records:
        ctx.skip("empty file: no JSON records")
    return records


def iter_jsonl(data: bytes, ctx: ReadContext) -> Iterator[tuple[int, dict]]:
    """Yield (1-based line number, object) for every good record in JSONL bytes.

    Lines are parsed in place through a memoryview (no copy of each line: session files
    are mostly base64 images and tool output). A line orjson rejects is stripped and
    tried again, then recovered, so the result is that of parsing each stripped line.
    """
    start = len(BOM) if data.startswith(BOM) else 0
    view = memoryview(data)
    find, loads, size = data.find, orjson.loads, len(data)
    lineno = 0
    while True:
        lineno += 1
        newline = find(b"\n", start)
        end = size if newline < 0 else newline
        if end > start:
            try:
                value = loads(view[start:end])
            except orjson.JSONDecodeError:
                value = _retry(data[start:end].strip(), lineno, newline < 0, ctx)
            if isinstance(value, dict):
                yield lineno, value
            elif isinstance(value, _Recovered):
                yield from value.records
            elif value is not _BLANK:
                ctx.warn(f"expected a JSON object, got {_type_name(value)}", line=lineno)
        if newline < 0:
            return
        start = newline + 1


class _Recovered:
    __slots__ = ("records",)

    def __init__(self, records: list[tuple[int, dict]]) -> None:
        self.records = records


_BLANK = _Recovered([])


def _retry(line: bytes, lineno: int, is_last_unterminated: bool, ctx: ReadContext) -> Any:
    """A line orjson rejected as it stood: blank, padded with other whitespace, or bad."""
    if not line:
        return _BLANK
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        # only the last piece of the file can lack its newline: a truncated last line
        return _Recovered(list(_recover(line, lineno, is_last_unterminated, ctx)))


def _recover(
    line: bytes, lineno: int, is_last_unterminated: bool, ctx: ReadContext
) -> Iterator[tuple[int, dict]]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = line.decode("utf-8", errors="replace")
        ctx.warn(f"invalid UTF-8 at byte {exc.start}; replaced with U+FFFD", line=lineno)
    numbers = _Numbers()
    try:
        values = _decode_concatenated(text, numbers.decoder)
        if "\\ud" in text or "\\uD" in text:
            values = [_without_lone_surrogates(v) for v in values]
    except RecursionError:
        ctx.warn("JSON nested too deeply to parse; line skipped", line=lineno)
        return
    except ValueError as exc:
        if is_last_unterminated:
            ctx.warn(f"truncated last line (file still being written?): {exc}", line=lineno)
        else:
            ctx.warn(f"invalid JSON: {exc}", line=lineno)
        return
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
    """Parse a whole JSON document; on failure record a skip and return None."""
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
