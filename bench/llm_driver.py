"""LLM pipeline benchmark, one command: tracesql vs the reference against the shared fake server.

    .venv/bin/python bench/llm_driver.py [--latency-ms 200] [--traces-count 100] [--skip-reference]

On the first 100 traces of the benchmark corpus (../shared/tools/make_bench_corpus.py), with
../shared/tools/fake_openai_server.py on 127.0.0.1 (a fresh server per run, so its request
counts are per run), runs: tracesql cold at concurrency 16 and 64; tracesql warm (same cache:
the server must see 0 requests); tracesql with 10 % injected faults (429, 500, bad JSON); and
the reference's distillation pipeline with the same traces and settings. Prints whole-process
and LLM-step seconds, server requests, max in-flight (the server's own count), rows out and the
bound sum over 3 steps of ceil(calls / concurrency) x latency; writes bench/results/llm.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TRACESQL_SHARED", REPO.parent / "shared"))
WORK = REPO / "bench" / ".work"
PY = sys.executable


class FakeServer:
    def __init__(self, latency_ms: float, extra: list[str] | None = None, port: int = 0) -> None:
        port_file = Path(tempfile.mkdtemp()) / "port"
        self.proc = subprocess.Popen(
            [
                PY,
                str(SHARED / "tools" / "fake_openai_server.py"),
                "--port",
                str(port),
                "--latency-ms",
                str(latency_ms),
                "--port-file",
                str(port_file),
                *(extra or []),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(200):
            if port_file.exists():
                break
            time.sleep(0.05)
        self.port = int(port_file.read_text())
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> dict:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        m = re.search(r"requests=(\d+) ok=(\d+) faults=(\d+) max_inflight=(\d+)", out)
        return (
            dict(zip(("requests", "ok", "faults", "max_inflight"), map(int, m.groups()), strict=True))
            if m
            else {}
        )


def first_traces(count: int) -> Path:
    corpus = WORK / "claude-x40"
    subprocess.run(
        [PY, str(SHARED / "tools" / "make_bench_corpus.py"), str(SHARED / "corpus"), str(corpus), "40"],
        check=True,
    )
    folder = WORK / f"first-{count}"
    if not folder.exists():
        folder.mkdir(parents=True)
        for i, src in enumerate(sorted(corpus.rglob("*.jsonl"))[:count]):
            (folder / f"{i:04d}-{src.parent.name}-{src.name}").symlink_to(src)
    return folder


def run_tracesql(
    traces: Path,
    parallel: int,
    latency: float,
    work: Path,
    fault_args: list[str] | None = None,
    port: int = 0,
):
    server = FakeServer(latency, fault_args, port)
    started = time.perf_counter()
    cmd = [
        PY,
        str(REPO / "bench" / "llm_pipeline.py"),
        "--base-url",
        server.url,
        "--traces",
        str(traces),
        "--max-parallel",
        str(parallel),
        "--num-records",
        "0",
        "--work",
        str(work),
    ]
    if fault_args:
        cmd.append("--allow-nulls")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    stats = server.stop()
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-3000:], file=sys.stderr)
    numbers = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}
    return {
        "exit": proc.returncode,
        "process_seconds": round(wall, 2),
        **numbers,
        "server": stats,
        "port": server.port,
    }


def run_reference(
    traces: Path, parallel: int, latency: float, count: int, fault_args: list[str] | None = None
):
    server = FakeServer(latency, fault_args)
    metrics = Path(tempfile.mkdtemp()) / "metrics.json"
    started = time.perf_counter()
    proc = subprocess.run(
        [
            "bash",
            str(SHARED / "tools" / "reference" / "run-reference-pipeline.sh"),
            "--traces",
            str(traces),
            "--format",
            "claude_code",
            "--num-records",
            str(count),
            "--max-parallel",
            str(parallel),
            "--base-url",
            server.url,
            "--metrics-out",
            str(metrics),
        ],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    stats = server.stop()
    data = json.loads(metrics.read_text()) if metrics.exists() else {}
    return {
        "exit": proc.returncode,
        "process_seconds": round(wall, 2),
        "metrics": data,
        "server": stats,
        "tail": proc.stdout.strip().splitlines()[-3:]
        if proc.stdout
        else proc.stderr.strip().splitlines()[-3:],
    }


def bound(calls_per_step: int, parallel: int, latency_s: float, steps: int = 3) -> float:
    return steps * math.ceil(calls_per_step / parallel) * latency_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latency-ms", type=float, default=200.0)
    ap.add_argument("--traces-count", type=int, default=100)
    ap.add_argument("--skip-reference", action="store_true")
    args = ap.parse_args()
    latency = args.latency_ms / 1000
    traces = first_traces(args.traces_count)
    faults = ["--fail-rate", "0.1", "--fail-kinds", "429,500,badjson"]
    runs: dict[str, dict] = {}
    cold16 = WORK / "llm-cold16"
    for name, parallel, work, fault in (
        ("tracesql cold, concurrency 16", 16, cold16, None),
        ("tracesql cold, concurrency 64", 64, WORK / "llm-cold64", None),
        ("tracesql warm (cache of the c16 run)", 16, cold16, None),
        ("tracesql, 10% faults, concurrency 16", 16, WORK / "llm-faults16", faults),
    ):
        if "warm" not in name:
            subprocess.run(["rm", "-rf", str(work)], check=True)
        # the warm run talks to a server on the same URL (the URL is part of the cache key)
        port = runs["tracesql cold, concurrency 16"]["port"] if "warm" in name else 0
        runs[name] = run_tracesql(traces, parallel, args.latency_ms, work, fault, port)
        runs[name]["parallel"] = parallel
    if not args.skip_reference:
        for name, parallel, fault in (
            ("reference, concurrency 16", 16, None),
            ("reference, concurrency 64", 64, None),
            ("reference, 10% faults, concurrency 16", 16, faults),
        ):
            runs[name] = run_reference(traces, parallel, args.latency_ms, args.traces_count, fault)
            runs[name]["parallel"] = parallel

    n = args.traces_count
    print(
        f"{n} traces, 3 LLM steps, fake server latency {args.latency_ms:.0f} ms; machine {platform.machine()}, "
        f"{os.cpu_count()} cores"
    )
    print(
        f"{'run':42} {'exit':>4} {'process s':>9} {'LLM s':>7} {'bound s':>7} {'requests':>8} {'max in-flight':>13} {'rows':>5} {'nulls':>5}"
    )
    for name, r in runs.items():
        b = bound(n, r["parallel"], latency)
        metrics = r.get("metrics") or {}
        # the reference's LLM steps: the wall time of DataDesigner.create() (its seed read included)
        llm_s = r.get("llm_step_seconds", metrics.get("create_wall_s") or float("nan"))
        rows = r.get("rows_out", (metrics.get("verify") or {}).get("rows", 0))
        print(
            f"{name:42} {r['exit']:>4} {r['process_seconds']:>9.2f} {llm_s:>7.2f} {b:>7.2f} "
            f"{r['server'].get('requests', '?'):>8} {r['server'].get('max_inflight', '?'):>13} {rows!s:>5} "
            f"{r.get('nulls', '-')!s:>5}"
        )
    (REPO / "bench" / "results").mkdir(parents=True, exist_ok=True)
    result = {
        "machine": {"arch": platform.machine(), "cores": os.cpu_count(), "python": platform.python_version()},
        "latency_ms": args.latency_ms,
        "traces": n,
        "runs": runs,
        "bounds": {"c16": bound(n, 16, latency), "c64": bound(n, 64, latency)},
    }
    (REPO / "bench" / "results" / "llm.json").write_text(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
