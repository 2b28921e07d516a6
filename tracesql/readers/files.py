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
import os
import stat
from typing import BinaryIO

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
