"""What a corpus would leak: the findings in normalized trace rows, never the values.

    for f in trace_findings(row, key):
        f.trace_key, f.message_index, f.field, f.kind, f.fingerprint

Fields looked at, per message (1-based index): `text` (text blocks), `data` (the original
JSON of other blocks: tool results, images...), `reasoning`, `tool_arguments`; per trace
(index NULL): `source_meta`, `cwd`. The fingerprint is a keyed hash (keys.fingerprint):
the same value found twice has the same fingerprint, and it cannot be reversed without
the project's salt.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tracesql.secrets.detector import find_secrets
from tracesql.secrets.keys import fingerprint

__all__ = ["FIELDS", "AuditFinding", "field_texts", "trace_findings"]

FIELDS = ("text", "data", "reasoning", "tool_arguments", "source_meta", "cwd")


@dataclass(frozen=True)
class AuditFinding:
    trace_key: str | None
    message_index: int | None
    field: str
    kind: str
    fingerprint: str


def field_texts(row: Mapping[str, Any]) -> Iterator[tuple[int | None, str, str]]:
    """(message index or None, field, text) for every text of a normalized trace row."""
    for name in ("source_meta", "cwd"):
        value = row.get(name)
        if isinstance(value, str) and value:
            yield None, name, value
    for index, message in enumerate(row.get("messages") or [], start=1):
        for block in message.get("content") or []:
            for name in ("text", "data"):
                value = block.get(name)
                if isinstance(value, str) and value:
                    yield index, name, value
        reasoning = message.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            yield index, "reasoning", reasoning
        for call in message.get("tool_calls") or []:
            arguments = (call.get("function") or {}).get("arguments")
            if isinstance(arguments, str) and arguments:
                yield index, "tool_arguments", arguments


def trace_findings(row: Mapping[str, Any], key: bytes) -> list[AuditFinding]:
    """Every credential in one normalized trace row: where, what kind, whose fingerprint."""
    trace_key = row.get("trace_key")
    return [
        AuditFinding(trace_key, index, name, f.kind, fingerprint(f.value, key))
        for index, name, text in field_texts(row)
        for f in find_secrets(text)
    ]
