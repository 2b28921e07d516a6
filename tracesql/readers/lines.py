"""Splitting a trace file into lines with bounded memory, whatever the file holds.

A file is read in chunks (files.TraceStream); a line is held only while it is being
parsed. What is not text costs O(1) however big it is:

- a line longer than `max_line_bytes` is skipped as it streams past, never held;
- a run of NUL bytes (64 or more: a zeroed or sparse region, what a crash mid-write
  leaves) ends the line it cuts and is skipped, a sparse region without being read;
- binary lines (control bytes JSON cannot contain) are counted, not reported one by one.

Each kind of junk is one diagnostic per file (`Junk.report`), with counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracesql.readers.base import ReadContext
    from tracesql.readers.files import TraceStream

_NULS = re.compile(rb"\0+")
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # bytes no JSON text contains raw
HEAD = 4096  # of a line over the limit: enough to tell binary junk from text
MIN_RUN = 64  # NULs in a row that make a zeroed region (shorter runs are binary data)


def is_binary(data: bytes | memoryview) -> bool:
    return _CONTROL.search(data) is not None


@dataclass
class Junk:
    """What a file held that is not text, tallied per file and reported once each."""

    nul_bytes: int = 0
    nul_runs: int = 0
    nul_first: int | None = None  # line of the first run
    binary_lines: int = 0
    binary_bytes: int = 0
    binary_first: int | None = None
    binary_last: int = -2
    long_lines: int = 0
    long_first: int | None = None
    long_max: int = 0

    def nul(self, line: int, count: int) -> None:
        if self.nul_first is None:
            self.nul_first = line
        self.nul_bytes += count

    def binary(self, line: int, size: int) -> None:
        self.binary_last = line
        if self.binary_first is None:
            self.binary_first = line
        self.binary_lines += 1
        self.binary_bytes += size

    def long_line(self, line: int, size: int, head: bytes) -> None:
        if is_binary(head):
            self.binary(line, size)
            return
        if self.long_first is None:
            self.long_first = line
        self.long_lines += 1
        self.long_max = max(self.long_max, size)

    def report(self, ctx: ReadContext, max_line: int) -> None:
        if self.nul_bytes:
            runs = "a run" if self.nul_runs == 1 else f"{self.nul_runs} runs"
            ctx.warn(
                f"{self.nul_bytes} NUL bytes in {runs} (a zeroed or sparse region, as a crash leaves) "
                "skipped; the text around them was read",
                line=self.nul_first,
            )
        if self.binary_lines:
            lines = "a line" if self.binary_lines == 1 else f"{self.binary_lines} lines"
            ctx.warn(f"binary data ({lines}, {self.binary_bytes} bytes) skipped", line=self.binary_first)
        if self.long_lines:
            lines = "a line" if self.long_lines == 1 else f"{self.long_lines} lines"
            ctx.warn(
                f"{lines} over max_line_bytes ({max_line} bytes; the longest {self.long_max}) skipped",
                line=self.long_first,
            )


def segments(stream: TraceStream, junk: Junk, lines_before: list[int]) -> Iterator[tuple[bytes, bool]]:
    """The stream's text as (piece, cut) with NUL runs taken out: `cut` says a NUL run
    followed the piece. `lines_before` holds the current line number (for the report)."""
    in_run = False
    while True:
        chunk = stream.read()
        if not chunk:
            return
        if b"\0" not in chunk:
            if in_run:
                in_run = False
            yield chunk, False
            continue
        pos, size = 0, len(chunk)
        search = 0
        while pos < size:
            nul = chunk.find(b"\0", search)
            if nul < 0:
                in_run = False
                yield chunk[pos:], False
                break
            end = _end_of_run(chunk, nul)
            if end - nul < MIN_RUN and end < size:
                search = end  # a few NULs inside other bytes: binary data, judged by its line
                continue
            if nul > pos:
                in_run = False
                yield chunk[pos:nul], True
            if not in_run:
                junk.nul_runs += 1
                in_run = True
            junk.nul(lines_before[0], end - nul)
            pos = search = end
        if in_run:  # the chunk ended inside a run: a sparse region is skipped unread
            skipped = stream.skip_hole()
            if skipped:
                junk.nul(lines_before[0], skipped)


def _end_of_run(chunk: bytes, start: int) -> int:
    """The end of the NUL run at `start` (in C: runs can be a whole chunk)."""
    found = _NULS.match(chunk, start)
    return found.end() if found else start


def iter_lines(
    stream: TraceStream, max_line: int, junk: Junk
) -> Iterator[tuple[int, bytes | memoryview, bool]]:
    """(1-based line number, line without its newline, is the unterminated last line) for
    every line of the stream that fits `max_line`. A view is valid until the next line."""
    lineno = [1]
    pending = bytearray()  # the current line so far, when it spans pieces
    over = 0  # > 0: the current line is over the limit; its size so far (not kept)
    over_head = b""
    for piece, cut in segments(stream, junk, lineno):
        view = memoryview(piece)
        find, size, start = piece.find, len(piece), 0
        while True:
            newline = find(b"\n", start)
            end = size if newline < 0 else newline
            if over:
                over += end - start
            elif pending or newline < 0:
                if len(pending) + end - start > max_line:
                    over = len(pending) + end - start
                    over_head = bytes((pending or view[start:end])[:HEAD])
                    pending.clear()
                else:
                    pending += view[start:end]
            elif end - start > max_line:
                over, over_head = end - start, bytes(view[start : start + HEAD])
            if newline < 0 and not cut:
                break
            # the line ends here (or, at a NUL run, the text before it is a line of its own)
            if over:
                junk.long_line(lineno[0], over, over_head)
                over = 0
            elif pending:
                yield lineno[0], bytes(pending), False
                pending.clear()
            elif newline > start:
                yield lineno[0], view[start:newline], False
            if newline < 0:
                break
            lineno[0] += 1
            start = newline + 1
    if over:
        junk.long_line(lineno[0], over, over_head)
    elif pending:
        yield lineno[0], bytes(pending), True


class _Carry:
    """The line running on from one piece into the next: its bytes, or only its size and
    first bytes once it is over the limit (then it is tallied, never held)."""

    def __init__(self, max_line: int, junk: Junk) -> None:
        self.max_line, self.junk = max_line, junk
        self.text = bytearray()
        self.over = 0
        self.head = b""

    def __bool__(self) -> bool:
        return bool(self.text) or self.over > 0

    def add(self, piece: bytes, start: int, end: int) -> None:
        if self.over:
            self.over += end - start
        elif len(self.text) + end - start > self.max_line:
            self.over = len(self.text) + end - start
            self.head = bytes((self.text or piece[start:end])[:HEAD])
            self.text.clear()
        else:
            self.text += piece[start:end]

    def end(self, lineno: int) -> bytes | None:
        """The line is complete: its bytes, or None when it was over the limit (tallied)."""
        if self.over:
            self.junk.long_line(lineno, self.over, self.head)
            self.over = 0
            return None
        line = bytes(self.text)
        self.text.clear()
        return line


class MarkedLines:
    """The lines of a stream that hold any of `markers` (every line while `markers` is
    None), as `iter_lines` gives them: (line number, line, is the unterminated last line).

    For reads that need a few records of a big file (token usage): lines without a marker
    are neither copied nor parsed, only counted. The reader may set `markers` while
    iterating (read every line until it has what it needs from the file's start, then
    only marked ones). Lines over `max_line` are skipped as iter_lines skips them, and
    tallied in `junk` when they hold a marker or run across chunks (an unmarked line in
    one chunk is never looked at); NUL runs as iter_lines."""

    def __init__(
        self, stream: TraceStream, max_line: int, junk: Junk, markers: tuple[bytes, ...] | None
    ) -> None:
        self.stream = stream
        self.max_line = max_line
        self.junk = junk
        self.markers = markers
        self.lineno = [1]

    def __iter__(self) -> Iterator[tuple[int, bytes, bool]]:
        lineno = self.lineno
        carry = _Carry(self.max_line, self.junk)  # a line that runs on into the next piece
        for piece, cut in segments(self.stream, self.junk, lineno):
            start, size = 0, len(piece)
            if carry:
                newline = piece.find(b"\n")
                carry.add(piece, 0, size if newline < 0 else newline)
                if newline < 0 and not cut:
                    continue
                line = carry.end(lineno[0])
                if line and self._wanted(line, 0, len(line)):
                    yield lineno[0], line, False
                if newline < 0:
                    continue
                lineno[0] += 1
                start = newline + 1
            last = piece.rfind(b"\n", start)
            if last >= start:
                yield from self._complete(piece, start, last)
                start = last + 1
            if start < size:
                carry.add(piece, start, size)
            if cut and carry:  # the text before a NUL run is a line of its own
                line = carry.end(lineno[0])
                if line and self._wanted(line, 0, len(line)):
                    yield lineno[0], line, False
        if carry:
            line = carry.end(lineno[0])
            if line and self._wanted(line, 0, len(line)):
                yield lineno[0], line, True

    def _wanted(self, text: bytes, start: int, end: int) -> bool:
        markers = self.markers
        return markers is None or any(text.find(m, start, end) >= 0 for m in markers)

    def _complete(self, piece: bytes, start: int, last: int) -> Iterator[tuple[int, bytes, bool]]:
        """The wanted lines among the complete lines of piece[start:last + 1]."""
        lineno, pos = self.lineno, start
        while pos <= last:
            markers = self.markers
            if markers is None:
                line_start = pos
            else:
                hits = [found for m in markers if (found := piece.find(m, pos, last)) >= 0]
                if not hits:
                    lineno[0] += piece.count(b"\n", pos, last + 1)
                    return
                line_start = piece.rfind(b"\n", pos, min(hits)) + 1 or pos
                lineno[0] += piece.count(b"\n", pos, line_start)
            line_end = piece.find(b"\n", line_start, last + 1)
            if line_end - line_start > self.max_line:
                self.junk.long_line(lineno[0], line_end - line_start, piece[line_start : line_start + HEAD])
            elif line_end > line_start:
                yield lineno[0], piece[line_start:line_end], False
            lineno[0] += 1
            pos = line_end + 1
