"""What `tracesql` prints, through the real CLI: run lines, tables and LLM progress fit a
terminal of 60 or 120 columns, one line per model; without a terminal, plain text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import invoke, write_files
from tests.console.conftest import ESCAPE, visible_lines
from tests.llm.fake_server import FakeLLMServer

LONG_NAME = "summaries_of_every_trace_with_a_rather_long_model_name"


@pytest.fixture
def llm_project(tmp_path: Path):
    """Four models: a table, an LLM model with a long name, a broken one, one that depends on it."""
    with FakeLLMServer() as server:
        profiles = {
            "target": "dev",
            "targets": {"dev": {"database": "dev.duckdb"}},
            "providers": {"fake": {"base_url": server.url}},
            "models": {"writer": {"provider": "fake", "model": "w"}},
            "llm": {"default_model": "writer"},
        }
        root = write_files(
            tmp_path / "proj",
            {
                "profiles.yml": json.dumps(profiles),
                "models/inputs.sql": "{{ config(materialized='table') }} select i from range(6) t(i)",
                f"models/{LONG_NAME}.sql": (
                    "{{ config(materialized='table') }}\n"
                    "select i, llm('Summarize trace ' || i) as summary from {{ ref('inputs') }}"
                ),
                "models/broken.sql": "select nme, 'a long enough error message' from {{ ref('inputs') }}",
                "models/after_broken.sql": "select * from {{ ref('broken') }}",
            },
        )
        yield root, server


def run_lines(stdout: str) -> list[str]:
    return [line for line in visible_lines(stdout) if re.match(r"^\s*\d+ of 4  ", line)]


@pytest.mark.parametrize("width", [60, 120])
def test_a_run_fits_the_terminal_one_line_per_model(llm_project, terminal, width):
    root, server = llm_project
    terminal(width)
    result = invoke(root, "run")
    assert result.exit_code == 1  # the broken model
    assert len(server.requests) == 6
    for stream in (result.stdout, result.stderr):
        lines = visible_lines(stream)
        assert lines and max(len(line) for line in lines) <= width, [x for x in lines if len(x) > width]
    lines = run_lines(result.stdout)
    assert [line.split(" of ")[0].strip() for line in lines] == ["1", "2", "3", "4"]  # one line per model
    statuses = {line.split()[3] for line in lines}
    assert statuses == {"OK", "ERROR", "SKIP"}
    llm_line = next(line for line in lines if LONG_NAME[:12] in line)
    assert "6 rows" in llm_line and re.search(r"\d\.\d\ds$", llm_line)  # the name gave way, not the time
    assert any("6/6" in line and "done in" in line for line in visible_lines(result.stderr))  # the bar


def test_without_a_terminal_output_is_plain(llm_project, no_terminal):
    root, _server = llm_project
    result = invoke(root, "run")
    assert "\x1b" not in result.stdout and "\x1b" not in result.stderr
    lines = run_lines(result.stdout)
    assert len(lines) == 4
    # the full line, as long as it is: the name padded to 32 columns, never cut
    llm_line = next(line for line in lines if LONG_NAME in line)
    assert re.match(rf"^\d of 4  OK     table        {LONG_NAME} 6 rows\s+\d+\.\d\ds$", llm_line), llm_line
    progress = [line for line in result.stderr.splitlines() if "6/6" in line]
    assert len(progress) == 1 and LONG_NAME in progress[0] and "done in" in progress[0]


@pytest.mark.parametrize("width", [60, 120])
def test_tables_fit_the_terminal(project, terminal, width):
    terminal(width)
    sql = "select range as id, repeat('word ', 30) as text, 'x' as tag from range(3)"
    result = invoke(project, "query", sql)
    assert result.exit_code == 0, result.output
    lines = visible_lines(result.stdout)
    table = [line for line in lines if line[:1] in "┌│├└"]
    assert len(table) == 3 + 3 + 1  # top, header, rule, 3 rows, bottom
    assert all(len(line) <= width for line in lines)
    assert all(line.endswith("│") for line in table if line.startswith("│"))  # cut, not wrapped
    assert "…" in table[3] and table[3].endswith("│ x   │")  # the long cell gave way


def test_tables_without_a_terminal_keep_whole_cells(project, no_terminal):
    result = invoke(project, "query", "select range as id, repeat('word ', 30) as text from range(3)")
    assert "\x1b" not in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.startswith("│ ")]
    assert rows[1].startswith("│  0 │ " + ("word " * 10)[:47] + "… │")  # the 48-character cell, as always
    assert ESCAPE.search(result.stdout) is None
