"""Ctrl-C stops the spending: `tracesql run` in a subprocess, SIGINT in the middle of a
model whose 3000 rows are more than one DuckDB chunk (2048), at 1 s per answer. Server-side
evidence: no request starts after the signal, every answer received is in the cache, the
run stops before the next model and exits 130. A second signal exits at once, without
waiting for the requests in flight."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.llm.fake_server import FakeLLMServer

PARALLEL = 8


def _project(root: Path, url: str) -> Path:
    (root / "models").mkdir(parents=True)
    (root / "profiles.yml").write_text(
        json.dumps(
            {
                "providers": {"fake": {"base_url": url}},
                "models": {"m": {"provider": "fake", "model": "fake", "max_parallel_requests": PARALLEL}},
            }
        )
    )
    (root / "models" / "asks.sql").write_text("SELECT i, llm('row ' || i) AS answer FROM range(3000) t(i)")
    (root / "models" / "downstream.sql").write_text("SELECT count(*) AS n FROM {{ ref('asks') }}")
    return root


def _start(root: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tracesql.cli", "run", "--project-dir", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_sigint_stops_new_requests_keeps_every_answer_and_exits_130(tmp_path):
    with FakeLLMServer(latency=1.0) as server:
        root = _project(tmp_path / "proj", server.url)
        proc = _start(root)
        try:
            assert server.wait_for_requests(3 * PARALLEL, timeout=60)  # two rounds answered, one in flight
            signalled = time.monotonic()
            proc.send_signal(signal.SIGINT)
            output, _ = proc.communicate(timeout=60)
        finally:
            proc.kill()
        requests = server.requests
    assert proc.returncode == 130, output
    assert [r for r in requests if r.started > signalled] == []  # nothing started after the signal
    answered = {r.prompt for r in requests if r.status == 200 and r.finished is not None}
    with sqlite3.connect(root / "target" / "llm_cache.sqlite") as db:
        cached = {
            content.removeprefix("echo: ") for (content,) in db.execute("SELECT content FROM responses")
        }
    assert answered == cached and len(cached) >= 2 * PARALLEL  # every answer received is in the cache
    assert "Interrupted (SIGINT): no LLM request was started after it" in output
    assert f"{len(cached)} answers received are in the cache" in output
    assert "downstream" not in output  # the next model never ran
    with sqlite3.connect(root / "target" / "llm_calls.sqlite") as db:  # every value asked has its reason
        finals, hashes, answers, interrupted = db.execute(
            "SELECT count(*), count(DISTINCT request_hash), count(*) FILTER (WHERE error IS NULL), "
            "count(*) FILTER (WHERE error LIKE 'interrupted (SIGINT)%') FROM calls WHERE final"
        ).fetchone()
    assert finals == hashes == answers + interrupted and answers == len(cached) and interrupted > 0


def test_a_second_signal_exits_at_once(tmp_path):
    with FakeLLMServer(latency=30.0) as server:
        root = _project(tmp_path / "proj", server.url)
        proc = _start(root)
        try:
            assert server.wait_for_requests(PARALLEL, timeout=60)
            proc.send_signal(signal.SIGTERM)
            assert proc.stdout is not None
            for line in proc.stdout:  # the first signal is taken: it says so
                if line.startswith("Stopping (SIGTERM)"):
                    break
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        finally:
            proc.kill()
        unfinished = [r for r in server.requests if r.finished is None]
    assert proc.returncode == -signal.SIGTERM  # killed by it: a shell reports 143
    assert len(unfinished) == PARALLEL  # it did not wait for the requests in flight


def test_sigint_stops_an_ad_hoc_query(tmp_path):
    with FakeLLMServer(latency=1.0) as server:
        root = _project(tmp_path / "proj", server.url)
        proc = subprocess.Popen(
            [sys.executable, "-m", "tracesql.cli", "query", "--project-dir", str(root)]
            + ["SELECT count(llm('ad hoc ' || i)) FROM range(100) t(i)"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert server.wait_for_requests(PARALLEL, timeout=60)
            signalled = time.monotonic()
            proc.send_signal(signal.SIGINT)
            output, _ = proc.communicate(timeout=60)
        finally:
            proc.kill()
        late = [r for r in server.requests if r.started > signalled]
    assert proc.returncode == 130, output
    assert late == []
    assert "Interrupted (SIGINT): no LLM request was started after it" in output
