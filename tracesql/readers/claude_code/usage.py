"""Claude Code token usage: each API response counted once, with its final count.

Claude Code writes one API response as several `assistant` lines (one content block
each) that share `message.id` and `requestId`, each repeating `message.usage`; while the
response streams, `output_tokens` grows from line to line. The rules (docs/usage.md):

- a response is the `message.id` (with the `requestId`, when the line has one); its usage
  is the one on its LAST line, counted once however many lines carry it (ccusage keeps
  the first line's: a streamed response's partial output count);
- a line without `message.id` is a response of its own, named by the record's `uuid`
  (which a resumed copy of the line keeps), else by its place among the file's responses;
- `<synthetic>` responses (errors Claude Code writes itself, no API call) are no usage;
- every response of the trace counts, on the conversation's path or not: a rewound
  branch was paid for too;
- input, cache read and cache write are Anthropic's `input_tokens`,
  `cache_read_input_tokens` and `cache_creation_input_tokens`; a `costUSD` on the line
  (early Claude Code) is the recorded cost.

`Responses` collects them from records, for the full reader (the records of a trace) and
for `read_usage` (only the lines that can hold usage).
"""

from __future__ import annotations

from datetime import datetime

from tracesql.readers.base import Trace
from tracesql.readers.timestamps import parse_timestamp
from tracesql.readers.usage import file_scoped_id

SYNTHETIC_MODEL = "<synthetic>"
_fromisoformat = datetime.fromisoformat


def parse_time(value: object) -> datetime | None:
    """Claude Code writes `2025-07-05T19:36:37.219Z`; Python 3.11 parses that directly.
    Anything else goes through the general parser."""
    if type(value) is str and len(value) == 24 and value[-1] == "Z":
        try:
            return _fromisoformat(value)
        except ValueError:
            pass
    return parse_timestamp(value)


def response_key(rec: dict, message: dict) -> str | None:
    """Which API response an assistant record is part of: `message.id[:requestId]`, else
    `uuid:<record uuid>`; None when the record has neither (see Responses.add)."""
    mid = message.get("id")
    if isinstance(mid, str) and mid:
        request = rec.get("requestId")
        return f"{mid}:{request}" if isinstance(request, str) and request else mid
    uuid = rec.get("uuid")
    return f"uuid:{uuid}" if isinstance(uuid, str) and uuid else None


def is_response(rec: dict) -> bool:
    """An assistant record with a message that has usage (typed, or an untyped record
    whose message says role assistant: the ccusage fixtures write those)."""
    message = rec.get("message")
    if type(message) is not dict or not isinstance(message.get("usage"), dict):
        return False
    rtype = rec.get("type")
    return rtype == "assistant" or ("type" not in rec and message.get("role") == "assistant")


class ResponseKeys:
    """Names the responses of one file, in file order (see response_key)."""

    def __init__(self, source_path: str) -> None:
        self.source_path = source_path
        self.seen = 0  # response records so far: names those without an id or uuid

    def key(self, rec: dict) -> str | None:
        """The key of a response record; None for any other record and for `<synthetic>`."""
        if not is_response(rec):
            return None
        self.seen += 1
        message = rec["message"]
        if message.get("model") == SYNTHETIC_MODEL:
            return None
        return response_key(rec, message) or file_scoped_id(self.source_path, f"response-{self.seen}")


class Responses:
    """The API responses of a trace: the last record of each key."""

    def __init__(self) -> None:
        self.last: dict[str, dict] = {}  # first-seen order

    def add(self, key: str, rec: dict) -> None:
        self.last[key] = rec

    def add_to(self, trace: Trace, messages: dict[str, dict] | None = None) -> int:
        """Add each response to the trace as a usage entry (linked to its message in
        `messages`, by key); returns how many counts were rejected."""
        rejected = 0
        for key, rec in self.last.items():
            message = rec["message"]
            usage = message["usage"]
            rejected += trace.add_usage(
                key,
                parse_time(rec.get("timestamp")),
                message.get("model"),
                input=usage.get("input_tokens"),
                output=usage.get("output_tokens"),
                cache_read=usage.get("cache_read_input_tokens"),
                cache_write=usage.get("cache_creation_input_tokens"),
                cost_usd=rec.get("costUSD"),
                message=messages.get(key) if messages else None,
            )
        return rejected
