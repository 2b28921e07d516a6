"""Usage report benchmark: `tracesql usage daily` against ccusage 17 on the 4x bench corpus.

    .venv/bin/python bench/usage.py [--copies 160] [--repeat 3] [--corpus /tmp/bench4x]

Builds the bench corpus (../shared/tools/make_bench_corpus.py: 3,840 real Claude Code
sessions, 914 MB at 160 copies) unless it is there, points a Claude config folder at it
(`<tmp>/claude/projects`), and times as whole processes (wall seconds, the median of the
repeats, interleaved so both see the same load; CPU seconds; peak memory, RSS summed over
the process tree, the highest of the repeats):

- ccusage: `npx ccusage@17 daily --json --offline` with CLAUDE_CONFIG_DIR, as its users run it;
- tracesql, cold: `tracesql usage daily --json --no-cache` with the same CLAUDE_CONFIG_DIR
  (the default folders, no project, every file read);
- tracesql, warm: `tracesql usage daily --json` a second time (the usage cache: no file read).

Prints the tokens each counts: cache reads and writes are equal; output differs (ccusage keeps
a streamed response's first line), and so does input by a little (ccusage counts a response
that has no requestId once per copy of its file: the corpus's copies repeat one). Writes bench/results/usage.json. Needs npx (Node.js) and the npm
registry (or ccusage@17 in npm's cache).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import Measured, run  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TRACESQL_SHARED", REPO.parent / "shared"))
RESULTS = REPO / "bench" / "results"
TRACESQL = str(Path(sys.executable).parent / "tracesql")


def build_corpus(path: Path, copies: int) -> None:
    tool = SHARED / "tools" / "make_bench_corpus.py"
    subprocess.run([sys.executable, str(tool), str(SHARED / "corpus"), str(path), str(copies)], check=True)


# the four token totals in each tool's JSON
KEYS = {
    "ccusage": ("inputTokens", "outputTokens", "cacheReadTokens", "cacheCreationTokens"),
    "tracesql": ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"),
}


def totals(measured: Measured, tool: str) -> dict[str, int]:
    found = json.loads(measured.stdout)["totals"]
    return {
        name: found[key]
        for name, key in zip(("input", "output", "cache_read", "cache_write"), KEYS[tool], strict=True)
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=160)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--corpus", type=Path, default=Path(tempfile.gettempdir()) / "bench4x")
    args = ap.parse_args()
    build_corpus(args.corpus, args.copies)
    files = list(args.corpus.rglob("*.jsonl"))
    size = sum(f.stat().st_size for f in files)
    with tempfile.TemporaryDirectory() as tmp:
        claude = Path(tmp) / "claude"
        claude.mkdir()
        (claude / "projects").symlink_to(args.corpus)
        env = {**os.environ, "CLAUDE_CONFIG_DIR": str(claude), "XDG_CACHE_HOME": str(Path(tmp) / "cache")}
        env["TZ"] = "UTC"  # both tools split days in UTC
        commands = {
            "ccusage 17 (npx)": ["npx", "--yes", "ccusage@17", "daily", "--json", "--offline"],
            "tracesql usage, cold": [TRACESQL, "usage", "daily", "--json", "--no-cache"],
            "tracesql usage, warm": [TRACESQL, "usage", "daily", "--json"],
        }
        subprocess.run(commands["ccusage 17 (npx)"], env=env, capture_output=True, check=True)  # install once
        subprocess.run(
            commands["tracesql usage, warm"], env=env, capture_output=True, check=True
        )  # fill the cache
        results: dict[str, list[Measured]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, cmd in commands.items():
                measured = run(cmd, env=env)
                if measured.returncode != 0:
                    raise SystemExit(f"{name} failed: {measured.stderr[-2000:]}")
                results[name].append(measured)
    counted = {
        name: totals(ms[0], "ccusage" if name.startswith("ccusage") else "tracesql")
        for name, ms in results.items()
    }
    summary = {
        name: {
            "seconds": round(statistics.median(m.seconds for m in ms), 2),
            "cpu_seconds": round(statistics.median(m.cpu_seconds for m in ms), 2),
            "peak_mib": round(max(m.peak_rss_mib for m in ms)),
            "tokens": counted[name],
        }
        for name, ms in results.items()
    }
    theirs, cold = summary["ccusage 17 (npx)"], summary["tracesql usage, cold"]
    print(
        f"corpus: {len(files):,} files, {size / 1e6:,.0f} MB; median of {args.repeat} runs, whole processes"
    )
    print(f"{'':24} {'s':>7} {'cpu s':>7} {'peak MiB':>9} {'output tokens':>14}")
    for name, row in summary.items():
        print(
            f"{name:24} {row['seconds']:7.2f} {row['cpu_seconds']:7.2f} {row['peak_mib']:9,} {row['tokens']['output']:14,}"
        )
    speedup = theirs["seconds"] / cold["seconds"]
    memory = cold["peak_mib"] / theirs["peak_mib"]
    print(
        f"cold run: {speedup:.1f}x faster than ccusage (goal >= 3), {memory:.2f} of its memory (goal <= 0.5)"
    )
    for key in ("input", "output", "cache_read", "cache_write"):
        a, b = theirs["tokens"][key], cold["tokens"][key]
        print(f"{key} tokens: ccusage {a:,}, tracesql {b:,}{' (equal)' if a == b else ''}")
    same = all(theirs["tokens"][k] == cold["tokens"][k] for k in ("cache_read", "cache_write"))
    out = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average": os.getloadavg(),
        "corpus": {"files": len(files), "bytes": size, "copies": args.copies},
        "repeat": args.repeat,
        "results": summary,
        "speedup": round(speedup, 2),
        "memory_ratio": round(memory, 3),
        "same_cache_tokens": same,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "usage.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
