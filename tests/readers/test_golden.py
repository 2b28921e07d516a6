"""Every reader's rows for its in-repo fixtures, field by field against the committed golden
rows (tests/fixtures-expected/<format>.jsonl; see tests/readers/golden.py). Runs in a fresh
clone; the goldens agree with the reference's rows except the declared deviations (each
format's test_parity_with_the_reference)."""

from __future__ import annotations

import pytest

from tests.readers.golden import FORMAT_NAMES, expected_rows, golden_rows

UPDATE = "if the change is meant, rewrite the goldens: .venv/bin/python -m tests.readers.golden"


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_fixture_rows_match_the_golden_rows(fmt: str) -> None:
    ours, golden = expected_rows(fmt), golden_rows(fmt)
    assert [(r["source_path"], r["trace_id"]) for r in ours] == [
        (r["source_path"], r["trace_id"]) for r in golden
    ], UPDATE
    for mine, gold in zip(ours, golden, strict=True):
        for field in sorted(set(mine) | set(gold)):
            assert mine.get(field) == gold.get(field), f"{gold['source_path']}: {field} ({UPDATE})"
