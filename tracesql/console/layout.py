"""Lines fitted to a width: run lines, LLM progress lines and table cells.

Each function gives the same text as always when it fits (`width=None`: no limit, the
plain output of CI logs and pipes), and otherwise shrinks the parts that can lose
characters (names, details, bars, statistics) so the line never wraps: a wrapped line is
one a redraw cannot reach.
"""

from __future__ import annotations

from typing import Any

import orjson

from tracesql.rows import json_default

BAR_WIDTH = 24


def cut(text: str, width: int) -> str:
    """`text` cut to `width` characters, the last one an ellipsis when anything was cut."""
    if len(text) <= width:
        return text
    return text[: width - 1] + "…" if width > 0 else ""


def one_line(text: str, width: int) -> str:
    """Whitespace folded to single spaces, cut to `width`."""
    return cut(" ".join(str(text).split()), width)


def run_line(
    index: int,
    total: int,
    status: str,
    kind: str,
    name: str,
    detail: str,
    seconds: float,
    width: int | None,
) -> tuple[str, str, str]:
    """A run line as (before the status, the status, after it), to colour the status:

    3 of 4  ERROR  table        tool_stats                       Binder Error: …   0.01s
    """
    head = f"{index:>{len(str(total))}} of {total}  "
    label = f"{status:<5}"
    tail = f" {seconds:>6.2f}s"
    natural = f"  {kind:<11}  {name:<32} {detail:<28}{tail}"
    if width is None or len(head) + len(label) + len(natural) <= width:
        return head, label, natural
    room = width - len(head) - len(label) - len(tail) - 1  # kind, name, a space, detail
    kind_part = f"  {kind:<11}  " if room - 15 >= 28 else f"  {kind:<5}  "  # table, view, test: 5
    room -= len(kind_part)
    name_width = max(min(32, max(room - 12, min(12, room))), 0)  # the same on every line: columns align
    detail_width = max(room - name_width, 0)
    name, detail = cut(name, name_width).ljust(name_width), cut(detail, detail_width).ljust(detail_width)
    rest = f"{kind_part}{name} {detail}{tail}"
    if width < len(head) + len(label):  # narrower than any sensible terminal
        return cut(head, width), cut(label, max(width - len(head), 0)), ""
    return head, label, cut(rest, width - len(head) - len(label))


def progress_line(event: dict[str, Any], width: int | None = None) -> str:
    """One LLM progress line: label, bar, done/total, rate, cache hits, errors, ETA.

    digest · judge  ████████████░░░░░░░░░░░░ 50/100  5.0/s  cached 12  ETA 0:10
    """
    done, total = event["done"], max(event["total"], event["done"])
    elapsed = max(event["elapsed"], 1e-6)
    rate = done / elapsed
    alias, model = event["model_alias"], event.get("project_model")
    label = f"{model} · {alias}" if model else alias
    stats = []
    if elapsed >= 0.5 or event.get("final"):
        stats.append(f"{rate:.1f}/s")
    if event["cache_hits"]:
        stats.append(f"cached {event['cache_hits']}")
    if event["errors"]:
        stats.append(f"errors {event['errors']}")
    if event.get("final"):
        stats.append(f"done in {clock(elapsed)}")
    elif rate > 0 and total > done and elapsed >= 0.5:
        stats.append(f"ETA {clock((total - done) / rate)}")
    tail = f" {done}/{total}" + "".join(f"  {part}" for part in stats)
    bar_width = BAR_WIDTH
    if width is not None and len(label) + 2 + bar_width + len(tail) > width:
        room = width - len(tail) - 2  # the label and the bar share it
        bar_width = max(min(BAR_WIDTH, room - len(label)), min(8, max(room // 3, 0)))
        room = max(room - bar_width, 0)
        # the model's name gives way first: two bars of one model differ by their alias
        if model and room >= 12:
            model = cut(model, max(room - len(alias) - 3, room // 2))
            label = f"{model} · {cut(alias, room - len(model) - 3)}"
        else:
            label = cut(label, room)
    filled = int(bar_width * done / total) if total else bar_width
    line = f"{label}  {'█' * filled}{'░' * (bar_width - filled)}{tail}"
    return line if width is None else cut(line, width)


def clock(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


def cell(value: Any, width: int) -> str:
    """A table cell: NULL for None, one line, at most `width` characters, controls escaped."""
    return one_line(escape_controls(plain(value)), width) if value is not None else "NULL"


# C0 controls, DEL, C1 controls and the bidirectional overrides and isolates (which reorder
# what a terminal shows): trace text may hold any of them, and none may reach the terminal
_CONTROLS = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in (*range(0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A))
}


def escape_controls(text: str, keep: str = "") -> str:
    """`text` with control characters spelled out (`\\x1b`), except those in `keep`."""
    table = {code: escaped for code, escaped in _CONTROLS.items() if chr(code) not in keep}
    return text.translate(table)


def plain(value: Any) -> str:
    """A value as text: strings as they are, nested values as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple):
        return orjson.dumps(value, default=json_default).decode()
    return str(value)


def fit_widths(natural: list[int], room: int) -> list[int]:
    """Column widths that add up to at most `room`: narrow columns keep their width, the
    widest share what is left equally (at least 1 each)."""
    if sum(natural) <= room:
        return list(natural)
    widths = list(natural)
    left, open_columns = room, sorted(range(len(natural)), key=lambda i: natural[i])
    while open_columns:
        share = max(left // len(open_columns), 1)
        i = open_columns[0]
        if natural[i] <= share:
            widths[i] = natural[i]
        else:
            for j in open_columns:
                widths[j] = share
            break
        left -= natural[i]
        open_columns.pop(0)
    return widths
