"""The example project's models/usage/ end to end: usage_daily on the shared corpus's Claude
Code files equals totals computed here from the raw JSONL (the last line of each message
id + request id, each response once across files), and `tracesql usage` (no project,
usage-only reads) gives the same reports as the models built from full trace rows."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import duckdb
import pytest

from tests.readers.parity import CORPUS, needs_corpus
from tests.test_example_project import cli, project, rows  # noqa: F401  (project is a fixture)
from tracesql.commands.usage import UsageRequest, usage_report
from tracesql.project.settings import UsageSettings

COUNTS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def build(root: Path, *select: str, trace_vars: str | None = None) -> None:
    with (root / "profiles.yml").open("a") as fh:
        fh.write("\nusage:\n  timezone: UTC\n")
    args = ["run", *(a for s in select for a in ("-s", s))]
    if trace_vars:
        args += ["--vars", trace_vars]
    result = cli(root, *args)
    assert result.exit_code == 0, result.output


def raw_claude_totals(folder: Path) -> dict[dt.date | None, tuple[int, ...]]:
    """Per UTC day: the sums of the four counts over every API response in the JSONL under
    `folder`, computed from the raw lines: per file the last line of each message id +
    request id (a line without a message id is its own response), and a response found in
    several files taken once (the copy with the most output tokens)."""
    best: dict[tuple, tuple[int, dict]] = {}
    for path in sorted(folder.rglob("*.jsonl")):
        last: dict[tuple, dict] = {}
        for lineno, line in enumerate(path.read_bytes().splitlines(), 1):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            message = rec.get("message") if isinstance(rec, dict) else None
            if not (isinstance(message, dict) and isinstance(message.get("usage"), dict)):
                continue
            if rec.get("type", "assistant" if message.get("role") == "assistant" else None) != "assistant":
                continue
            if message.get("model") == "<synthetic>":
                continue
            if message.get("id"):
                key: tuple = (message["id"], rec.get("requestId"))
            else:
                key = ("uuid", rec["uuid"]) if rec.get("uuid") else (str(path), lineno)
            last[key] = rec
        for key, rec in last.items():
            output = rec["message"]["usage"].get("output_tokens") or 0
            if key not in best or output > best[key][0]:
                best[key] = (output, rec)
    days: dict[dt.date | None, list[int]] = {}
    for _output, rec in best.values():
        try:
            day: dt.date | None = dt.datetime.fromisoformat(rec["timestamp"].replace("Z", "+00:00")).date()
        except (KeyError, ValueError, AttributeError):
            day = None
        sums = days.setdefault(day, [0, 0, 0, 0])
        for i, name in enumerate(COUNTS):
            value = rec["message"]["usage"].get(name)
            sums[i] += value if isinstance(value, int) else 0
    return {day: tuple(s) for day, s in days.items() if any(s)}


@needs_corpus
def test_usage_daily_equals_totals_from_the_raw_jsonl(project):  # noqa: F811
    folder = CORPUS / "claude_code"
    build(project, "+usage_daily", trace_vars=f"{{trace_format: claude_code, trace_path: '{folder}'}}")
    found = rows(
        project,
        "select day, sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens) "
        "from usage_daily group by day",
    )
    ours = {day: tuple(int(v or 0) for v in sums) for day, *sums in found if any(sums)}
    expected = raw_claude_totals(folder)
    assert ours == expected
    # the figures: what ccusage 17 agrees on, and the output tokens it undercounts
    totals = tuple(sum(v[i] for v in ours.values()) for i in range(4))
    assert (totals[0], totals[2], totals[3]) == (12_941, 16_452_935, 990_710)
    assert totals[1] == 119_119  # ccusage 17.2.1: 82,235 (the first line of each streamed response)


def test_the_command_and_the_models_give_the_same_reports(project, tmp_path):  # noqa: F811
    """The bundled examples (all five formats): the models over full trace rows, the
    command over usage-only reads, the same SQL: the same rows."""
    build(project, "tag:usage", "traces")
    for report, model, key in (
        ("daily", "usage_daily", "day"),
        ("monthly", "usage_monthly", "month"),
        ("session", "usage_sessions", "session_id"),
        ("blocks", "usage_blocks", "block_start"),
    ):
        got = usage_report(
            UsageRequest(
                report, paths=(str(project / "examples" / "traces"),), settings=UsageSettings(timezone="UTC")
            )
        )
        command = sorted(
            (comparable({**group.key, **row}, key) for group in got.groups for row in group.breakdown),
            key=repr,
        )
        cursor = duckdb.connect(str(project / "tracesql.duckdb"), read_only=True)
        try:
            result = cursor.execute(f"select * from {model}")
            names = [d[0] for d in result.description]
            models = sorted(
                (comparable(dict(zip(names, r, strict=True)), key) for r in result.fetchall()), key=repr
            )
        finally:
            cursor.close()
        assert command == models, report
        formats = {"claude_code", "pi_coding_agent"} | (
            {"atif"} if report != "blocks" else set()
        )  # ATIF: no times
        assert len(models) >= 4 and {row[1] for row in models} >= formats


def comparable(row: dict, key: str) -> tuple:
    """A report row as both sides must agree on it (the project path relative to the
    examples folder: the project's copy lives elsewhere than the command's)."""
    project_path = row.get("project_path")
    cost = row["cost_usd"]
    return (
        str(row[key]),
        row["source_kind"],
        os.path.basename(project_path) if project_path else None,
        row["model"],
        row["responses"],
        row["input_tokens"],
        row["output_tokens"],
        row["cache_read_tokens"],
        row["cache_write_tokens"],
        None if cost is None else round(cost, 9),
    )


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
