"""Secrets never leave the machine: the example project over a corpus with planted
credentials (every kind, in user messages, assistant text, tool-call arguments and tool
results, in three formats), against a server whose answers copy their prompt. No planted
value reaches a request body or an export of traces, tool_interactions, sft_dataset or
sft_chat, in any format; the look-alikes come through untouched."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tests.llm.fake_server import FakeLLMServer, RecordedRequest, echo_answer
from tests.secrets.planted import LOOK_ALIKES, PERSONAL, write_corpus
from tests.secrets.vectors import credentials, kind_of
from tracesql.cli import main

REPO = Path(__file__).resolve().parents[2]
SCORES = ("groundedness", "standalone_task", "response_quality", "faithfulness", "training_utility")
EXPORTED = ("traces", "tool_interactions", "sft_dataset", "sft_chat")


def fragments() -> list[str]:
    """What must not survive of each planted value (every line of a key block)."""
    out = []
    for value in credentials().values():
        lines = value.splitlines()
        out.extend(line for line in lines[1:-1] if len(line) >= 16) if len(lines) > 1 else out.append(value)
    return out


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)


def leaked(value: Any) -> list[str]:
    texts = list(strings(value))
    return [f[:20] + "..." for f in fragments() if any(f in t for t in texts)]


def echo_and_keep(request: RecordedRequest) -> Any:
    """Echo the prompt into every text field; rate everything high so sft_chat has rows."""
    answer = echo_answer(request)
    if isinstance(answer, dict):
        if "training_value" in answer:
            answer["training_value"] = "high"
        for name in SCORES:
            if name in answer:
                answer[name]["score"] = 4
    return answer


def cli(project: Path, *args: str):
    return CliRunner().invoke(main, [*args, "--project-dir", str(project)], catch_exceptions=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    for name in ("profiles.yml", "models", "macros", "prompts"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    write_corpus(tmp_path / "planted")
    return root


def exported_rows(project: Path, model: str, fmt: str, *flags: str) -> list[dict]:
    out = project / "out" / f"{model}{'-'.join(flags)}.{fmt}"
    result = cli(project, "export", model, "--format", fmt, "-o", str(out), *flags)
    assert result.exit_code == 0, result.output
    if fmt == "parquet":
        return pq.read_table(out).to_pylist()
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_no_planted_secret_reaches_a_request_or_an_export(project: Path, tmp_path: Path, monkeypatch):
    with FakeLLMServer(default=echo_and_keep) as server:
        monkeypatch.setenv("TRACESQL_LLM_BASE_URL", server.url)
        monkeypatch.setenv("TRACESQL_LLM_API_KEY", "test-key-not-a-secret")
        vars_ = "{llm_model: local, trace_path: " + str(tmp_path / "planted") + "}"
        result = cli(project, "run", "--vars", vars_)
        assert result.exit_code == 0, result.output
        bodies = [r.body for r in server.requests]

    assert len(bodies) >= 4 * 18  # digest, record, judge, turn summary per trace, and tool labels
    assert leaked(bodies) == []
    sent = "\n".join(strings(bodies))
    for name in credentials():  # each kind was in some prompt, and was redacted there
        assert f"[REDACTED:{kind_of(name)}]" in sent, name

    for model in EXPORTED:
        for fmt in ("jsonl", "parquet"):
            rows = exported_rows(project, model, fmt)
            assert rows, (model, fmt)
            assert leaked(rows) == [], (model, fmt)
    traces = exported_rows(project, "traces", "jsonl")
    texts = "\n".join(strings(traces))
    for look_alike in LOOK_ALIKES:
        assert look_alike in texts
    chat = exported_rows(project, "sft_chat", "jsonl")
    assert any("[REDACTED:" in t for t in strings(chat))  # the echoed prompts, redacted


def test_the_setting_turns_redaction_off_loudly(project: Path, tmp_path: Path):
    vars_ = "{trace_path: " + str(tmp_path / "planted") + "}"
    assert cli(project, "run", "-s", "traces", "--vars", vars_).exit_code == 0
    profiles = project / "profiles.yml"
    profiles.write_text(profiles.read_text() + "\nsecrets:\n  redact: false\n")
    out = tmp_path / "raw.jsonl"
    result = cli(project, "export", "traces", "--format", "jsonl", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "secrets.redact is false in profiles.yml" in result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(leaked(rows)) == len(fragments())  # everything went out as it was


def test_export_anonymize(project: Path, tmp_path: Path):
    vars_ = "{trace_path: " + str(tmp_path / "planted") + "}"
    assert cli(project, "run", "-s", "traces", "--vars", vars_).exit_code == 0
    plain = "\n".join(strings(exported_rows(project, "traces", "jsonl")))
    anonymized = "\n".join(strings(exported_rows(project, "traces", "parquet", "--anonymize")))
    for personal in PERSONAL:
        assert personal in plain
        assert personal not in anonymized
    for tag in ("[EMAIL:", "[IP:", "/Users/[USER:"):
        assert tag in anonymized
    assert "[REDACTED:" in anonymized  # anonymizing adds to redaction
    assert leaked(anonymized) == []
