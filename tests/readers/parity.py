"""Comparing our rows with the reference's (Data Designer 0.9.7) rows, field by field.

Two materials, each a folder per format and the reference's rows for it:
- the in-repo fixtures, `tests/fixtures/<format>/`, with `tests/fixtures-expected/<format>.dd.jsonl`
  (always present, so parity is checked in a fresh clone), and
- the shared corpus, `../shared/corpus/<format>/`, with `../shared/corpus-expected/<format>.dd.jsonl`
  (when present; `TRACESQL_SHARED` names another location).
`reference_form` turns one of our rows into the reference's shape; `assert_parity` checks that
the only differences are the declared deviations (and that each declared deviation really
occurs, so the list stays true).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tracesql.connection import open_connection
from tracesql.readers.schema import TRACE_SCHEMA

TESTS = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TRACESQL_SHARED", TESTS.parents[1] / "shared"))
CORPUS = SHARED / "corpus"
EXPECTED = SHARED / "corpus-expected"
FIXTURES = TESTS / "fixtures"
FIXTURES_EXPECTED = TESTS / "fixtures-expected"

needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"the shared corpus ({CORPUS}) is not present: set TRACESQL_SHARED"
)


@dataclass(frozen=True)
class Material:
    """Trace files, a folder per format, and the folder of the reference's rows for them."""

    name: str
    folder: Path
    expected: Path

    def root(self, fmt: str) -> Path:
        return self.folder / fmt


FIXTURE_MATERIAL = Material("fixtures", FIXTURES, FIXTURES_EXPECTED)
CORPUS_MATERIAL = Material("corpus", CORPUS, EXPECTED)


def materials() -> list[Material]:
    """The in-repo fixtures, and the shared corpus when it is present."""
    return [FIXTURE_MATERIAL] + ([CORPUS_MATERIAL] if CORPUS.is_dir() else [])


# the reference's columns: the first 16 of ours, in the same order
REFERENCE_COLUMNS = [f.name for f in TRACE_SCHEMA][:16]


def reference_rows(fmt: str, material: Material = CORPUS_MATERIAL) -> dict[str, list[dict]]:
    """Reference rows keyed by source_path relative to the material's <fmt> folder."""
    out: dict[str, list[dict]] = {}
    with open(material.expected / f"{fmt}.dd.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            out.setdefault(row["source_path"], []).append(row)
    return out


def read_rows(sql: str) -> list[dict]:
    """Run SQL in a fresh tracesql connection and return rows as dicts (messages as Python)."""
    con = open_connection()
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def our_rows(fmt: str, path: Path | None = None, **macro_args) -> list[dict]:
    path = path or CORPUS / fmt
    args = "".join(f", {k} := {v!r}" for k, v in macro_args.items())
    return read_rows(f"SELECT * FROM {fmt}_traces('{path}'{args})")


def reference_form(row: dict, root: Path) -> dict:
    """One of our rows in the reference's shape."""
    meta = json.loads(row["source_meta"]) if isinstance(row["source_meta"], str) else row["source_meta"]
    out = {k: row[k] for k in REFERENCE_COLUMNS}
    out["source_path"] = os.path.relpath(row["source_path"], root)
    out["started_at"] = meta.get("started_at_raw")
    out["ended_at"] = meta.get("ended_at_raw")
    out["messages"] = [message_reference_form(m) for m in row["messages"] or []]
    out["source_meta"] = meta
    return out


def reference_forms_by_path(rows: list[dict], root: Path) -> dict[str, list[dict]]:
    """Our rows in the reference's shape, keyed by source_path relative to `root` (as
    `reference_rows` keys the reference's)."""
    out: dict[str, list[dict]] = {}
    for row in rows:
        form = reference_form(row, root)
        out.setdefault(form["source_path"], []).append(form)
    return out


def assert_parity(
    ours: Mapping[str, list[dict]],
    theirs: Mapping[str, list[dict]],
    deviations: Mapping[tuple[str, str], str],
) -> None:
    """Every difference between our rows (reference form, by path) and the reference's is a
    declared deviation `(path, field)`, and every declared deviation occurs. `(path, "rows")`
    declares that we give another number of rows for a file than the reference does (a file
    it reads that is not a trace, a trace it leaves in one row); those rows are not compared."""
    seen: set[tuple[str, str]] = set()
    for path, refs in theirs.items():
        mine = ours.get(path, [])
        if len(mine) != len(refs):
            assert (path, "rows") in deviations, f"{path}: {len(mine)} rows, the reference {len(refs)}"
            seen.add((path, "rows"))
            continue
        for row, ref in zip(mine, refs, strict=True):
            for field, (a, b) in differences(row, ref).items():
                assert (path, field) in deviations, (
                    f"{path}: undeclared difference in {field}: {a!r} != {b!r}"
                )
                seen.add((path, field))
    assert set(deviations) - seen == set(), "declared deviations that no longer occur"


def differences(ours: dict, theirs: dict) -> dict[str, tuple]:
    """Field -> (ours, theirs) for every differing reference column. For source_meta only
    the reference's keys are compared (ours may add keys), each as `source_meta.<key>`."""
    diffs: dict[str, tuple] = {}
    for col in REFERENCE_COLUMNS:
        if col == "source_meta":
            for key, value in theirs["source_meta"].items():
                if ours["source_meta"].get(key) != value:
                    diffs[f"source_meta.{key}"] = (ours["source_meta"].get(key), value)
        elif col == "messages":
            if ours["messages"] != theirs["messages"]:
                first = next(
                    (
                        i
                        for i, (a, b) in enumerate(zip(ours["messages"], theirs["messages"], strict=False))
                        if a != b
                    ),
                    min(len(ours["messages"]), len(theirs["messages"])),
                )
                diffs["messages"] = (
                    ours["messages"][first : first + 1],
                    theirs["messages"][first : first + 1],
                )
        elif ours[col] != theirs[col]:
            diffs[col] = (ours[col], theirs[col])
    return diffs


def message_reference_form(msg: dict) -> dict:
    """A message as the reference would print it (falsy optional keys omitted, blocks as
    plain dicts)."""
    out: dict[str, Any] = {
        "role": msg["role"],
        "content": [_block_reference_form(b) for b in msg["content"] or ()],
    }
    if msg.get("reasoning_content"):
        out["reasoning_content"] = msg["reasoning_content"]
    if msg.get("tool_calls"):
        out["tool_calls"] = [
            {"id": c["id"], "type": c["type"], "function": dict(c["function"])} for c in msg["tool_calls"]
        ]
    if msg.get("tool_call_id"):
        out["tool_call_id"] = msg["tool_call_id"]
    return out


def _block_reference_form(b: dict) -> Any:
    if b.get("data") is not None:
        return json.loads(b["data"])
    return {"type": b["type"], "text": b["text"]}
