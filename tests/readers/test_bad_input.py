"""Bad input never costs a traceback or a whole session: good lines are kept, every
problem is a diagnostic (file, line, reason) queryable from SQL, strict mode turns it
into an error naming the file and line."""

from __future__ import annotations

import json
import os
import random

import duckdb
import pytest

from tests.readers.conftest import claude_session_lines, write_session


def read(sql, folder, **args):
    extra = "".join(f", {k} := {v!r}" for k, v in args.items())
    return sql.rows(f"SELECT * FROM claude_code_traces('{folder}'{extra})")


def diagnostics(sql):
    return sql.rows("SELECT * FROM trace_diagnostics() ORDER BY path, line")


def test_truncated_last_line_keeps_the_session(sql, tmp_path):
    write_session(tmp_path / "live.jsonl", "live", turns=2, extra=b'{"type":"user","sessionId":"live","mess')
    rows = read(sql, tmp_path)
    assert [r["message_count"] for r in rows] == [4]
    diags = diagnostics(sql)
    assert len(diags) == 1
    assert diags[0]["line"] == 5 and diags[0]["severity"] == "warning"
    assert "truncated last line" in diags[0]["reason"]
    assert diags[0]["path"].endswith("live.jsonl")


def test_invalid_utf8_is_replaced_and_reported(sql, tmp_path):
    lines = claude_session_lines("utf", turns=1)
    bad = json.loads(lines[1])
    bad["message"]["content"][0]["text"] = "caf\udce9"  # placeholder for a raw byte
    raw = json.dumps(bad).replace("\\udce9", "\\u0000XX").encode().replace(b"\\u0000XX", b"\xe9")
    (tmp_path / "utf.jsonl").write_bytes(lines[0].encode() + b"\n" + raw + b"\n")
    rows = read(sql, tmp_path)
    assert rows[0]["final_assistant_message"] == "caf\ufffd"
    (diag,) = diagnostics(sql)
    assert diag["line"] == 2 and "invalid UTF-8" in diag["reason"]


def test_non_object_line_is_reported_and_skipped(sql, tmp_path):
    lines = claude_session_lines("arr", turns=1)
    (tmp_path / "arr.jsonl").write_text(lines[0] + "\n[1, 2, 3]\n" + lines[1] + "\n")
    rows = read(sql, tmp_path)
    assert rows[0]["message_count"] == 2
    (diag,) = diagnostics(sql)
    assert diag["line"] == 2 and "expected a JSON object, got an array" in diag["reason"]


def test_empty_and_zero_byte_files_are_skipped_with_a_reason(sql, tmp_path):
    (tmp_path / "zero.jsonl").write_bytes(b"")
    (tmp_path / "blank.jsonl").write_text("\n  \n\n")
    write_session(tmp_path / "ok.jsonl", "ok")
    rows = read(sql, tmp_path)
    assert [r["trace_id"] for r in rows] == ["ok"]
    diags = {os.path.basename(d["path"]): d for d in diagnostics(sql)}
    assert set(diags) == {"zero.jsonl", "blank.jsonl"}
    assert all(d["severity"] == "skip" and "empty" in d["reason"] for d in diags.values())


def test_a_50_mb_single_line_is_read(sql, tmp_path):
    big = "x" * (50 * 1024 * 1024)
    lines = claude_session_lines("big", turns=1)
    rec = json.loads(lines[1])
    rec["message"]["content"][0]["text"] = big
    (tmp_path / "big.jsonl").write_text(lines[0] + "\n" + json.dumps(rec) + "\n")
    row = sql.rows(
        f"SELECT message_count, length(final_assistant_message) AS n FROM claude_code_traces('{tmp_path}')"
    )[0]
    assert row == {"message_count": 2, "n": len(big)}
    assert diagnostics(sql) == []


def test_deeply_nested_json_is_reported_not_a_crash(sql, tmp_path):
    lines = claude_session_lines("deep", turns=1)
    deep = '{"type":"user","sessionId":"deep","x":' + "[" * 100_000 + "]" * 100_000 + "}"
    (tmp_path / "deep.jsonl").write_text(lines[0] + "\n" + deep + "\n" + lines[1] + "\n")
    rows = read(sql, tmp_path)
    assert rows[0]["message_count"] == 2
    (diag,) = diagnostics(sql)
    assert diag["line"] == 2 and "nested too deeply" in diag["reason"]


def test_random_bytes_file_is_skipped(sql, tmp_path):
    rng = random.Random(7)
    (tmp_path / "noise.jsonl").write_bytes(bytes(rng.randrange(256) for _ in range(20_000)))
    write_session(tmp_path / "ok.jsonl", "ok")
    rows = read(sql, tmp_path)
    assert [r["trace_id"] for r in rows] == ["ok"]
    diags = [d for d in diagnostics(sql) if d["path"].endswith("noise.jsonl")]
    assert diags and diags[-1]["severity"] == "skip"


def test_broken_symlink_is_reported_and_the_read_goes_on(sql, tmp_path):
    write_session(tmp_path / "ok.jsonl", "ok")
    os.symlink(tmp_path / "gone.jsonl", tmp_path / "dangling.jsonl")
    rows = read(sql, tmp_path)
    assert [r["trace_id"] for r in rows] == ["ok"]
    (diag,) = diagnostics(sql)
    assert diag["path"].endswith("dangling.jsonl") and "broken symlink" in diag["reason"]


def test_folder_with_no_match_gives_no_rows_and_says_so(sql, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    assert read(sql, tmp_path) == []
    (diag,) = diagnostics(sql)
    assert "no files match '*.jsonl'" in diag["reason"]


def test_missing_folder_is_a_clear_error(sql, tmp_path):
    with pytest.raises(duckdb.Error, match="trace folder not found: .*nowhere"):
        read(sql, tmp_path / "nowhere")


def test_fifo_is_reported_not_opened(sql, tmp_path):
    write_session(tmp_path / "ok.jsonl", "ok")
    os.mkfifo(tmp_path / "pipe.jsonl")
    rows = read(sql, tmp_path)  # would hang forever if the FIFO were opened
    assert [r["trace_id"] for r in rows] == ["ok"]
    (diag,) = diagnostics(sql)
    assert diag["path"].endswith("pipe.jsonl") and "FIFO" in diag["reason"]


def test_folder_named_like_a_trace_is_not_read_as_one(sql, tmp_path):
    write_session(tmp_path / "ok.jsonl", "ok")
    (tmp_path / "x.jsonl").mkdir()
    assert [r["trace_id"] for r in read(sql, tmp_path)] == ["ok"]
    assert [r["trace_id"] for r in read(sql, tmp_path, recursive=False)] == ["ok"]
    diags = [d for d in diagnostics(sql) if d["path"].endswith("x.jsonl")]
    assert diags and "is a folder" in diags[0]["reason"]


def test_strict_mode_turns_a_diagnostic_into_an_error_naming_file_and_line(sql, tmp_path):
    write_session(tmp_path / "live.jsonl", "live", turns=1, extra=b'{"type":')
    with pytest.raises(duckdb.Error, match=r"live\.jsonl:3: strict mode: truncated last line"):
        read(sql, tmp_path, strict=True)
    assert sql.con.session.scans.last_error is not None
    assert sql.con.session.scans.last_error.line == 3


def test_lone_surrogate_escape_becomes_replacement_character(sql, tmp_path):
    lines = claude_session_lines("sur", turns=1)
    rec = json.loads(lines[1])
    rec["message"]["content"][0]["text"] = "PLACEHOLDER"
    bad = json.dumps(rec).replace("PLACEHOLDER", "a\\ud800b")
    (tmp_path / "sur.jsonl").write_text(lines[0] + "\n" + bad + "\n")
    rows = read(sql, tmp_path)
    assert rows[0]["final_assistant_message"] == "a\ufffdb"


def test_a_value_arrow_cannot_hold_becomes_null_with_a_warning():
    from tracesql.readers.base import ReadContext, Trace
    from tracesql.readers.scan import file_table

    ctx = ReadContext("claude_code", "/").for_file("/b")
    bad = Trace("b", "claude_code", "/b", "b")
    bad.add_usage("r1", None, "m", input=1)
    bad.usage[0]["input_tokens"] = 2**70  # set past add_usage, which would refuse it
    bad.git_branch = 12  # type: ignore[assignment]  # a reader bug: not text
    table = file_table([bad], ctx)
    assert table is not None
    row = table.to_pylist()[0]
    assert row["input_tokens"] is None and row["git_branch"] == "12"
    assert row["usage"][0]["input_tokens"] is None and row["usage"][0]["id"] == "r1"
    (diag,) = ctx.diagnostics
    assert diag.path == "/b" and diag.severity == "warning" and "could not be stored as read" in diag.reason


def test_a_bad_value_among_small_files_converted_together_costs_only_its_file():
    from tracesql.readers.base import Trace
    from tracesql.readers.discover import FoundFile
    from tracesql.readers.scan import Pending, PendingFile

    diagnostics: list = []
    pending = Pending("claude_code", None, diagnostics)
    good = Trace("a", "claude_code", "/a", "a").to_row()
    bad = Trace("b", "claude_code", "/b", "b").to_row()
    bad["output_tokens"] = 2**70  # no BIGINT holds it: the joint conversion fails
    pending.add(PendingFile(FoundFile("/a", "a", 10, 1), "k1", [good], [], True))
    pending.add(PendingFile(FoundFile("/b", "b", 10, 1), "k2", [bad], [], True))
    tables = pending.flush()
    rows = [row for table in tables for row in table.to_pylist()]
    assert [(r["trace_id"], r["output_tokens"]) for r in rows] == [("a", None), ("b", None)]
    (diag,) = diagnostics
    assert diag.path == "/b" and diag.severity == "warning" and "output_tokens" in diag.reason
