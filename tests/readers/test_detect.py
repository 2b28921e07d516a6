"""traces(path): one folder of mixed formats, each file read by the reader of its format."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from tests.readers.parity import CORPUS, materials, needs_corpus, read_rows
from tracesql.readers.jsonl import BOM
from tracesql.readers.registry import FORMATS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# what each format's own reader gives for its folder, with a pattern that admits every file
PER_FORMAT = {
    "claude_code": "*.jsonl",
    "codex": "*.jsonl",
    "hermes_agent": "*.json*",
    "pi_coding_agent": "*.jsonl",
    "atif": "*.json*",
}


@pytest.fixture(scope="module")
def detected():
    return read_rows(f"SELECT source_kind, trace_key, source_path FROM traces('{CORPUS}')")


# Files a material holds in another format's folder on purpose, by the format traces() gives
# them (a Codex rollout among the Claude Code look-alikes).
ELSEWHERE = {
    "fixtures": {("codex", "claude_code/not_transcripts/rollout-codex.jsonl")},
    "corpus": set(),
}


def test_every_format_is_detected_as_its_own_reader_reads_it():
    """On the in-repo fixtures, and on the shared corpus when it is present."""
    for material in materials():
        root = material.folder
        found = _trace_rows(root, f"SELECT source_kind, source_path, trace_key FROM traces('{root}')")
        own: Counter = Counter()
        for fmt, pattern in PER_FORMAT.items():
            own += _trace_rows(
                root, f"SELECT * FROM {fmt}_traces('{root / fmt}', file_pattern := '{pattern}')", fmt
            )
        assert {(fmt, path) for fmt, path, _ in found - own} == ELSEWHERE[material.name]
        assert own - found == Counter()


def _trace_rows(root: Path, sql: str, fmt: str | None = None) -> Counter:
    """(format, path under root, trace_key) of every row, with multiplicity."""
    return Counter(
        (fmt or r["source_kind"], str(Path(r["source_path"]).relative_to(root)), r["trace_key"])
        for r in read_rows(sql)
    )


@needs_corpus
def test_counts_meet_expected_md(detected):
    counts: dict[str, int] = {}
    for r in detected:
        counts[r["source_kind"]] = counts.get(r["source_kind"], 0) + 1
    # EXPECTED.md: claude 40, codex 13, hermes 3 + 19, pi 4, atif 14 + the streaming .atif.jsonl
    assert counts == {"claude_code": 40, "codex": 13, "hermes_agent": 22, "pi_coding_agent": 4, "atif": 15}
    assert len({r["trace_key"] for r in detected}) == len(detected)


@needs_corpus
def test_files_that_are_not_traces_are_skipped_with_a_reason():
    from tracesql.connection import open_connection

    con = open_connection()
    try:
        con.execute(f"SELECT count(*) FROM traces('{CORPUS}')").fetchall()
        skips = dict(
            con.execute("SELECT path, reason FROM trace_diagnostics() WHERE severity = 'skip'").fetchall()
        )
    finally:
        con.close()
    by_name = {p.rsplit("/", 1)[-1]: r for p, r in skips.items()}
    assert "sidecar" in by_name["agent-a0ad4f44468bdf20d.meta.json"]
    assert "journal" in by_name["journal.jsonl"]
    assert "empty" in by_name["4fe49c7c-ff82-4ac7-b3f2-79c22036bd58.jsonl"]
    assert "session-2025-12-05T07-45-57-649Z-x8251x.index.json" in by_name
    assert all(reason for reason in skips.values())


def test_logs_and_sidecars_beside_traces_are_named_in_the_skip_reason(tmp_path):
    """Files `traces()` meets in real folders: a Harbor job's config.json and result.json,
    and a `claude -p --output-format stream-json` log."""
    from tracesql.connection import open_connection

    (tmp_path / "config.json").write_text(
        '{"job_name": "j", "agent": {"name": "terminus-2"}, "environment": {"type": "docker"}}'
    )
    (tmp_path / "result.json").write_text(
        '{"trial_name": "t", "verifier_result": {"rewards": {"reward": 1.0}}}'
    )
    (tmp_path / "stream.jsonl").write_text(
        '{"type":"system","subtype":"init","session_id":"abc","tools":["Bash"],"claude_code_version":"2.0.1"}\n'
        '{"type":"result","subtype":"success","session_id":"abc","result":"hi"}\n'
    )
    con = open_connection()
    try:
        assert con.execute(f"SELECT count(*) FROM traces('{tmp_path}')").fetchone()[0] == 0
        reasons = dict(
            con.execute("SELECT regexp_replace(path, '.*/', ''), reason FROM trace_diagnostics()").fetchall()
        )
    finally:
        con.close()
    assert "Harbor trial config or result" in reasons["config.json"]
    assert "Harbor trial config or result" in reasons["result.json"]
    assert "stream-json" in reasons["stream.jsonl"]


def _claimed_fixtures(reader_cls: type) -> list[Path]:
    reader = reader_cls()
    folder = FIXTURES / reader.name
    return [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and reader.accepts(str(p.relative_to(folder))) is None
        and reader.sniff(str(p), p.read_bytes()[: 64 * 1024])
    ]


@pytest.mark.parametrize("reader_cls", FORMATS, ids=lambda cls: cls.name)
def test_every_sniffer_claims_its_files_behind_a_utf8_bom(reader_cls, tmp_path):
    files = _claimed_fixtures(reader_cls)
    assert files, f"no fixture of {reader_cls.name} is claimed by its sniffer"
    reader = reader_cls()
    for path in files:
        assert reader.sniff(str(path), BOM + path.read_bytes()[: 64 * 1024 - 3]), path
    # and traces() reads the BOM-prefixed copies as it reads the originals
    shutil.copytree(FIXTURES / reader.name, tmp_path / "plain")
    shutil.copytree(FIXTURES / reader.name, tmp_path / "bom")
    for path in (tmp_path / "bom").rglob("*"):
        if path.is_file():
            path.write_bytes(BOM + path.read_bytes())
    sql = "SELECT source_kind, trace_id, message_count, tool_call_count FROM traces('{}') ORDER BY ALL"
    plain = read_rows(sql.format(tmp_path / "plain"))
    assert [r for r in plain if r["source_kind"] == reader.name]
    assert read_rows(sql.format(tmp_path / "bom")) == plain


def test_skip_reasons_are_the_same_behind_a_utf8_bom(tmp_path):
    """Files no reader claims (stream-json logs, web exports, sidecars...) are explained the
    same way when they start with a BOM."""
    shutil.copytree(FIXTURES, tmp_path / "plain")
    shutil.copytree(FIXTURES, tmp_path / "bom")
    for path in (tmp_path / "bom").rglob("*"):
        if path.is_file():
            path.write_bytes(BOM + path.read_bytes())

    def reasons(root: Path) -> dict[str, str]:
        from tracesql.connection import open_connection

        con = open_connection()
        try:
            con.execute(f"SELECT count(*) FROM traces('{root}')").fetchall()
            found = con.execute(
                "SELECT path, reason FROM trace_diagnostics() WHERE severity = 'skip'"
            ).fetchall()
        finally:
            con.close()
        return {str(Path(p).relative_to(root)): r for p, r in found}

    plain = reasons(tmp_path / "plain")
    assert any("stream-json" in r for r in plain.values())
    assert reasons(tmp_path / "bom") == plain
