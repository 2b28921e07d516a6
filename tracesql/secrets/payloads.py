"""Base64 image payloads, which the scans step over.

Screenshots pasted into sessions are most of a trace table's bytes (97 of the 122 MB of
message blocks in the benchmark corpus) and hold pixels, not text: no rule can find a
credential there, only chance shapes. So every scan (redaction, its prefilter,
anonymization) treats a base64 image payload as one step:

    "data":"<payload>"   in a JSON object that says it is base64 image data
                         ("type":"base64" with "media_type":"image/...", as Anthropic's
                         image blocks; or "type":"image" with "mimeType":"image/...", as Pi's)
    data:image/png;base64,<payload>     a data URL (Codex's input_image, HTML, Markdown)

The payload runs to the next `"` (found with memchr, ~9 GB/s), so it is one JSON string;
anything else, or a payload under 1 KB, is scanned as usual.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import re2

MARKER = r"\"data\": ?\"|data:image/[A-Za-z0-9.+-]{1,20};base64,"
_QUOTE = re2.compile('"')
_MIN_PAYLOAD = 1024
_WINDOW = 600  # bytes before the payload and after it where the object's other keys sit
_DECLARATIONS = (  # the keys beside "data" that say it is a base64 image
    re.compile(
        rb'"type": ?"base64"[\s\S]*"media_type": ?"image/|"media_type": ?"image/[\s\S]*"type": ?"base64"'
    ),
    re.compile(rb'"type": ?"image"[\s\S]*"mimeType": ?"image/|"mimeType": ?"image/[\s\S]*"type": ?"image"'),
)


def payload_end(data: bytes | memoryview, marker_start: int, marker_end: int) -> int | None:
    """Where the base64 image payload opened by a MARKER match ends, or None if the match
    does not open one (then scanning goes on as usual)."""
    quote = _QUOTE.search(data, marker_end)
    end = quote.start() if quote is not None else len(data)
    if end - marker_end < _MIN_PAYLOAD:
        return None
    if bytes(data[marker_start : marker_start + 5]) == b"data:":
        return end
    around = bytes(data[max(0, marker_start - _WINDOW) : marker_start]) + bytes(data[end : end + _WINDOW])
    if any(declaration.search(around) for declaration in _DECLARATIONS):
        return end
    return None


def prefilter_spans(
    compiled: Any, data: bytes | memoryview, end_of: Callable[[int], int] | None = None
) -> list[tuple[int, int]]:
    """Where `compiled` (its group 1 is MARKER, then a prefilter) matches in `data`,
    stepping over base64 image payloads; `end_of(pos)` is where the text holding `pos`
    ends, when `data` is many texts joined (a skip never goes past it)."""
    found: list[tuple[int, int]] = []
    pos = 0
    while True:
        m = compiled.search(data, pos)
        if m is None:
            return found
        if m.start(1) >= 0:
            end = payload_end(data, *m.span())
            pos = m.end() if end is None else min(end, end_of(m.start())) if end_of else end
            continue
        found.append(m.span())
        pos = m.end()
