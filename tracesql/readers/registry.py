"""The registry of trace formats: an explicit list, no registration by import.

Adding a format: a subpackage with a `TraceReader` subclass, one line in `format_classes()`
and one in SQL_FUNCTIONS (tests/test_architecture.py checks the two agree).
`traces()` (the auto-detecting reader) offers each file to the formats in ascending
`sniff_priority`.

The reader classes are imported at the first read, not when a connection registers their
SQL functions: those need only the names in SQL_FUNCTIONS, so a connection that reads no
trace (`tracesql query "select 1"`) never imports the readers. `FORMATS` and `READERS`
are there too, made on first access.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from tracesql.errors import ReaderError

if TYPE_CHECKING:
    from tracesql.readers.base import TraceReader

    FORMATS: tuple[type[TraceReader], ...]  # the format readers, in this order
    READERS: dict[str, type[TraceReader]]  # every reader with a SQL table function, by name

AUTO = "auto"  # the name of `traces()`, the reader that detects the format per file

# Every reader's SQL table function, by reader name: the formats in the order of
# format_classes(), then `traces()`.
SQL_FUNCTIONS: dict[str, str] = {
    "claude_code": "claude_code_traces",
    "codex": "codex_traces",
    "hermes_agent": "hermes_agent_traces",
    "pi_coding_agent": "pi_coding_agent_traces",
    "atif": "atif_traces",
    AUTO: "traces",
}


@functools.cache
def format_classes() -> tuple[type[TraceReader], ...]:
    """The format readers, in the order of SQL_FUNCTIONS."""
    from tracesql.readers.atif import AtifReader
    from tracesql.readers.claude_code import ClaudeCodeReader
    from tracesql.readers.codex import CodexReader
    from tracesql.readers.hermes_agent import HermesAgentReader
    from tracesql.readers.pi_coding_agent import PiCodingAgentReader

    return (ClaudeCodeReader, CodexReader, HermesAgentReader, PiCodingAgentReader, AtifReader)


@functools.cache
def reader_classes() -> dict[str, type[TraceReader]]:
    """Every reader with a SQL table function, by name: the formats, then `traces()`."""
    from tracesql.readers.detect import AutoReader

    classes: tuple[type[TraceReader], ...] = (*format_classes(), AutoReader)
    return {cls.name: cls for cls in classes}


def __getattr__(name: str) -> Any:
    if name == "FORMATS":
        return format_classes()
    if name == "READERS":
        return reader_classes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_reader(name: str) -> TraceReader:
    """A fresh reader instance for a format name (`auto` is `traces()`)."""
    if name == AUTO:
        from tracesql.readers.detect import AutoReader

        return AutoReader(sorted((cls() for cls in format_classes()), key=lambda r: r.sniff_priority))
    cls = reader_classes().get(name)
    if cls is None:
        known = ", ".join(sorted(SQL_FUNCTIONS))
        raise ReaderError(f"unknown trace format {name!r} (known: {known})")
    return cls()


def function_names() -> set[str]:
    """The SQL table functions the readers register (plus `trace_diagnostics`)."""
    return set(SQL_FUNCTIONS.values()) | {"trace_diagnostics"}
