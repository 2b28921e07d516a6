"""Hostile and damaged input costs one file at most: a value Arrow or JSON cannot hold, a
folder tree deeper than Python's recursion, a file name that is not UTF-8, a sniffer fed
odd JSON types, a symlink out of the folder, a file swapped for a FIFO or a device after
discovery, parser workers whose parent is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.readers.conftest import claude_session_lines, diagnostics, trace_rows, write_session
from tracesql.readers.registry import FORMATS
from tracesql.readers.scan import ScanOptions, plan, run_scan

BIG = "1" + "0" * 400  # an integer no 64-bit type holds


def write_header_files(root: Path) -> None:
    """One file per format whose header carries a 400-digit integer where a string or small
    number is expected."""
    (root / "claude").mkdir()
    (root / "claude" / "s.jsonl").write_text(
        '{"type":"user","sessionId":"s","uuid":"u1","parentUuid":null,"timestamp":"2025-03-01T10:00:00Z",'
        f'"version":{BIG},"message":{{"role":"user","content":"hi"}}}}\n'
    )
    (root / "codex").mkdir()
    (root / "codex" / "rollout-x.jsonl").write_text(
        '{"timestamp":"2025-03-01T10:00:00Z","type":"session_meta","payload":{"id":"c1",'
        f'"timestamp":"2025-03-01T10:00:00Z","cwd":"/x","source":{BIG}}}}}\n'
        '{"timestamp":"2025-03-01T10:00:01Z","type":"response_item","payload":{"type":"message","role":"user",'
        '"content":[{"type":"input_text","text":"hi"}]}}\n'
    )
    (root / "pi").mkdir()
    (root / "pi" / "p.jsonl").write_text(
        f'{{"type":"session","id":"p1","timestamp":"2025-03-01T10:00:00Z","cwd":"/x","version":{BIG}}}\n'
        '{"type":"message","timestamp":"2025-03-01T10:00:01Z","message":{"role":"user","content":"hi"}}\n'
    )
    (root / "hermes").mkdir()
    (root / "hermes" / "session_h.json").write_text(
        f'{{"session_id":"h1","session_start":"2025-03-01T10:00:00","platform":{BIG},'
        '"messages":[{"role":"user","content":"hi"}]}'
    )
    (root / "atif").mkdir()
    (root / "atif" / "a.json").write_text(
        f'{{"schema_version":"ATIF-v1.6","session_id":"a1","agent":{{"name":"x","version":"1"}},'
        f'"extra":{{"k":{BIG}}},"steps":[{{"step_id":1,"source":"user","message":"hi"}}]}}'
    )


def test_a_huge_integer_in_a_header_costs_no_file(con, tmp_path):
    write_header_files(tmp_path)
    write_session(tmp_path / "good.jsonl", "good")
    rows = trace_rows(con, "traces", tmp_path)
    kinds = sorted((r["source_kind"], r["trace_id"]) for r in rows)
    assert kinds == [
        ("atif", "a1"),
        ("claude_code", "good"),
        ("claude_code", "s"),
        ("codex", "c1"),
        ("hermes_agent", "h1"),
        ("pi_coding_agent", "p1"),
    ]
    by_id = {r["trace_id"]: r for r in rows}
    assert by_id["c1"]["meta"]["source"] == BIG  # kept, as text
    assert by_id["p1"]["meta"]["session_version"] == BIG
    assert by_id["a1"]["meta"]["extra"] == {"k": BIG}
    assert by_id["s"]["meta"]["claude_versions"] == [BIG]  # these two readers take it as text anyway
    assert by_id["h1"]["meta"]["platform"] == BIG
    warned = {
        os.path.basename(d["path"])
        for d in diagnostics(con)
        if "401 digits was kept as a string" in d["reason"]
    }
    assert warned == {"rollout-x.jsonl", "p.jsonl", "a.json"}


def test_a_folder_tree_deeper_than_the_recursion_limit_is_walked(con, tmp_path, monkeypatch):
    depth = sys.getrecursionlimit() + 50
    folder = tmp_path
    monkeypatch.chdir(tmp_path)
    for _ in range(depth):
        os.mkdir("d")
        os.chdir("d")
    Path("deep.jsonl").write_text("\n".join(claude_session_lines("deep")) + "\n")
    Path("sessions-index.json").write_text('{"entries": [{"sessionId": "deep", "summary": "at the bottom"}]}')
    os.chdir(folder)
    try:
        rows = trace_rows(con, "claude_code_traces", tmp_path)
        assert [(r["trace_id"], r["meta"].get("summary")) for r in rows] == [("deep", "at the bottom")]
        assert rows[0]["source_path"].split("/").count("d") == depth
    finally:  # pytest's own clean-up of tmp_path recurses and would fail on this tree
        os.chdir("/".join(["d"] * depth))
        os.unlink("deep.jsonl")
        os.unlink("sessions-index.json")
        for _ in range(depth):
            os.chdir("..")
            os.rmdir("d")


def test_a_file_name_that_is_not_utf8_is_kept_escaped_and_diagnosable(con, tmp_path):
    lines = "\n".join(claude_session_lines("latin")) + "\n"
    fd = os.open(os.fsencode(tmp_path) + b"/caf\xe9.jsonl", os.O_WRONLY | os.O_CREAT)
    os.write(fd, lines.encode())
    os.close(fd)
    fd = os.open(os.fsencode(tmp_path) + b"/bad\xff.jsonl", os.O_WRONLY | os.O_CREAT)
    os.write(fd, b"not json\n")
    os.close(fd)
    rows = trace_rows(con, "claude_code_traces", tmp_path)
    assert [r["source_path"] for r in rows] == [f"{tmp_path}/caf\\xe9.jsonl"]
    assert rows[0]["message_count"] == 4
    diags = diagnostics(con)
    assert [d["path"] for d in diags if d["severity"] == "skip"] == [f"{tmp_path}/bad\\xff.jsonl"]
    # and the connection's diagnostics stay readable afterwards
    assert con.execute("SELECT count(*) FROM trace_diagnostics()").fetchone()[0] == len(diags)


ODD_VALUES = [[], ["user"], {}, {"type": "user"}, 1, 1.5, -0.0, None, True, "x", [1, [2, {}]], 10**30]


def test_every_sniffer_takes_any_json_type_without_failing():
    for reader in FORMATS:
        for value in ODD_VALUES:
            for head in (
                json.dumps({"type": value, "payload": value, "sessionId": value, "id": value}).encode(),
                json.dumps(value).encode(),
                json.dumps({"type": value}).encode() + b"\n" + json.dumps({"record_type": value}).encode(),
            ):
                for name in ("x.jsonl", "x.json", "rollout-1.jsonl", "sessions.json"):
                    reader().sniff(f"/t/{name}", head)
                    reader().explain(f"/t/{name}", head)


def test_a_claude_session_whose_first_type_is_a_list_is_still_detected(con, tmp_path):
    lines = claude_session_lines("odd")
    first = json.loads(lines[0])
    odd = {"type": ["file-history-snapshot"], "sessionId": "odd", "messageId": "m0"}
    (tmp_path / "odd.jsonl").write_text("\n".join([json.dumps(odd), json.dumps(first), *lines[1:]]) + "\n")
    rows = trace_rows(con, "traces", tmp_path)
    assert [(r["source_kind"], r["trace_id"], r["message_count"]) for r in rows] == [
        ("claude_code", "odd", 4)
    ]


def test_a_folder_symlink_out_of_the_root_is_not_followed(con, tmp_path):
    root = tmp_path / "root"
    write_session(root / "ok.jsonl", "ok")
    outside = tmp_path / "elsewhere"
    write_session(outside / "other.jsonl", "other")
    os.symlink("/", root / "root.jsonl")
    os.symlink(outside, root / "linked")
    os.mkdir(root / "sub")
    write_session(root / "sub" / "inner.jsonl", "inner")
    os.symlink(root / "sub", root / "alias")  # stays inside the root: may be followed (read once)
    rows = trace_rows(con, "claude_code_traces", root)
    assert sorted(r["trace_id"] for r in rows) == ["inner", "ok"]
    reasons = {os.path.basename(d["path"]): d["reason"] for d in diagnostics(con)}
    assert set(reasons) == {"root.jsonl", "linked"}
    assert "outside the folder being read: not followed" in reasons["root.jsonl"]
    assert "outside the folder being read" in reasons["linked"]
    os.unlink(root / "root.jsonl")
    followed = trace_rows(
        con, "claude_code_traces", root, recursive=True, follow_symlinks=True, file_pattern="other*"
    )
    assert [r["trace_id"] for r in followed] == ["other"]


@pytest.mark.parametrize("swap", ["fifo", "device"])
def test_a_file_swapped_after_discovery_is_refused_not_read(tmp_path, swap):
    write_session(tmp_path / "a.jsonl", "a")
    write_session(tmp_path / "b.jsonl", "b")
    opts = ScanOptions("claude_code", path=str(tmp_path))
    planned = plan(opts)
    os.unlink(tmp_path / "b.jsonl")
    if swap == "fifo":
        os.mkfifo(tmp_path / "b.jsonl")  # an open for reading would block forever
    else:
        os.symlink("/dev/zero", tmp_path / "b.jsonl")  # a read would never end
    result = run_scan(opts, str(tmp_path / "out"), planned)
    assert result.rows == 1
    (diag,) = result.diagnostics
    kind = "a FIFO" if swap == "fifo" else "a device"
    assert diag.path.endswith("b.jsonl") and f"not a regular file ({kind})" in diag.reason


def test_a_file_is_read_no_further_than_its_discovered_size(tmp_path):
    write_session(tmp_path / "live.jsonl", "live", turns=1)
    opts = ScanOptions("claude_code", path=str(tmp_path))
    planned = plan(opts)
    with open(tmp_path / "live.jsonl", "a") as fh:  # the session grows after discovery
        fh.write("\n".join(claude_session_lines("live", turns=3)[2:]) + "\n")
    result = run_scan(opts, str(tmp_path / "out"), planned)
    import pyarrow.parquet as pq

    assert pq.read_table(result.files).column("message_count").to_pylist() == [2]


WORKER_SCRIPT = """
import os, sys, time
from tracesql.readers import parallel
from tracesql.readers.claude_code.reader import ClaudeCodeReader
from tracesql.readers.scan import ScanOptions, run_scan

read_file = ClaudeCodeReader.read_file

def slow_read(self, path, ctx):  # a parse that takes a minute, so the parent dies mid-parse
    time.sleep(60)
    return read_file(self, path, ctx)

ClaudeCodeReader.read_file = slow_read
parallel.MIN_PARALLEL_BYTES = 0
print(os.getpid(), flush=True)
run_scan(ScanOptions("claude_code", path=sys.argv[1]), sys.argv[2])
"""


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as fh:
            out.update(int(c) for c in fh.read().split())
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_parser_workers_die_with_their_parent(tmp_path):
    for n in range(2):
        write_session(tmp_path / "in" / f"s{n}.jsonl", f"s{n}")
    env = {**os.environ, "TRACESQL_WORKERS": "2"}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(WORKER_SCRIPT), str(tmp_path / "in"), str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        pid = int(proc.stdout.readline())
        workers: set[int] = set()
        for _ in range(600):  # wait (up to a minute on a busy machine) for the worker
            workers = _children(pid)
            if workers:
                break
            time.sleep(0.1)
        assert workers
        os.kill(pid, signal.SIGKILL)
        proc.wait()
        for _ in range(300):
            if not any(_alive(w) for w in workers):
                break
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
