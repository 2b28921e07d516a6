"""`tracesql export`: Parquet and JSON Lines files of a built model, every type kept."""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import pytest

from tests.conftest import invoke, write_files

# One row of every kind of value a trace model holds, and one row of NULLs. The time zone is
# set (America/St_Johns: -03:30 in March) so TIMESTAMPTZ values show a negative offset with
# minutes, as they would on a user's machine outside UTC.
MIXED_MODEL = """
    {{ config(materialized='table') }}
    select
        1 as id,
        '\\xAB\\x00\\xFF'::blob as payload,
        timestamp '2024-03-01 12:34:56' as at_plain,
        timestamp '2024-03-01 12:34:56.123456' as at_micros,
        timestamptz '2024-03-01 12:34:56.5+00:00' as at_tz,
        date '2024-02-29' as on_day,
        'nan'::double as not_a_number,
        'inf'::double as infinity,
        '-inf'::double as minus_infinity,
        1.25::double as finite,
        0.1::float as single,
        12.50::decimal(10, 2) as money,
        '{"a": [1, 2, {"b": null}], "s": "é"}'::json as meta,
        {'name': 'tool', 'at': timestamptz '2024-03-01 00:00:00+00:00', 'raw': '\\x01'::blob,
         'scores': [1.5, 'nan'::double, '-inf'::double], 'extra': '{"k": [1]}'::json} as nested,
        [{'role': 'user', 'text': 'naïve ☃ "quoted"'}, {'role': 'assistant', 'text': '日本語 🙂\\n'}] as messages,
        ['a', null, 'c'] as tags,
        'line one' || chr(10) || 'tab' || chr(9) || 'end \\ slash' as text_value,
        time '08:09:10.25' as clock,
        interval 3 day + interval 90 minute as took,
        map {'k': 1.5, 'nan': 'nan'::double} as weights,
        true as flag,
        12345678901234::hugeint as big
    union all
    select 2, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
        null, null, null, null, null
"""

# The encoding before exports went through COPY (pinned in the previous commit), except
# that non-finite doubles are null (Python's json wrote the bare words NaN and Infinity,
# which are not JSON: jq, JSON.parse and DuckDB's read_json refuse them) and that a JSON
# value inside a struct or list is embedded like a JSON column (it was a string).
FIRST_ROW = {
    "id": 1,
    "payload": "ab00ff",
    "at_plain": "2024-03-01T12:34:56",
    "at_micros": "2024-03-01T12:34:56.123456",
    "at_tz": "2024-03-01T09:04:56.500000-03:30",
    "on_day": "2024-02-29",
    "not_a_number": None,
    "infinity": None,
    "minus_infinity": None,
    "finite": 1.25,
    "single": 0.10000000149011612,
    "money": 12.5,
    "meta": {"a": [1, 2, {"b": None}], "s": "é"},
    "nested": {
        "name": "tool",
        "at": "2024-02-29T20:30:00-03:30",
        "raw": "01",
        "scores": [1.5, None, None],
        "extra": {"k": [1]},
    },
    "messages": [
        {"role": "user", "text": 'naïve ☃ "quoted"'},
        {"role": "assistant", "text": "日本語 🙂\\n"},
    ],
    "tags": ["a", None, "c"],
    "text_value": "line one\ntab\tend \\ slash",
    "clock": "08:09:10.250000",
    "took": [0, 3, 5400000000000],
    "weights": [["k", 1.5], ["nan", None]],
    "flag": True,
    "big": 12345678901234,
}
EXPECTED_JSONL = [FIRST_ROW, {"id": 2, **dict.fromkeys(list(FIRST_ROW)[1:])}]


def strict_json(line: str) -> object:
    """json.loads that refuses NaN and Infinity, which are not JSON (Python's json writes them)."""

    def refuse(word: str) -> None:
        raise AssertionError(f"{word} is not JSON: {line}")

    return json.loads(line, parse_constant=refuse)


def without_nan(value: object) -> object:
    """NaN (unequal to itself) as a word, in nested rows, so rows compare with ==."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dict):
        return {k: without_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_nan(v) for v in value]
    return value


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TZ", "America/St_Johns")
    root = write_files(
        tmp_path / "proj",
        {
            "profiles.yml": "target: dev\ntargets:\n  dev: {database: dev.duckdb}\n",
            "models/mixed.sql": MIXED_MODEL,
        },
    )
    result = invoke(root, "run")
    assert result.exit_code == 0, result.output
    return root


def test_jsonl_export_keeps_every_value(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "mixed.jsonl"
    result = invoke(built, "export", "mixed", "--format", "jsonl", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "Wrote 2 rows of mixed" in result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    rows = [strict_json(line) for line in lines]
    assert rows == EXPECTED_JSONL
    assert list(rows[0]) == list(FIRST_ROW)  # column order kept


def test_parquet_export_reads_back_as_the_table(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "mixed.parquet"
    result = invoke(built, "export", "mixed", "--format", "parquet", "-o", str(out))
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(built / "dev.duckdb"), read_only=True)
    exported = con.execute(f"SELECT * EXCLUDE (meta) FROM read_parquet('{out}') ORDER BY id").fetchall()
    table = con.execute("SELECT * EXCLUDE (meta) FROM mixed ORDER BY id").fetchall()
    assert without_nan(exported) == without_nan(table)  # HUGEINT comes back as DOUBLE: still equal
    metas = con.execute(f"SELECT meta::JSON FROM read_parquet('{out}') ORDER BY id").fetchall()
    assert [json.loads(m) if m else m for (m,) in metas] == [FIRST_ROW["meta"], None]
    con.close()


def test_a_failed_export_leaves_the_previous_file(tmp_path: Path) -> None:
    root = write_files(
        tmp_path / "proj",
        {
            "profiles.yml": "target: dev\ntargets:\n  dev: {database: dev.duckdb}\n",
            "models/boom.sql": "select case when range = 3000 then error('boom') else range end as v from range(5000)",
        },
    )
    assert invoke(root, "run").exit_code == 0
    out = tmp_path / "out" / "boom.jsonl"
    out.parent.mkdir()
    out.write_text("the previous export\n")
    result = invoke(root, "export", "boom", "--format", "jsonl", "-o", str(out))
    assert result.exit_code == 1
    assert f"Error: model boom: export to {out} failed: Invalid Input Error: boom" in result.stderr
    assert out.read_text() == "the previous export\n"
    assert [p.name for p in out.parent.iterdir()] == ["boom.jsonl"]  # no temporary file left


def test_a_table_of_big_rows_is_written_in_parts_with_the_same_bytes(tmp_path: Path, monkeypatch) -> None:
    from tracesql.commands import export as exporting

    root = write_files(
        tmp_path / "proj",
        {
            "profiles.yml": "target: dev\ntargets:\n  dev: {database: dev.duckdb}\n",
            "models/wide.sql": "{{ config(materialized='table') }} "
            "select range as id, [repeat('x', 500 + range) for _ in range(20)] as parts from range(300)",
        },
    )
    assert invoke(root, "run").exit_code == 0
    whole, parted = tmp_path / "whole.jsonl", tmp_path / "parted.jsonl"
    monkeypatch.setattr(exporting, "CHUNK_BYTES", 1 << 40)  # one part
    assert invoke(root, "export", "wide", "-o", str(whole)).exit_code == 0
    parts: list[list[str]] = []
    real = exporting.row_chunks
    monkeypatch.setattr(exporting, "CHUNK_BYTES", 1)  # parts of MIN_CHUNK_ROWS rows
    monkeypatch.setattr(
        exporting, "row_chunks", lambda con, table: parts.append(real(con, table)) or parts[-1]
    )
    assert invoke(root, "export", "wide", "-o", str(parted)).exit_code == 0
    assert len(parts[0]) == 5  # 300 rows in parts of 64
    assert parted.read_bytes() == whole.read_bytes() and len(whole.read_text().splitlines()) == 300


def test_a_redacted_copy_gives_the_connection_its_threads_back(tmp_path: Path) -> None:
    """A redacted COPY runs on one DuckDB thread (the redacting stream is one Python
    thread; a second DuckDB thread only spends CPU): the connection's own setting comes
    back afterwards, after a failure too."""
    from tracesql.commands.export import copy_to
    from tracesql.secrets.columns import REDACT

    con = duckdb.connect()
    con.execute("SET threads = 3")
    con.execute(
        "CREATE TABLE t AS SELECT range AS id, 'key ghp_' || repeat('a', 36) || ' x' AS text FROM range(3)"
    )
    out = tmp_path / "t.parquet"
    assert copy_to(con, "t", "parquet", out, REDACT) == 3
    assert con.execute(f"SELECT DISTINCT text FROM '{out}'").fetchall() == [
        ("key [REDACTED:github_token] x",)
    ]
    assert con.execute("SELECT current_setting('threads')").fetchall() == [(3,)]
    with pytest.raises(duckdb.Error, match="boom"):
        copy_to(con, "(SELECT error('boom') AS e FROM t)", "parquet", out, REDACT)
    assert con.execute("SELECT current_setting('threads')").fetchall() == [(3,)]
