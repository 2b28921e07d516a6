"""Opening trace files so that what sits at a path cannot hang or flood a read.

Every file a reader opens (traces, sidecars, indexes) goes through `open_regular`: it is
opened non-blocking (a FIFO swapped in after discovery cannot block the open), checked to
be a regular file after the open (a FIFO, device or folder is refused, so /dev/zero cannot
be read without end), and read no further than a limit: for a trace, the size it had when
it was discovered (a file that grows while it is read is read as it was).
"""

from __future__ import annotations

import codecs
import errno
import gzip
import os
import stat
from typing import BinaryIO, cast

SIDECAR_LIMIT = 64 << 20  # sidecars and indexes: small JSON files; bigger ones are refused


class NotARegularFile(OSError):
    def __init__(self, mode: int) -> None:
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a folder"
            if stat.S_ISDIR(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "not a regular file"
        )
        super().__init__(errno.EINVAL, f"not a regular file ({kind})")


class TooBig(OSError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(errno.EFBIG, f"{size} bytes, over the limit of {limit} bytes")


def open_regular(path: str) -> BinaryIO:
    """Open a regular file for reading without blocking; OSError for anything else."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(mode)
        return open(fd, "rb", closefd=True)
    except BaseException:
        os.close(fd)
        raise


def read_at_most(path: str, limit: int) -> bytes:
    """The first `limit` bytes of a regular file (the whole file when it is smaller)."""
    with open_regular(path) as fh:
        return fh.read(limit)


def read_small(path: str, limit: int = SIDECAR_LIMIT) -> bytes:
    """A whole small file (a sidecar or index); TooBig when it is over `limit`."""
    with open_regular(path) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise TooBig(os.path.getsize(path), limit)
    return data


# Byte order marks of the wide encodings (UTF-32 first: its little-endian mark starts
# with UTF-16's) and the codec each says the file is in.
WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def wide_encoding(data: bytes) -> str | None:
    """The codec of text that starts with a UTF-16 or UTF-32 byte order mark, else None."""
    for bom, codec in WIDE_BOMS:
        if data.startswith(bom):
            return codec
    return None


def as_utf8(data: bytes, complete: bool = True) -> bytes:
    """UTF-16/UTF-32 text (known by its byte order mark: Windows editors and PowerShell
    write sessions so) as UTF-8; anything else unchanged. `complete=False` for a file's
    first bytes, which may end inside a character."""
    codec = wide_encoding(data)
    if codec is None:
        return data
    decoder = codecs.getincrementaldecoder(codec)(errors="replace")
    return decoder.decode(data, final=complete).encode("utf-8", "surrogatepass")


CHUNK = 4 << 20
COMPRESSED = (".gz", ".zst")


def plain_name(path: str) -> str:
    """A path without its compression suffix: `s.jsonl.gz` -> `s.jsonl`."""
    for suffix in COMPRESSED:
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


class TraceStream:
    """The text of a trace file, read in chunks: no more than its discovered size of the
    file, decompressed (`.gz`, `.zst`: streamed, never whole in memory), and UTF-16/32
    transcoded to UTF-8. `skip_hole()` jumps over a sparse file's unwritten region (a
    crash often leaves gigabytes of zeros that take no disk) without reading it."""

    def __init__(self, path: str, size: int | None = None) -> None:
        self.raw = open_regular(path)
        self.remaining = size
        self.offset = 0  # in the (compressed) file
        self.source: BinaryIO = self.raw
        self.error: BaseException | None = None  # a decompression error, raised at the next read
        if path.endswith(".gz"):
            self.source = cast(BinaryIO, gzip.GzipFile(fileobj=cast(BinaryIO, _Limited(self)), mode="rb"))
        elif path.endswith(".zst"):
            import pyarrow as pa

            self.source = pa.CompressedInputStream(pa.PythonFile(_Limited(self), mode="r"), "zstd")
        self.decoder: codecs.IncrementalDecoder | None = None
        first = self._read_source(CHUNK)
        codec = wide_encoding(first)
        if codec is not None:
            self.decoder = codecs.getincrementaldecoder(codec)(errors="replace")
            first = self._transcode(first, final=False)
        self.first: bytes | None = first

    def _read_raw(self, n: int) -> bytes:
        if self.remaining is not None:
            n = min(n, self.remaining - self.offset)
            if n <= 0:
                return b""
        data = self.raw.read(n)
        self.offset += len(data)
        return data

    def _read_source(self, n: int) -> bytes:
        if self.source is self.raw:
            return self._read_raw(n)
        if self.error is not None:
            raise self.error
        parts: list[bytes] = []
        size = 0
        try:  # in small steps: a stream cut short still gives what came before the cut
            while size < n:
                part = self.source.read(min(n - size, 256 << 10))
                if not part:
                    break
                parts.append(part)
                size += len(part)
        except (OSError, EOFError, ValueError) as exc:
            if not parts:
                raise
            self.error = exc
        return b"".join(parts)

    def _transcode(self, data: bytes, final: bool) -> bytes:
        assert self.decoder is not None
        return self.decoder.decode(data, final=final).encode("utf-8", "surrogatepass")

    def read(self, n: int = CHUNK) -> bytes:
        if self.first is not None:
            data, self.first = self.first, None
            return data
        data = self._read_source(n)
        if self.decoder is not None:
            data = self._transcode(data, final=not data)
        return data

    def skip_hole(self) -> int:
        """At a run of zeros in a plain file: move to the next written data (SEEK_DATA);
        returns how many bytes were skipped (0 when not in a hole or not possible)."""
        if self.source is not self.raw or self.decoder is not None or self.first is not None:
            return 0
        try:
            target = os.lseek(self.raw.fileno(), self.offset, os.SEEK_DATA)
        except OSError:  # ENXIO: only a hole is left; or SEEK_DATA is not supported
            target = self.remaining if self.remaining is not None else os.fstat(self.raw.fileno()).st_size
        if self.remaining is not None:
            target = min(target, self.remaining)
        skipped = max(target - self.offset, 0)
        if skipped:
            self.raw.seek(target)
            self.offset = target
        return skipped

    def close(self) -> None:
        if self.source is not self.raw:
            self.source.close()
        self.raw.close()

    def __enter__(self) -> TraceStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Limited:
    """The compressed bytes of a TraceStream, for a decompressor to read."""

    def __init__(self, stream: TraceStream) -> None:
        self.stream = stream
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        return self.stream._read_raw(CHUNK if n is None or n < 0 else n)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


def fingerprint(path: str) -> str | None:
    """What says a file changed: size, mtime_ns, inode, ctime_ns (None: it does not exist)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_ctime_ns}"


def describe(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
