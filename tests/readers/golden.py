"""Golden expected rows for the in-repo fixtures, so reader tests compare field by field in a
fresh clone (no ../shared).

`tests/fixtures-expected/` holds, for each format's folder `tests/fixtures/<format>/`:
- `<format>.jsonl`: the rows we expect, in the reference's shape (`parity.reference_form`:
  the reference's 16 columns, raw timestamps, source_meta whole) plus our model, token and
  usage columns, one JSON object a line, ordered by path and trace id;
- `<format>.dd.jsonl`, `<format>.dd-warnings.jsonl`: the reference's (Data Designer 0.9.7)
  rows and warnings for the same folder, made by `../shared/tools/reference/run-reference.sh`
  and never edited by hand. `assert_parity` checks ours against them (declared deviations
  aside), so every golden field the reference also gives is the reference's value.

After a deliberate change to what a reader gives, rewrite the goldens and review the diff:

    .venv/bin/python -m tests.readers.golden              # <format>.jsonl from our readers
    .venv/bin/python -m tests.readers.golden --reference  # and rerun the reference (needs ../shared)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.readers.parity import FIXTURES, FIXTURES_EXPECTED, SHARED, our_rows, reference_form
from tracesql.readers.registry import FORMATS

FORMAT_NAMES = [cls.name for cls in FORMATS]
# tracesql's columns beyond the reference's that do not depend on where the files are
EXTRA_COLUMNS = ("models", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


def expected_rows(fmt: str) -> list[dict]:
    """What our reader gives for tests/fixtures/<fmt>/ today, in the golden's shape."""
    root = FIXTURES / fmt
    out = []
    for row in our_rows(fmt, root):
        form = reference_form(row, root)
        form.update({col: row[col] for col in EXTRA_COLUMNS})
        form["usage"] = [golden_usage(u, row["source_path"], root) for u in row["usage"] or ()]
        out.append(form)
    return sorted(out, key=lambda r: (r["source_path"], r["trace_id"], r["agent_id"] or ""))


def golden_usage(entry: dict, source_path: str, root: Path) -> dict:
    """A usage entry as the golden file keeps it: the time in ISO form, a file-scoped id
    with the file's path relative to the fixtures folder."""
    out = dict(entry)
    out["timestamp"] = entry["timestamp"].isoformat() if entry["timestamp"] is not None else None
    out["id"] = entry["id"].replace(source_path, os.path.relpath(source_path, root))
    return out


def golden_rows(fmt: str) -> list[dict]:
    """The committed golden rows of a format."""
    text = (FIXTURES_EXPECTED / f"{fmt}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def write_golden(fmt: str) -> Path:
    path = FIXTURES_EXPECTED / f"{fmt}.jsonl"
    lines = [json.dumps(row, ensure_ascii=False, sort_keys=True) for row in expected_rows(fmt)]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def run_reference(fmt: str) -> Path:
    """The reference's rows and warnings for tests/fixtures/<fmt>/ (paths relative to it)."""
    root = FIXTURES / fmt
    out, warnings = FIXTURES_EXPECTED / f"{fmt}.dd.jsonl", FIXTURES_EXPECTED / f"{fmt}.dd-warnings.jsonl"
    script = SHARED / "tools" / "reference" / "run-reference.sh"
    subprocess.run([str(script), fmt, str(root), str(out), "--warnings-out", str(warnings)], check=True)
    text = warnings.read_text(encoding="utf-8").replace(f"{root}/", "")
    warnings.write_text(text, encoding="utf-8")
    return out


def main(argv: list[str]) -> int:
    FIXTURES_EXPECTED.mkdir(exist_ok=True)
    for fmt in FORMAT_NAMES:
        if "--reference" in argv:
            print(run_reference(fmt))
        print(write_golden(fmt))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
