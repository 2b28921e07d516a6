"""The main job when things go wrong, through the real CLI against a scripted server on
127.0.0.1: a provider that is down or refuses the key fails the run without destroying a
good value; failed values keep their previous one and are retried; a trace without
messages costs no call; every NULL joins to its reason."""

from __future__ import annotations

import hashlib
import re
import socket

from tests.llm.fake_server import FakeLLMServer, Reply
from tests.test_example_project import cli, generous, project, rows  # noqa: F401  (project: a fixture)

VARS = ("--vars", "{llm_model: local}")
LLM_MODELS = ("tool_interaction_labels", "trace_digests", "turn_summaries")


def _serve(monkeypatch, url: str) -> None:
    monkeypatch.setenv("TRACESQL_LLM_BASE_URL", url)
    monkeypatch.setenv("TRACESQL_LLM_API_KEY", "test-key-not-a-secret")


def _dead_url() -> str:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def _statuses(result) -> dict[str, str]:
    return {
        line.split()[5]: line.split()[3]
        for line in result.output.splitlines()
        if re.search(r" of \d+  ", line)
    }


def test_a_full_refresh_with_the_provider_down_keeps_every_good_value(project, monkeypatch):  # noqa: F811
    with FakeLLMServer(default=generous) as server:
        _serve(monkeypatch, server.url)
        assert cli(project, "run", *VARS).exit_code == 0
    before = rows(project, "SELECT trace_key, trace_digest::varchar FROM trace_digests ORDER BY 1")
    dataset = rows(project, "SELECT count(*), count(sft_instruction) FROM sft_dataset")
    _serve(monkeypatch, _dead_url())
    down = cli(project, "run", *VARS, "--full-refresh")
    assert down.exit_code == 1
    statuses = _statuses(down)
    assert {statuses[m] for m in LLM_MODELS} == {"ERROR"}
    assert {statuses[m] for m in ("sft_records", "sft_judgements", "sft_dataset", "sft_chat")} == {"SKIP"}
    assert "every LLM value failed" in down.output and "is unreachable" in down.output
    assert rows(project, "SELECT trace_key, trace_digest::varchar FROM trace_digests ORDER BY 1") == before
    assert rows(project, "SELECT count(*), count(sft_instruction) FROM sft_dataset") == dataset


def test_a_refused_key_stops_at_the_first_answers(project, monkeypatch):  # noqa: F811
    with FakeLLMServer(default=lambda request: Reply.error(401, "Invalid API key")) as server:
        _serve(monkeypatch, server.url)
        result = cli(project, "run", *VARS)
        assert result.exit_code == 1
        assert len(server.requests) <= 2 * 16  # max_parallel_requests of the alias
    assert "answered HTTP 401: Invalid API key; check its API key" in result.output


def test_failed_values_keep_their_previous_value_and_are_retried(project, monkeypatch):  # noqa: F811
    refused = set()
    with FakeLLMServer(default=generous) as server:
        _serve(monkeypatch, server.url)
        assert cli(project, "run", *VARS).exit_code == 0
        old = dict(rows(project, "SELECT trace_key, trace_digest::varchar FROM trace_digests"))
        old_fp = rows(project, "SELECT DISTINCT llm_fingerprint FROM trace_digests")
        ids = [r[0] for r in rows(project, "SELECT trace_id FROM traces ORDER BY trace_key LIMIT 3")]
        refused |= {
            k for (k,) in rows(project, f"SELECT trace_key FROM traces WHERE trace_id IN {tuple(ids)}")
        }

        def refuse(request):
            hit = any(f"Trace: {i} (" in request.prompt for i in ids) and "Be brief." in request.prompt
            return Reply.error(400, "rejected by the moderation filter") if hit else generous(request)

        server.default = refuse
        prompt = project / "prompts" / "trace_digest.j2"
        prompt.write_text(prompt.read_text() + "\nBe brief.\n")  # a new fingerprint: every digest again
        result = cli(project, "run", *VARS, "-s", "trace_digests", "--max-error-rate", "0.5")
        assert result.exit_code == 0, result.output  # 3 of 15 is within the rate
        assert "WARN" in result.output and f"{len(refused)} of 15 LLM values failed" in result.output
        assert f"({len(refused)} kept the previous value)" in result.output
        kept = rows(
            project,
            "SELECT d.trace_key, d.trace_digest::varchar, d.llm_fingerprint, c.error FROM trace_digests d "
            "JOIN llm_calls c ON c.request_hash = d.llm_request_hash AND c.final WHERE d.llm_status = 'kept_previous'",
        )
        assert {k for k, *_ in kept} == refused
        assert all(digest == old[key] for key, digest, *_ in kept)  # the good value survived
        assert {(fp,) for _, _, fp, _ in kept} == set(old_fp)  # its old fingerprint: retried next run
        assert {error for *_, error in kept} == {"HTTP 400: rejected by the moderation filter"}

        again = cli(project, "run", *VARS, "-s", "trace_digests")  # only the kept rows: all fail
        assert (
            again.exit_code == 1
            and f"every LLM value failed ({len(refused)} of {len(refused)}" in again.output
        )
        assert rows(project, "SELECT count(*) FROM trace_digests WHERE llm_status = 'kept_previous'") == [
            (len(refused),)
        ]

        server.default = generous
        sent = len(server.requests)
        fixed = cli(project, "run", *VARS, "-s", "trace_digests")
        assert fixed.exit_code == 0, fixed.output
        assert len(server.requests) - sent == len(refused)  # only the kept rows were asked again
    assert rows(project, "SELECT DISTINCT llm_status FROM trace_digests") == [("ok",)]


def test_a_trace_without_messages_costs_no_call(project, monkeypatch):  # noqa: F811
    summary_only = project / "examples" / "traces" / "claude_code" / "summary-only.jsonl"
    summary_only.write_text('{"type": "summary", "summary": "Fixing the parser", "leafUuid": "u-1"}\n')
    with FakeLLMServer(default=generous) as server:
        _serve(monkeypatch, server.url)
        result = cli(project, "run", *VARS)
        assert result.exit_code == 0, result.output
        assert not any("summary-only" in r.prompt or "Fixing the parser" in r.prompt for r in server.requests)
    (key,) = rows(project, "SELECT trace_key FROM traces WHERE message_count = 0")[0]
    for model in ("trace_digests", "sft_records", "sft_judgements", "turn_summaries"):
        assert rows(
            project,
            f"SELECT llm_status, skip_reason, llm_request_hash FROM {model} WHERE trace_key = '{key}'",
        ) == [("skipped", "no messages", None)], model
    assert "1 skipped (see skip_reason)" in result.output


def _first_prompt(request) -> str:
    users = [m for m in request.messages if m.get("role") == "user"]
    return str(users[0].get("content")) if users else ""


def test_every_null_joins_to_its_reason(project, monkeypatch):  # noqa: F811
    """Some SFT pairs never get a valid answer (the re-asks included): their rows are NULL,
    the run exits 1 (max_error_rate 0), and each NULL joins to one final call-log row that
    says why."""

    def sometimes_invalid(request):
        prompt = _first_prompt(request)
        pair = "standalone instruction" in (request.system or "")
        if pair and hashlib.md5(prompt.encode()).digest()[0] % 3 == 0:
            return Reply.text("not JSON at all")
        return generous(request)

    with FakeLLMServer(default=sometimes_invalid) as server:
        _serve(monkeypatch, server.url)
        result = cli(project, "run", *VARS, "-s", "+sft_records")
    assert result.exit_code == 1 and "failed LLM values over max_error_rate" in result.output
    nulls = rows(
        project,
        "SELECT s.llm_status, c.error FROM sft_records s JOIN llm_calls c "
        "ON c.request_hash = s.llm_request_hash AND c.final WHERE s.sft_record IS NULL",
    )
    (failed,) = rows(project, "SELECT count(*) FROM sft_records WHERE sft_record IS NULL")[0]
    assert 0 < failed < 15 and len(nulls) == failed
    assert all(
        status == "failed" and error.startswith("no valid structured answer after 3 tries")
        for status, error in nulls
    )
    assert (
        rows(project, "SELECT request_hash FROM llm_calls GROUP BY 1 HAVING count(*) FILTER (final) <> 1")
        == []
    )


def test_a_missing_key_is_a_skip_unless_required_and_an_unknown_alias_an_error(project, monkeypatch):  # noqa: F811
    monkeypatch.delenv("NVIDIA_API_KEY", raising=False)
    required = cli(project, "run", "--require-llm")
    assert required.exit_code == 1
    assert "NVIDIA_API_KEY" in required.output and "(an error, not a skip: --require-llm)" in required.output
    typo = cli(project, "run", "--vars", "{llm_model: locl}")
    assert typo.exit_code == 1 and "Running" not in typo.output  # a compile error: nothing ran
    assert (
        "models/reviews/tool_interaction_labels.sql: unknown LLM model alias 'locl' "
        "(configured aliases: distill, local)" in typo.output
    )
    assert (
        "(and 4 more failing to compile: trace_digests, sft_records, sft_judgements, turn_summaries)"
        in typo.output
    )
