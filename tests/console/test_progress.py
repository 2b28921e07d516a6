"""LLM progress as drawn: live bars on a terminal (fitted to its width, redrawn in place),
plain lines elsewhere."""

from __future__ import annotations

import io

import pytest

from tests.console.conftest import visible_lines
from tracesql.console import Console
from tracesql.console.layout import progress_line

BASE = {"event": "llm_progress", "errors": 0, "cache_hits": 0, "final": False}
LONG = "sft_records_from_the_longest_traces_of_the_week"


def event(alias: str, done: int, total: int, elapsed: float, **kw) -> dict:
    return {
        **BASE,
        "project_model": LONG,
        "model_alias": alias,
        "done": done,
        "total": total,
        "elapsed": elapsed,
        **kw,
    }


def test_plain_lines_without_a_terminal(no_terminal):
    err = io.StringIO()
    console = Console(io.StringIO(), err)
    base = {**BASE, "project_model": "digest", "model_alias": "m", "errors": 1, "cache_hits": 2}
    console.progress({**base, "done": 1, "total": 10, "elapsed": 1.0})
    console.progress({**base, "done": 5, "total": 10, "elapsed": 2.0})  # within 10 s of the last line
    console.progress({**base, "done": 10, "total": 10, "elapsed": 4.0, "final": True})
    console.end_progress()
    text = err.getvalue()
    assert "\x1b" not in text
    lines = text.splitlines()
    assert len(lines) == 2
    assert "digest · m" in lines[0] and "1/10" in lines[0] and "ETA 0:09" in lines[0]
    assert all(part in lines[1] for part in ("10/10", "errors 1", "cached 2", "done in 0:04"))


@pytest.mark.parametrize("width", [60, 120])
def test_bars_fit_the_terminal_and_redraw_in_place(terminal, width):
    terminal(width)
    err = io.StringIO()
    console = Console(io.StringIO(), err)
    for done in range(0, 101, 10):
        console.progress(event("distill_writer_model", done, 100, 1 + done / 10, cache_hits=done // 3))
        console.progress(event("judge", done // 2, 50, 1 + done / 10, errors=done // 50))
        console._progress._last_draw = 0  # draw every event (the console redraws at most every 0.1 s)
    console.progress(event("distill_writer_model", 100, 100, 12.0, final=True))
    console.progress(event("judge", 50, 50, 12.0, final=True))
    text = err.getvalue()
    assert "\x1b[" in text  # drawn with cursor movements, on a terminal
    lines = visible_lines(text)
    assert max(len(line) for line in lines) <= width, [line for line in lines if len(line) > width]
    assert any("100/100" in line and "done in 0:12" in line for line in lines)
    assert "\r\x1b[2K\x1b[1A\x1b[2K" in text  # redrawn in place: back up over the bars, erase, draw
    assert not console._progress.live  # every bar final: the display stopped, the bars stay


def test_progress_line_keeps_the_count_at_any_width():
    line = progress_line(event("m", 50, 100, 10.0))
    assert line.startswith(f"{LONG} · m  ████████████░░░░░░░░░░░░ 50/100  5.0/s  ETA 0:10")
    for width in (40, 60, 80):
        fitted = progress_line(event("m", 50, 100, 10.0), width)
        assert len(fitted) <= width and "50/100" in fitted and "█" in fitted


def test_run_and_progress_lines_never_exceed_the_width():
    from tracesql.console.layout import run_line

    for width in range(10, 200, 7):
        for name, detail in [("m", "created"), (LONG, "Binder Error: " + "x" * 200)]:
            head, status, rest = run_line(12, 140, "ERROR", "incremental", name, detail, 1234.5, width)
            assert len(head + status + rest) <= width
        for done, total in [(0, 0), (5, 10**6), (10**6, 10**6)]:
            line = progress_line(event("an_alias", done, total, 3600.0, errors=done, cache_hits=done), width)
            assert len(line) <= width
