"""Finding credentials in text and replacing them with typed placeholders.

    find_secrets("export GITHUB_TOKEN=ghp_...")  -> [Finding('github_token', 20, 60, 'ghp_...')]
    redact("export GITHUB_TOKEN=ghp_...")        -> 'export GITHUB_TOKEN=[REDACTED:github_token]'

All rules run as one RE2 alternation (google-re2, the engine DuckDB's `regexp_*`
functions use), over the text's UTF-8 bytes: a text holding no candidate costs one linear
pass in C, whatever the number of rules. `PATTERN` is that alternation; DuckDB runs it
with `regexp_matches` to hand Python only the strings that hold a candidate. Python then
checks each candidate (placeholders, code, references) and picks its kind. See
docs/secrets.md for the measurements behind this choice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import re2

from tracesql.secrets import payloads
from tracesql.secrets import rules as r
from tracesql.secrets.rules import PREFILTER

__all__ = [
    "PATTERN",
    "PREFILTER",
    "Finding",
    "candidate_spans",
    "find_secrets",
    "placeholder",
    "redact",
    "redact_bytes",
]


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int  # character offsets in the text
    end: int
    value: str


def placeholder(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def _prefixed(index: int, rule: r.Rule) -> str:
    return rule.pattern.replace("(?P<", f"(?P<r{index}_")


PATTERN = "|".join(f"(?P<r{i}>{_prefixed(i, rule)})" for i, rule in enumerate(r.RULES))
_OPTIONS = re2.Options()
_OPTIONS.max_mem = 64 << 20  # room for the DFA: the default 8 MiB makes RE2 fall back to the NFA
# Scans match base64 image payloads' openings too, to step over them (payloads.py).
_COMBINED = re2.compile(f"(?P<image>{payloads.MARKER})|{PATTERN}", _OPTIONS)
_PREFILTER = re2.compile(f"({payloads.MARKER})|{PREFILTER}", _OPTIONS)
_TOKENS = [re2.compile(rule.pattern, _OPTIONS) for rule in r.TOKEN_RULES]
_GROUPS = _COMBINED.groupindex
_IMAGE = _GROUPS["image"]
_RULE_GROUPS = [(i, _GROUPS[f"r{i}"]) for i in range(len(r.RULES))]
_KIND = {rule.kind: i for i, rule in enumerate(r.RULES)}
_SURROGATES = "surrogatepass"  # DuckDB strings are UTF-8; JSON-decoded text may hold lone surrogates


def _group(i: int, name: str) -> int:
    return _GROUPS[f"r{i}_{name}"]


_V = {i: _group(i, "v") for i in range(len(r.RULES))}
_ASSIGN = _KIND["assignment"]
_ASSIGN_NAME, _ASSIGN_QUOTED, _ASSIGN_BEFORE = (_group(_ASSIGN, g) for g in ("name", "quoted", "before"))
_PEM = _KIND["private_key"]
_PEM_BODY = _group(_PEM, "body")


def _token_kind(value: bytes) -> str | None:
    """The vendor kind of a value that is, whole, a match of one of the token rules."""
    for rule, compiled in zip(r.TOKEN_RULES, _TOKENS, strict=True):
        m = compiled.search(value)
        if m is not None and m.span(1) == (0, len(value)):
            return rule.kind
    return None


def _candidate(data: bytes, m: Any) -> tuple[str, int, int] | None:
    """(kind, start, end) in bytes of the secret a match stands for, or None."""
    i = next(i for i, g in _RULE_GROUPS if m.start(g) >= 0)
    kind = r.RULES[i].kind
    if i == _ASSIGN:
        name = m.group(_ASSIGN_NAME).decode()
        before = m.group(_ASSIGN_BEFORE)
        if name[0].islower() and before and before.islower():
            return None  # `bypass = ...`: the secret word is only the end of another word
        quoted = m.start(_ASSIGN_QUOTED) >= 0
        group = _ASSIGN_QUOTED if quoted else _V[i]
        raw = m.group(group).decode("utf-8", _SURROGATES)
        if data.startswith(b"\\u2026", m.end(group)):  # `...\u2026`: an ellipsis, JSON-escaped
            return None
        value = raw if quoted else r.trim_value(raw)
        if r.is_placeholder(raw) or not r.assignment_value_is_secret(value, name, quoted):
            return None
        start = m.start(group)
        end = start + len(value.encode("utf-8", _SURROGATES))
        return _token_kind(data[start:end]) or r.assignment_kind(name), start, end
    start, end = m.span(_V[i])
    value = data[start:end]
    if i == _PEM:
        body = m.group(_PEM_BODY).replace(b"\\n", b"\n").decode("ascii", "replace")
        if not r.PEM_BODY.search(body):
            return None
        while value.endswith((b"\n", b"\r", b"\\n", b"\\r")):  # a cut block: keep its last line break
            value = value[: -2 if value.endswith((b"\\n", b"\\r")) else -1]
        return kind, start, start + len(value)
    text = value.decode("utf-8", _SURROGATES)
    if kind in ("url_password", "bearer_token"):
        return (_token_kind(value) or kind, start, end) if r.context_value_is_secret(text) else None
    return None if r.is_placeholder(text) else (kind, start, end)


def _spans(data: bytes) -> list[tuple[str, int, int]]:
    found: list[tuple[str, int, int]] = []
    pos, search = 0, _COMBINED.search
    while True:
        m = search(data, pos)
        if m is None:
            return found
        if m.start(_IMAGE) >= 0:
            pos = payloads.payload_end(data, *m.span()) or m.end()
            continue
        candidate = _candidate(data, m)
        if candidate is None:
            pos = m.start() + 1  # a rejected candidate may hide a real one inside it
            continue
        found.append(candidate)
        pos = candidate[2]


def candidate_spans(
    data: bytes | memoryview, end_of: Callable[[int], int] | None = None
) -> list[tuple[int, int]]:
    """Where PREFILTER matches in `data`: a cheap first pass over many texts at once
    (payloads.prefilter_spans)."""
    return payloads.prefilter_spans(_PREFILTER, data, end_of)


def _encode(text: str) -> bytes:
    return text.encode("utf-8", _SURROGATES)


def find_secrets(text: str) -> list[Finding]:
    """Every credential in `text`, in order, not overlapping."""
    if not text:
        return []
    data = _encode(text)
    findings = []
    for kind, start, end in _spans(data):
        char_start = len(data[:start].decode("utf-8", _SURROGATES))
        value = data[start:end].decode("utf-8", _SURROGATES)
        findings.append(Finding(kind, char_start, char_start + len(value), value))
    return findings


def redact_bytes(data: bytes) -> bytes:
    """UTF-8 `data` with each credential replaced by `[REDACTED:<kind>]`."""
    spans = _spans(data)
    if not spans:
        return data
    parts: list[bytes] = []
    pos = 0
    for kind, start, end in spans:
        parts.append(data[pos:start])
        parts.append(placeholder(kind).encode())
        pos = end
    parts.append(data[pos:])
    return b"".join(parts)


def redact(text: str) -> str:
    """`text` with each credential replaced by `[REDACTED:<kind>]`."""
    if not text:
        return text
    data = _encode(text)
    redacted = redact_bytes(data)
    return text if redacted is data else redacted.decode("utf-8", _SURROGATES)
