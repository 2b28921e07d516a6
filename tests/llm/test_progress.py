"""Progress events from the runtime, and their rendering (bars on a terminal, lines otherwise)."""

from __future__ import annotations

import io

from tests.llm.fake_server import Reply
from tracesql.llm.progress import ProgressRenderer, format_line


def test_events_count_done_cache_hits_and_errors(server, session):
    events: list[dict] = []
    s = session(progress=events.append, max_retries=0)
    server.enqueue(Reply.error(400, "no"))
    s.runtime.begin_model("digest")
    s.rows("SELECT llm('row ' || i) FROM range(5) t(i)")
    s.rows("SELECT llm('row ' || i) FROM range(6) t(i)")
    s.runtime.end_model()
    final = [e for e in events if e["final"]]
    assert len(final) == 1
    last = final[0]
    assert (last["project_model"], last["model_alias"]) == ("digest", "m")
    # the second query asks rows 0..4 again: four cache hits, and the failed one fails again
    # (from memory: a failed request is not paid for twice in a run)
    assert (last["done"], last["total"], last["errors"], last["cache_hits"]) == (11, 11, 2, 4)
    assert all(e["done"] <= e["total"] for e in events)


def test_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    render = ProgressRenderer(out, interval=3600)
    base = {
        "event": "llm_progress",
        "project_model": "digest",
        "model_alias": "m",
        "errors": 1,
        "cache_hits": 2,
    }
    render({**base, "done": 1, "total": 10, "elapsed": 1.0, "final": False})
    render({**base, "done": 5, "total": 10, "elapsed": 2.0, "final": False})  # within the interval: no line
    render({**base, "done": 10, "total": 10, "elapsed": 4.0, "final": True})
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert "\x1b" not in out.getvalue()
    assert "digest · m" in lines[0] and "1/10" in lines[0] and "ETA 0:09" in lines[0]
    assert (
        "10/10" in lines[1]
        and "errors 1" in lines[1]
        and "cached 2" in lines[1]
        and "done in 0:04" in lines[1]
    )


def test_bars_redraw_in_place_on_a_terminal():
    out = io.StringIO()
    render = ProgressRenderer(out, interactive=True, redraw=0)
    base = {"event": "llm_progress", "project_model": None, "errors": 0, "cache_hits": 0, "final": False}
    render({**base, "model_alias": "a", "done": 1, "total": 4, "elapsed": 1.0})
    render({**base, "model_alias": "b", "done": 2, "total": 4, "elapsed": 1.0})
    render({**base, "model_alias": "a", "done": 4, "total": 4, "elapsed": 2.0})
    text = out.getvalue()
    assert "\x1b[2F" in text  # moved up over the two bars to redraw them
    assert text.count("\x1b[2K") >= 4
    render.close()


def test_format_line_shows_rate_and_bar():
    line = format_line(
        {
            "model_alias": "m",
            "done": 50,
            "total": 100,
            "elapsed": 10.0,
            "errors": 0,
            "cache_hits": 0,
            "final": False,
        },
        width=10,
    )
    assert "█████░░░░░ 50/100" in line and "5.0/s" in line and "ETA 0:10" in line
