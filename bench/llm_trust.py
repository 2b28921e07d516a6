"""LLM runs you can trust, measured: the example project when things go wrong.

    .venv/bin/python bench/llm_trust.py

On a copy of the repository's example project (its 15 bundled traces, the `local` alias),
against ../shared/tools/fake_openai_server.py on 127.0.0.1 (a fresh server per scenario):

1. `--dry-run`'s call count against the requests of the cold run that follows (distinct
   request bodies at the server, no faults so no retry or re-ask);
2. after that good run, `--full-refresh --refresh-cache` with the provider down: the exit
   status, and whether every good digest survived;
3. a wrong key (`--require-key`): the exit status and the requests the server saw;
4. SIGINT in the middle of the LLM models at 1 s latency: seconds from the signal to the
   exit, its status, and the requests that reached the server after the signal.

Prints the numbers and writes bench/results/llm_trust.json.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from llm_driver import FakeServer

REPO = Path(__file__).resolve().parents[1]
PROJECT_FILES = ("profiles.yml", "models", "macros", "prompts", "examples")
VARS = ["--vars", "{llm_model: local}"]
PARALLEL = 16  # the example's local alias


def copy_project() -> Path:
    root = Path(tempfile.mkdtemp(prefix="tracesql-trust-")) / "project"
    root.mkdir()
    for name in PROJECT_FILES:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    return root


def tracesql(root: Path, url: str, *args: str, key: str = "none") -> subprocess.Popen[str]:
    env = {**os.environ, "TRACESQL_LLM_BASE_URL": url, "TRACESQL_LLM_API_KEY": key}
    return subprocess.Popen(
        [sys.executable, "-m", "tracesql.cli", "run", "--project-dir", str(root), *VARS, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=600)
    return proc.returncode, out


def server_requests(url: str) -> int:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/stats", timeout=10) as response:
        return int(json.loads(response.read())["requests"])


def digests(root: Path) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(root / "tracesql.duckdb"), read_only=True)
    try:
        return con.execute("SELECT trace_key, trace_digest::varchar FROM trace_digests ORDER BY 1").fetchall()
    finally:
        con.close()


def dry_run_then_cold(root: Path) -> dict:
    server = FakeServer(20, ["--log", str(root.parent / "cold.jsonl"), "--log-bodies"])
    try:
        code, out = finish(tracesql(root, server.url, "--dry-run"))
        assert code == 0, out
        line = next(row for row in out.splitlines() if row.startswith("│ local"))
        predicted = int(line.split("│")[2])
        code, out = finish(tracesql(root, server.url))
        assert code == 0, out
    finally:
        stats = server.stop()
    bodies = {
        json.dumps(json.loads(row).get("messages"), sort_keys=True)
        for row in (root.parent / "cold.jsonl").read_text().splitlines()
    }
    return {
        "dry_run_calls": predicted,
        "cold_run_requests": stats.get("requests"),
        "cold_run_distinct_requests": len(bodies),
        "url": server.url,
    }


def provider_down(root: Path, url: str) -> dict:
    good = digests(root)
    started = time.perf_counter()
    code, out = finish(tracesql(root, url, "--full-refresh", "--refresh-cache"))  # nothing listens now
    return {
        "exit_status": code,
        "seconds": round(time.perf_counter() - started, 2),
        "good_digests_before": sum(1 for _, d in good if d is not None),
        "good_digests_kept": sum(1 for row in digests(root) if row in good and row[1] is not None),
        "run_lines": [row for row in out.splitlines() if " of 9  " in row],
    }


def wrong_key() -> dict:
    root = copy_project()
    server = FakeServer(20, ["--require-key", "the-right-key"])
    try:
        code, out = finish(tracesql(root, server.url, key="a-wrong-key"))
    finally:
        stats = server.stop()
    return {
        "exit_status": code,
        "requests": stats.get("requests"),
        "bound": 2 * PARALLEL,
        "first_error": next((row for row in out.splitlines() if "answered HTTP 401" in row), "")[:200],
    }


def sigint() -> dict:
    root = copy_project()
    server = FakeServer(1000)
    try:
        proc = tracesql(root, server.url)
        while server_requests(server.url) < 2 * PARALLEL:  # the second round is in flight
            time.sleep(0.05)
        at_signal = server_requests(server.url)
        signalled = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        code, out = finish(proc)
        seconds = time.perf_counter() - signalled
        time.sleep(1.5)  # a request sent just before the exit would have arrived by now
        after = server_requests(server.url) - at_signal
    finally:
        server.stop()
    return {
        "exit_status": code,
        "seconds_to_exit": round(seconds, 2),
        "requests_at_signal": at_signal,
        "requests_after_signal": after,
        "bound": PARALLEL,
        "line": next((row for row in out.splitlines() if row.startswith("Interrupted")), ""),
    }


def main() -> None:
    root = copy_project()
    results: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count()}}
    results["dry_run"] = dry_run_then_cold(root)
    results["provider_down"] = provider_down(root, results["dry_run"].pop("url"))
    results["wrong_key"] = wrong_key()
    results["sigint"] = sigint()
    print(json.dumps(results, indent=2))
    out = REPO / "bench" / "results" / "llm_trust.json"
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
