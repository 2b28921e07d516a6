"""The registry of trace formats: an explicit list, no registration by import.

Adding a format: a subpackage with a `TraceReader` subclass, and one line in FORMATS.
`traces()` (the auto-detecting reader) offers each file to the formats in ascending
`sniff_priority`.
"""

from __future__ import annotations

from tracesql.errors import ReaderError
from tracesql.readers.atif import AtifReader
from tracesql.readers.base import TraceReader
from tracesql.readers.claude_code import ClaudeCodeReader
from tracesql.readers.codex import CodexReader
from tracesql.readers.detect import AutoReader
from tracesql.readers.hermes_agent import HermesAgentReader
from tracesql.readers.pi_coding_agent import PiCodingAgentReader

FORMATS: tuple[type[TraceReader], ...] = (
    ClaudeCodeReader,
    CodexReader,
    HermesAgentReader,
    PiCodingAgentReader,
    AtifReader,
)


# Every reader with a SQL table function, by name: the formats, then `traces()`.
_ALL: tuple[type[TraceReader], ...] = (*FORMATS, AutoReader)
READERS: dict[str, type[TraceReader]] = {cls.name: cls for cls in _ALL}


def get_reader(name: str) -> TraceReader:
    """A fresh reader instance for a format name (`auto` is `traces()`)."""
    if name == AutoReader.name:
        return AutoReader(sorted((cls() for cls in FORMATS), key=lambda r: r.sniff_priority))
    cls = READERS.get(name)
    if cls is None:
        known = ", ".join(sorted(READERS))
        raise ReaderError(f"unknown trace format {name!r} (known: {known})")
    return cls()


def function_names() -> set[str]:
    """The SQL table functions the readers register (plus `trace_diagnostics`)."""
    return {cls.function_name for cls in READERS.values()} | {"trace_diagnostics"}
