"""The commands the README walks a new user through, run as written (through the real CLI,
on a copy of the repo's project, against the scripted server on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.conftest import EXTRAS
from tests.llm.fake_server import FakeLLMServer
from tests.readers.parity import CORPUS
from tests.test_example_project import cli, generous, project, rows  # noqa: F401  (project is a fixture)

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_starts_with_the_two_commands():
    fences = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S)
    first = fences[0].strip().splitlines()
    assert first == [
        "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/tracesql run",
        ".venv/bin/python -m pytest",
    ]
    ci = (README.parent / ".ci" / "run").read_text()
    assert ".venv/bin/python -m pytest" in ci and "pip install" in ci


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not present")
def test_query_over_the_shared_corpus(project):  # noqa: F811
    result = cli(
        project,
        "query",
        f"SELECT source_kind, count(*) AS n FROM traces('{CORPUS}') GROUP BY ALL ORDER BY 1",
        "--format",
        "jsonl",
    )
    assert result.exit_code == 0, result.output
    counts = {r["source_kind"]: r["n"] for r in map(json.loads, result.output.strip().splitlines())}
    assert counts == {"atif": 15, "claude_code": 40, "codex": 13, "hermes_agent": 22, "pi_coding_agent": 4}


def test_the_main_job_commands_of_the_readme(project, monkeypatch):  # noqa: F811
    with FakeLLMServer(default=generous) as server:
        monkeypatch.setenv("TRACESQL_LLM_BASE_URL", server.url)
        monkeypatch.setenv("TRACESQL_LLM_API_KEY", "test-key-not-a-secret")
        local = "{llm_model: local}"

        dry = cli(project, "run", "--dry-run", "--vars", local)
        assert dry.exit_code == 0, dry.output
        assert "estimate" in dry.output and len(server.requests) == 0
        assert not (project / "tracesql.duckdb").exists()

        preview = cli(project, "run", "--preview", "3", "-s", "+sft_dataset", "--vars", local)
        assert preview.exit_code == 0, preview.output
        assert "-- sft_dataset, row 1" in preview.output  # the last model built is the one shown
        assert len(server.requests) == 3 * 3

        sample = cli(
            project,
            "run",
            "--vars",
            "{llm_model: local, trace_format: codex, trace_path: examples/traces/codex, "
            "num_records: 2, shuffle: true, seed: 1}",
        )
        assert sample.exit_code == 0, sample.output
        assert rows(project, "SELECT count(*), min(source_kind) FROM traces") == [(2, "codex")]

        parts = []
        for index in range(2):
            part = cli(
                project, "run", "-s", "traces", "--vars", f"{{partition_index: {index}, partition_count: 2}}"
            )
            assert part.exit_code == 0, part.output
            parts += [r[0] for r in rows(project, "SELECT trace_key FROM traces")]
        assert len(parts) == len(set(parts)) == 15

        atif = cli(
            project, "run", "-s", "traces", "--vars", "{trace_format: atif, trace_path: examples/traces/atif}"
        )
        assert atif.exit_code == 0 and rows(project, "SELECT count(*) FROM traces") == [(3,)]
        no_path = cli(project, "run", "-s", "traces", "--vars", "{trace_format: atif}")
        assert no_path.exit_code == 1 and "atif_traces() has no default folder" in no_path.output

        full = cli(project, "run", "--vars", local)
        assert full.exit_code == 0, full.output
        record = cli(project, "show", "sft_dataset", "--record", "1")
        assert record.exit_code == 0 and "-- sft_dataset, row 1" in record.output
        assert re.search(r"^sft_instruction\s+: \S", record.output, flags=re.M)
        assert "  {" in record.output  # nested fields indented
        assert cli(project, "show", "sft_dataset", "--record", "999").exit_code == 1

        exported = cli(project, "export", "sft_dataset", "--format", "parquet")
        assert exported.exit_code == 0 and (project / "target" / "exports" / "sft_dataset.parquet").exists()
        diagnostics = cli(
            project,
            "query",
            "SELECT count(*) FROM traces('examples/traces'); SELECT path, reason FROM trace_diagnostics()",
            "--format",
            "jsonl",
        )
        assert diagnostics.exit_code == 0, diagnostics.output
        reasons = [json.loads(line)["reason"] for line in diagnostics.output.strip().splitlines()]
        assert any("sidecar" in r for r in reasons) and any("invalid JSON" in r for r in reasons)


HOME_FOLDERS = {  # where each reader looks by default, filled with the bundled examples
    "claude_code": ".claude/projects",
    "codex": ".codex/sessions",
    "hermes_agent": ".hermes/sessions",
    "pi_coding_agent": ".pi/agent/sessions",
}


def on_spark(words: list[str]) -> bool:
    return "--target" in words[:-1] and words[words.index("--target") + 1] == "spark"


def readme_fences(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_every_readme_example_runs_as_written(project, tmp_path, monkeypatch):  # noqa: F811
    """Every `tracesql` line of the README's shell examples, every SQL example (through
    `tracesql query`) and the notebook example, in README order, from the project folder,
    with a home folder holding the bundled traces where the readers look by default."""
    import shlex
    import shutil

    from click.testing import CliRunner

    from tracesql.cli import main

    home = tmp_path / "home"
    for fmt, folder in HOME_FOLDERS.items():
        shutil.copytree(project / "examples" / "traces" / fmt, home / folder)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(project)
    # the `distill` alias (NVIDIA's API in the README) answered by the scripted server
    profiles = (project / "profiles.yml").read_text()
    (project / "profiles.yml").write_text(profiles.replace("provider: nvidia", "provider: local"))
    ran: list[str] = []
    left_out: list[str] = []
    # `--target spark` lines need the spark extra: run under CI (which installs it, and where
    # a missing pyspark fails the line), left out of the light `[dev]` set-up
    spark_here = bool(EXTRAS["pyspark"][0]()) or os.environ.get("TRACESQL_CI") == "1"
    with FakeLLMServer(default=generous) as server:
        monkeypatch.setenv("TRACESQL_LLM_API_KEY", "test-key-not-a-secret")
        monkeypatch.setenv("TRACESQL_LLM_BASE_URL", server.url)

        def tracesql(args: list[str], shown: str) -> None:
            result = CliRunner().invoke(main, args, catch_exceptions=False)
            assert result.exit_code == 0, f"{shown}\n{result.output}"
            ran.append(shown)

        for fence in readme_fences("sh")[1:]:
            for line in fence.splitlines():
                words = shlex.split(line, comments=True)
                if not words:
                    continue
                if words[0] == "export":  # the provider's variables: the scripted server's URL kept
                    for assignment in words[1:]:
                        name, _, value = assignment.partition("=")
                        if name != "TRACESQL_LLM_BASE_URL":
                            monkeypatch.setenv(name, value)
                elif words[0] == "tracesql" and on_spark(words) and not spark_here:
                    left_out.append(line)  # the light set-up has no pyspark (CI has: it runs them)
                elif words[0] == "tracesql":
                    tracesql(words[1:], line)
        assert {"tracesql report sft_dataset", "tracesql debug --probe"} <= {
            r.split("  ")[0].strip() for r in ran
        }
        for sql in readme_fences("sql"):
            if "{{" not in sql:  # a model's Jinja fragment is not ad-hoc SQL
                tracesql(["query", "--", sql], sql)
        (notebook,) = readme_fences("python")
        exec(compile(notebook, "README.md (python)", "exec"), {})
    assert len(ran) >= 25 and server.requests
    assert not left_out or not spark_here, left_out
    assert (project / "out" / "sft.train.jsonl").exists() and (
        project / "target/reports/sft_dataset.html"
    ).exists()
