"""A page in a real headless browser: Debian's Chromium, its console and a screenshot.

Chromium's own `--screenshot` with `--enable-logging=stderr` needs nothing else: every
console message (console.log/error, uncaught exceptions) is logged as an `INFO:CONSOLE`
line, and the PNG is written by the browser. (A DevTools-protocol client would need a
websocket library or a hand-written one; pyppeteer and playwright download their own
browsers, which cannot be fetched here.)
"""

from __future__ import annotations

import re
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",  # as root, Chromium refuses to start with its sandbox
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
]


@dataclass
class Loaded:
    console: list[str]  # every console message the page logged
    screenshot: Path


def load_page(chromium: str, page: Path, screenshot: Path, profile: Path, size: str = "1400,2200") -> Loaded:
    done = subprocess.run(
        [
            chromium,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={size}",
            f"--screenshot={screenshot}",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if re.search(r":CONSOLE(\(\d+\))?:?", line)]
    return Loaded(console, screenshot)


def png_pixels(path: Path, max_rows: int = 400) -> tuple[int, int, list[bytes]]:
    """(width, height, the first `max_rows` rows of RGB(A) bytes) of an 8-bit,
    non-interlaced PNG (decoding is pure Python: the top of the page is enough)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat, header = 8, b"", b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        chunk = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        offset += length + 12
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and color in (2, 6) and interlace == 0, "an 8-bit RGB(A) PNG"
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(min(height, max_rows)):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            corner = previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                predictor = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                line[x] = (line[x] + predictor) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows


def distinct_colours(path: Path, step: int = 7) -> int:
    """How many colours a sample of the screenshot's pixels has (1 or 2: blank)."""
    width, _, rows = png_pixels(path)
    channels = len(rows[0]) // width
    seen = set()
    for y in range(0, len(rows), step):
        row = rows[y]
        for x in range(0, width, step):
            seen.add(row[x * channels : x * channels + 3])
    return len(seen)
