"""The ATIF rules a trajectory can break, and how breaking them is reported.

The lenient ATIF reader reads what real producers write (Harbor's terminus-2 omits
`source_call_id`, OpenAgents puts objects in observation content and writes a JSONL
variant, some producers number steps from 0) and reports every rule it had to bend as a
warning that names the rule, the step and, when known, the file line. `strict := true`
turns those warnings into an error, so a strict read accepts the files the reference
(Data Designer 0.9.7) accepts, and says exactly which rule each other file broke.

One warning per rule per file: the first place it is broken (with its line), then how
many more places break it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from tracesql.readers.base import ReadContext

# Rule texts, by key. "(reference)" marks rules of the reference's validation that the
# ATIF schema itself (Harbor's pydantic models) does not have.
RULES = {
    "document": "a trajectory is one JSON document",
    "schema_version": "schema_version must be a non-empty string",
    "session_id": "session_id must be a non-empty string",
    "agent": "agent must be an object",
    "agent_name": "agent.name must be a non-empty string",
    "steps": "steps must be a non-empty list",
    "step_object": "every step must be an object",
    "step_id": "step_id must be the step's position, sequential from 1",
    "message": "every step must have a message (null allowed)",
    "message_type": "message must be a string or a list of content parts",
    "source": "source must be 'agent', 'user' or 'system'",
    "agent_only": "only agent steps may have reasoning_content, tool_calls or an observation (reference; "
    "ATIF >= v1.2 allows observations on system steps)",
    "tool_calls": "tool_calls must be a list of objects with a non-empty tool_call_id and function_name",
    "observation": "observation must be an object with a 'results' list of objects",
    "source_call_id": "an observation result's source_call_id must name a tool call of the same step",
    "content_without_call": "an observation result with content must have a source_call_id (reference)",
    "content_type": "observation result content must be a string or a list of content parts",
    "subagent_ref": "subagent_trajectory_ref must be a list of objects with a non-empty session_id",
}


@dataclass
class Breach:
    rule: str
    where: str  # "step 3 observation result 1" or "" for the top level
    detail: str
    step_index: int | None  # position in `steps` (0-based), for the file line


@dataclass
class RuleLog:
    """Rule breaches of one trajectory, reported once per rule when the file is done."""

    prefix: str = ""  # "subagent_trajectories[0] " for embedded trajectories
    breaches: dict[str, list[Breach]] = field(default_factory=dict)

    def breach(self, rule: str, where: str, detail: str, step_index: int | None = None) -> None:
        self.breaches.setdefault(rule, []).append(Breach(rule, where, detail, step_index))

    def report(self, ctx: ReadContext, step_line: Callable[[int], int | None]) -> None:
        for rule, found in self.breaches.items():
            first = found[0]
            where = f"{self.prefix}{first.where}".strip()
            text = f"ATIF rule: {RULES[rule]}; {where + ' ' if where else ''}{first.detail}"
            if len(found) > 1:
                others = ", ".join(f"{self.prefix}{b.where}".strip() for b in found[1:4])
                more = ", ..." if len(found) > 4 else ""
                text += f" (and {len(found) - 1} more: {others}{more})"
            line = step_line(first.step_index) if first.step_index is not None else None
            ctx.warn(text, line=line)


def document_step_lines(data: bytes, upto: int | None = None) -> list[int] | None:
    """1-based line of each element of the top-level `steps` array of a JSON document (of
    the first `upto + 1` elements when given), found by walking the top-level object with
    the C JSON scanner; done only when a breach needs a line. None if it cannot be walked."""
    try:
        text = data.decode("utf-8", errors="replace")
        return _walk_steps(text, upto)
    except (ValueError, IndexError, RecursionError):
        return None


def _walk_steps(text: str, upto: int | None) -> list[int] | None:
    decoder = json.JSONDecoder()
    i = _skip_ws(text, 1 if text.startswith("\ufeff") else 0)
    if text[i] != "{":
        return None
    i = _skip_ws(text, i + 1)
    while text[i] != "}":
        key, i = decoder.raw_decode(text, i)
        i = _skip_ws(text, i)
        if text[i] != ":":
            return None
        i = _skip_ws(text, i + 1)
        if key == "steps" and text[i] == "[":
            return _element_lines(text, i + 1, decoder, upto)
        _, i = decoder.raw_decode(text, i)
        i = _skip_ws(text, i)
        if text[i] == ",":
            i = _skip_ws(text, i + 1)
    return None


def _element_lines(text: str, i: int, decoder: json.JSONDecoder, upto: int | None) -> list[int]:
    lines: list[int] = []
    line, counted = 1, 0
    i = _skip_ws(text, i)
    while text[i] != "]":
        line += text.count("\n", counted, i)
        counted = i
        lines.append(line)
        if upto is not None and len(lines) > upto:
            break
        _, i = decoder.raw_decode(text, i)
        i = _skip_ws(text, i)
        if text[i] == ",":
            i = _skip_ws(text, i + 1)
    return lines


def _skip_ws(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in " \t\r\n":
        i += 1
    return i
