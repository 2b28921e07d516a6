"""Ad-hoc SQL keeps its string literals as written: Jinja renders only outside them.

`tracesql query` and `tracesql show` render Jinja (`ref()`, `var()`, macros) over the SQL
text, but a per-row prompt is a SQL string holding `{{ ... }}` that `llm()` fills in for
each row at run time:

    SELECT llm('Summarize: {{ text }}', vars := {'text': message}) FROM t

`shield_literals` swaps every string literal that holds Jinja syntax for a placeholder
before rendering, and `restore` puts it back afterwards: `'{{ 7*7 }}'` stays that text.
SQL comments and double-quoted identifiers are skipped over (a quote in a comment opens no
literal); Jinja tags are skipped whole (their own quotes are Jinja's).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

_JINJA_OPENERS = {"{{": "}}", "{%": "%}", "{#": "#}"}


@dataclass
class Shielded:
    text: str  # the SQL with placeholders in place of the shielded literals
    literals: dict[str, str] = field(default_factory=dict)  # placeholder -> literal

    def restore(self, rendered: str) -> str:
        for placeholder, literal in self.literals.items():
            rendered = rendered.replace(placeholder, literal)
        return rendered


def shield_literals(sql: str) -> Shielded:
    """The SQL with each string literal that contains `{{`, `{%` or `{#` replaced by a
    placeholder Jinja leaves alone."""
    nonce = secrets.token_hex(4)
    shielded = Shielded("")
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        two = sql[i : i + 2]
        string = False  # a string literal starts here
        if two in _JINJA_OPENERS:
            end = _jinja_end(sql, i + 2, _JINJA_OPENERS[two])
        elif two == "--":
            end = _find(sql, "\n", i + 2)
        elif two == "/*":
            end = _find(sql, "*/", i + 2) + 1
        elif sql[i] == '"':
            end = _quoted_end(sql, i + 1, '"', backslash=False)
        elif sql[i] == "'":
            escaped = (
                i > 0 and sql[i - 1] in "eE" and (i < 2 or not (sql[i - 2].isalnum() or sql[i - 2] == "_"))
            )
            end = _quoted_end(sql, i + 1, "'", backslash=escaped)
            string = True
        elif sql[i] == "$" and (tag := _dollar_tag(sql, i)) is not None:
            close = sql.find(tag, i + len(tag))
            end = n if close < 0 else close + len(tag)
            string = True
        else:
            end = i + 1
        if string and any(opener in sql[i:end] for opener in _JINJA_OPENERS):
            placeholder = f"__tracesql_literal_{nonce}_{len(shielded.literals)}__"
            shielded.literals[placeholder] = sql[i:end]
            out.append(placeholder)
            i = end
            continue
        out.append(sql[i:end])
        i = end
    shielded.text = "".join(out)
    return shielded


def _find(text: str, needle: str, start: int) -> int:
    """The index just past `needle`'s first character at or after start (len(text) if absent)."""
    found = text.find(needle, start)
    return len(text) if found < 0 else found + 1


def _quoted_end(text: str, start: int, quote: str, *, backslash: bool) -> int:
    """The index just past the closing quote (a doubled quote is part of the text)."""
    i, n = start, len(text)
    while i < n:
        char = text[i]
        if backslash and char == "\\":
            i += 2
            continue
        if char == quote:
            if i + 1 < n and text[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _jinja_end(text: str, start: int, closer: str) -> int:
    """The index just past a Jinja tag's closer, skipping quoted Jinja strings inside it."""
    i, n = start, len(text)
    while i < n:
        if text.startswith(closer, i):
            return i + len(closer)
        if text[i] in "'\"":
            i = _quoted_end(text, i + 1, text[i], backslash=True)
            continue
        i += 1
    return n


def _dollar_tag(text: str, start: int) -> str | None:
    """`$$` or `$tag$` opening a dollar-quoted string at `start`, else None."""
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        return None
    end = start + 1
    while end < len(text) and (text[end].isalnum() or text[end] == "_"):
        end += 1
    if end < len(text) and text[end] == "$" and not text[start + 1 : end][:1].isdigit():
        return text[start : end + 1]
    return None
