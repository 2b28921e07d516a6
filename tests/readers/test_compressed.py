"""Compressed sessions (`.jsonl.gz`, `.jsonl.zst`, `.json.gz`) read like their plain files,
streamed: same rows, same diagnostics, found by the plain file's pattern and detected by
`traces()`."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from tests.readers.conftest import claude_session_lines, diagnostics, trace_rows

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PLAIN = {
    "claude_code": FIXTURES / "claude_code" / "compaction_1_0.jsonl",
    "codex": FIXTURES / "codex" / "fidelity" / "rollout-2025-08-05T14-00-00-flat0001.jsonl",
    "pi_coding_agent": FIXTURES / "pi_coding_agent" / "fidelity" / "pi-errors-and-times.jsonl",
    "atif": FIXTURES / "atif" / "happy.trajectory.json",
    "hermes_agent": FIXTURES / "hermes_agent" / "export" / "hermes_sessions_export.jsonl",
}


def compress(source: Path, target: Path, codec: str) -> Path:
    data = source.read_bytes()
    if codec == "gz":
        target.write_bytes(gzip.compress(data))
    else:
        with pa.CompressedOutputStream(str(target), "zstd") as out:
            out.write(data)
    return target


def comparable(rows: list[dict]) -> list[dict]:
    """Rows without what names the file (usage ids of entries without an identity of their
    own are the file's path and a place in it)."""
    drop = ("source_path", "trace_key", "source_meta", "meta")
    out = []
    for r in rows:
        row = {k: v for k, v in r.items() if k not in drop}
        row["usage"] = [{**u, "id": u["id"].replace(r["source_path"], "<file>")} for u in r["usage"] or ()]
        out.append(row)
    return out


@pytest.mark.parametrize("codec", ["gz", "zst"])
@pytest.mark.parametrize("fmt", sorted(PLAIN))
def test_a_compressed_file_reads_like_its_plain_file(con, tmp_path, fmt, codec):
    plain, packed = tmp_path / "plain", tmp_path / "packed"
    plain.mkdir()
    packed.mkdir()
    source = PLAIN[fmt]
    shutil.copy(source, plain / source.name)
    compress(source, packed / f"{source.name}.{codec}", codec)
    pattern = "*.json" if fmt == "atif" else "*.jsonl"
    expected = trace_rows(con, f"{fmt}_traces", plain, file_pattern=pattern)
    expected_diags = [(d["line"], d["reason"]) for d in diagnostics(con)]
    got = trace_rows(con, f"{fmt}_traces", packed, file_pattern=pattern)
    assert got and comparable(got) == comparable(expected)
    assert [r["meta"] for r in got] == [r["meta"] for r in expected]
    assert [r["source_path"] for r in got] == [str(packed / f"{source.name}.{codec}")] * len(got)
    got_diags = [(d["line"], d["reason"]) for d in diagnostics(con) if d["path"].endswith(codec)]
    assert got_diags == expected_diags
    # traces() detects the format from the decompressed first bytes
    detected = trace_rows(con, "traces", packed)
    assert {r["source_kind"] for r in detected} == {fmt}


def test_a_corrupt_archive_keeps_what_was_read_and_says_so(con, tmp_path):
    data = gzip.compress(("\n".join(claude_session_lines("cut", turns=2000)) + "\n").encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(data[: len(data) * 2 // 3])  # a download cut short
    (tmp_path / "junk.jsonl.gz").write_bytes(b"\x1f\x8b this is no gzip stream at all")
    rows = trace_rows(con, "claude_code_traces", tmp_path)
    assert [r["source_path"].rsplit("/", 1)[1] for r in rows] == ["cut.jsonl.gz"]
    assert 1000 < rows[0]["message_count"] < 4000
    reasons = {d["path"].rsplit("/", 1)[1]: d["reason"] for d in diagnostics(con)}
    assert reasons["cut.jsonl.gz"].startswith("reading stopped: ")
    assert "junk.jsonl.gz" in reasons
