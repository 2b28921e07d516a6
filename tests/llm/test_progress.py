"""Progress events from the runtime (tests/console/test_progress.py draws them)."""

from __future__ import annotations

from tests.llm.fake_server import Reply


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
