"""MarkedLines (the usage-only read's line splitter) gives exactly the lines iter_lines
gives that hold a marker, with their numbers, whatever the chunking: lines across
chunks, a marker across a chunk boundary, over-long lines (skipped), NUL runs, no final
newline, and markers switched on mid-stream."""

from __future__ import annotations

import random

import pytest

from tracesql.readers.lines import Junk, MarkedLines, iter_lines


class Chunks:
    """A stream that hands out `data` in the given chunk sizes (as TraceStream.read does)."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self.data, self.sizes, self.pos = data, sizes, 0

    def read(self) -> bytes:
        if self.pos >= len(self.data):
            return b""
        size = self.sizes[len(self.sizes) and (self.pos % len(self.sizes))] if self.sizes else 4096
        chunk = self.data[self.pos : self.pos + size]
        self.pos += len(chunk)
        return chunk

    def skip_hole(self) -> int:
        return 0


def sample(seed: int) -> bytes:
    rnd = random.Random(seed)
    lines = []
    for i in range(200):
        kind = rnd.random()
        if kind < 0.3:
            lines.append(b'{"type":"assistant","message":{"usage":{"output_tokens":%d}}}' % i)
        elif kind < 0.35:
            lines.append(b'{"x":"' + b"y" * rnd.randint(300, 900) + b'"}')  # over the limit below
        elif kind < 0.4:
            lines.append(b"")
        elif kind < 0.43:
            lines.append(b'{"a":1}' + b"\0" * 70 + b'{"usage":2}')  # a NUL run cuts the line
        else:
            lines.append(b'{"type":"user","text":"' + b"z" * rnd.randint(0, 120) + b'"}')
    return b"\n".join(lines) + (b"\n" if seed % 2 else b"")


def marked(data: bytes, sizes: list[int], markers: tuple[bytes, ...] | None) -> tuple[list, Junk]:
    junk = Junk()
    return [
        (n, bytes(line), last) for n, line, last in MarkedLines(Chunks(data, sizes), 256, junk, markers)
    ], junk


def expected(data: bytes, sizes: list[int], markers: tuple[bytes, ...] | None) -> tuple[list, Junk]:
    junk = Junk()
    lines = [(n, bytes(line), last) for n, line, last in iter_lines(Chunks(data, sizes), 256, junk)]
    return [x for x in lines if markers is None or any(m in x[1] for m in markers)], junk


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("sizes", [[7], [64, 3, 200], [4096], [1, 2, 3, 5, 8, 13]])
def test_marked_lines_are_iter_lines_with_a_marker(seed, sizes):
    data = sample(seed)
    for markers in ((b'"usage"',), None, (b'"usage"', b'"a":1')):
        got, got_junk = marked(data, sizes, markers)
        want, want_junk = expected(data, sizes, markers)
        assert got == want
        assert got_junk.nul_runs == want_junk.nul_runs
        # over-long lines are skipped either way; only every-line reading tallies all of them
        if markers is None:
            assert got_junk.long_lines == want_junk.long_lines
        else:
            assert got_junk.long_lines <= want_junk.long_lines


def test_markers_can_be_set_while_reading():
    data = b'{"cwd":"/a"}\n{"n":1}\n{"usage":1}\n{"n":2}\n{"usage":2}\n'
    lines = MarkedLines(Chunks(data, [5]), 1024, Junk(), None)
    seen = []
    for n, line, _last in lines:
        seen.append((n, bytes(line)))
        if b"cwd" in line:
            lines.markers = (b'"usage"',)
    assert seen == [(1, b'{"cwd":"/a"}'), (3, b'{"usage":1}'), (5, b'{"usage":2}')]
