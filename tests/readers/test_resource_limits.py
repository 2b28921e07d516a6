"""Bounded resources, checked where it counts: in a subprocess under RLIMIT_AS (address
space) with small configured limits. Junk (a 1 GB NUL tail, a line over max_line_bytes, a
binary tail, many bad lines and their diagnostics) costs O(1); a real trace costs at most
about 3x its row plus a constant. A read that ran out of memory would say so (a `skip`:
out of memory) and lose its rows."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

from tests.readers.conftest import claude_record, trace_rows, write_session

MiB = 1 << 20
CONSTANT = 64 * MiB  # what a read may take beyond its rows: chunks, one line, the parser's state

SCRIPT = """
import json, os, resource, sys
from tracesql.readers.options import read_options
from tracesql.readers.scan import ScanOptions, run_scan

def vm_size():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize"))

root, out, budget = sys.argv[1], sys.argv[2], int(sys.argv[3])
opts = read_options(max_line_bytes=1 << 20, max_diagnostics=5)
run_scan(ScanOptions("claude_code", path=os.path.join(root, "warm"), read=opts), out + "-warm")
limit = vm_size() + budget
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
result = run_scan(ScanOptions("claude_code", path=os.path.join(root, "read"), read=opts), out)
print(json.dumps({"rows": result.rows, "diagnostics": [[os.path.basename(d.path), d.severity, d.reason]
                  for d in result.diagnostics]}))
"""


def read_under_limit(root: Path, budget: int) -> dict:
    write_session(root / "warm" / "w.jsonl", "warm")
    env = {**os.environ, "TRACESQL_WORKERS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), str(root), str(root / "out"), str(budget)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(done.stdout)


def test_junk_costs_constant_memory(tmp_path):
    read = tmp_path / "read"
    # a session whose process died mid-write: 1 GB of zeros after it (a sparse file)
    nul = write_session(read / "nul_tail.jsonl", "nul")
    with open(nul, "r+b") as fh:
        fh.truncate(nul.stat().st_size + 1024 * MiB)
    # a line of 48 MiB (over the 1 MiB limit), then 8 MiB of binary garbage
    long = write_session(read / "long_line.jsonl", "long")
    with open(long, "ab") as fh:
        fh.write(b'{"type":"user","sessionId":"long","text":"' + b"a" * (48 * MiB) + b'"}\n')
        fh.write(random.Random(7).randbytes(8 * MiB))
    # 200,000 lines that are not JSON: 200,000 diagnostics, were they all kept
    (read / "bad_lines.jsonl").write_bytes(b"this is not json\n" * 200_000)
    # a compressed session that unpacks to 512 MiB (a zero tail: 0.5 MB packed)
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip framing
    with open(read / "bomb.jsonl.gz", "wb") as fh:
        fh.write(packer.compress((write_session(tmp_path / "b.jsonl", "bomb")).read_bytes()))
        zeros = bytes(MiB)
        for _ in range(512):
            fh.write(packer.compress(zeros))
        fh.write(packer.flush())
    result = read_under_limit(tmp_path, CONSTANT)
    assert result["rows"] == 3
    reasons = {}
    for name, severity, reason in result["diagnostics"]:
        reasons.setdefault(name, []).append((severity, reason))
    assert "out of memory" not in json.dumps(reasons)
    (bomb_diag,) = reasons["bomb.jsonl.gz"]
    assert bomb_diag[1].startswith("536870912 NUL bytes in a run")
    (nul_diag,) = reasons["nul_tail.jsonl"]
    assert nul_diag[1].startswith("1073741824 NUL bytes in a run")
    long_reasons = [r for _, r in reasons["long_line.jsonl"]]
    assert any(
        r.startswith("a line over max_line_bytes (1048576 bytes; the longest 50331") for r in long_reasons
    )
    assert any(r.startswith("binary data (") for r in long_reasons)
    assert len(long_reasons) == 2
    bad = reasons["bad_lines.jsonl"]
    assert len(bad) == 5 + 2  # the first 5, one that counts the rest, and the file's verdict
    assert bad[5] == (
        "warning",
        "199995 more diagnostics for this file not listed (the first 5 are; max_diagnostics sets how many)",
    )
    assert bad[6][0] == "skip"


def big_session(path: Path, megabytes: int) -> None:
    """A session of real shape: prompts, tool calls, tool output, answers, screenshots."""
    rnd = random.Random(3)
    lines, parent, i = [], None, 0
    size = 0
    while size < megabytes * MiB:
        role = "user" if i % 2 == 0 else "assistant"
        rec = claude_record("big", i, role, text="x = 1\n" * rnd.randint(100, 6000), parent=parent)
        rec["timestamp"] = "2025-03-01T10:00:00.000Z"
        if i % 20 == 0:
            data = rnd.randbytes(300_000).hex()
            rec["message"]["content"] = [{"type": "image", "source": {"type": "base64", "data": data}}]
        line = json.dumps(rec)
        lines.append(line)
        size += len(line)
        parent, i = rec["uuid"], i + 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def test_a_trace_costs_at_most_about_three_times_its_row(tmp_path, con):
    big_session(tmp_path / "read" / "big.jsonl", 24)
    row_bytes = sum(
        len(json.dumps(m, default=str))
        for m in trace_rows(con, "claude_code_traces", tmp_path / "read")[0]["messages"]
    )
    result = read_under_limit(tmp_path, 3 * row_bytes + CONSTANT)
    assert result == {"rows": 1, "diagnostics": []}
