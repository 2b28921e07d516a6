"""What cannot succeed is stopped, and what is broken costs one call: 401/403/404 stop
the model alias at once; a body trickled byte by byte is cut at the attempt's timeout; a
run deadline stops new requests; a malformed 200 costs that value only; a key with
stray whitespace is stripped, one with a control or non-ASCII character is a clear
configuration error that never shows it."""

from __future__ import annotations

import duckdb
import pytest

from tests.llm.conftest import FAST, Session
from tests.llm.fake_server import Reply
from tracesql.errors import ConfigError
from tracesql.llm.config import LLMConfig, LLMSettings, ModelConfig, ProviderConfig


@pytest.mark.parametrize("status", [401, 403, 404])
def test_an_answer_nothing_can_follow_stops_the_alias(server, session, status):
    server.default = lambda request: Reply.error(
        status, "The model `model-m` does not exist or the key is wrong"
    )
    server.latency = 0.05
    s = session(models={"m": {"max_parallel_requests": 4}}, max_retries=6)
    rows = s.rows("SELECT llm('row ' || i) FROM range(200) t(i)")
    assert all(value is None for (value,) in rows) and len(rows) == 200
    assert len(server.requests) <= 2 * 4  # the first answers stop it: no other request is sent
    stats = s.runtime.summary()[0]
    assert stats["errors"] == 200
    first = stats["first_error"]
    assert f"model 'm' (provider 'fake', model 'model-m') answered HTTP {status}" in first
    assert "does not exist or the key is wrong" in first and "no more requests to it" in first
    finals = s.rows("SELECT count(*), count(DISTINCT request_hash) FROM llm_call_log() WHERE final")
    assert finals == [(200, 200)]  # every NULL has its reason


def test_a_trickled_body_is_cut_at_the_attempts_timeout(server, session):
    """The client's own timeout bounds each read, and each byte arrives in time: only a
    deadline over the whole attempt stops it (server-side evidence: the body was not sent)."""
    server.enqueue(Reply.trickled(0.05))  # ~300 bytes: 15 s at this pace
    s = session(models={"m": {"timeout": 0.5}}, max_retries=0)
    assert s.rows("SELECT llm('slow')") == [(None,)]
    (request,) = server.requests
    assert 0 < request.body_bytes < request.body_size
    assert s.value("SELECT error FROM llm_call_log() WHERE final").startswith("timed out after 0.5 s")


def test_a_malformed_200_costs_that_value_only(server, session):
    answers = {
        "odd usage": Reply.body(
            {
                "choices": [{"message": {"role": "assistant", "content": "kept"}, "finish_reason": 7}],
                "usage": {"prompt_tokens": -3, "completion_tokens": "lots"},
            }
        ),
        "no choices": Reply.body({"choices": "none", "usage": {"completion_tokens": 1}}),
        "bad content": Reply.body({"choices": [{"message": {"content": {"a": 1}}}]}),
        "no message": Reply.body({"choices": [{"text": "legacy"}]}),
    }
    for prompt, reply in answers.items():
        server.when(prompt, reply)
    s = session(max_retries=1, max_tokens=1000)
    rows = dict(
        s.rows(
            "SELECT p, llm(p) FROM (VALUES ('odd usage'), ('no choices'), ('bad content'), ('no message'), ('fine')) t(p)"
        )
    )
    assert rows == {
        "odd usage": "kept",
        "no choices": None,
        "bad content": None,
        "no message": None,
        "fine": "echo: fine",
    }
    errors = dict(s.rows("SELECT request_hash, error FROM llm_call_log() WHERE final"))
    assert sorted(e for e in errors.values() if e) == [
        "unreadable response: no choices in the response (after 2 attempts)",
        "unreadable response: the choice has no message (after 2 attempts)",
        "unreadable response: the message content is not text (dict) (after 2 attempts)",
    ]
    odd = s.rows(
        "SELECT input_tokens, output_tokens, finish_reason FROM llm_call_log() WHERE status_code = 200 AND error IS NULL AND output_tokens IS NULL"
    )
    assert odd == [(None, None, None)]  # counts and reason that were not what they should be


def _keyed(server, tmp_path, monkeypatch, key: str) -> Session:
    monkeypatch.setenv("TRACESQL_TEST_KEY", key)
    config = LLMConfig(
        providers={"fake": ProviderConfig(base_url=server.url, api_key_env="TRACESQL_TEST_KEY")},
        models={"m": ModelConfig(provider="fake", model="fake")},
        settings=LLMSettings(cache_path=str(tmp_path / "cache.sqlite"), **FAST),
    )
    return Session(config)


def test_a_key_is_stripped_of_surrounding_whitespace(server, tmp_path, monkeypatch):
    s = _keyed(server, tmp_path, monkeypatch, "  sk-pasted-with-a-newline\n")
    assert s.rows("SELECT llm('q')") == [("echo: q",)]
    assert server.requests[0].headers["authorization"] == "Bearer sk-pasted-with-a-newline"
    s.close()


@pytest.mark.parametrize(
    ("key", "kind"), [("sk-caf\u00e9-secret", "non-ASCII"), ("sk-a\x07b-secret", "control")]
)
def test_a_key_with_a_bad_character_is_a_configuration_error(server, tmp_path, monkeypatch, key, kind):
    s = _keyed(server, tmp_path, monkeypatch, key)
    with pytest.raises(duckdb.Error):
        s.rows("SELECT llm('q')")
    error = s.con.session.pop_error()
    assert isinstance(error, ConfigError)
    assert "TRACESQL_TEST_KEY" in str(error) and f"{kind} character" in str(error)
    assert "secret" not in str(error)
    assert server.requests == []
    s.close()


def test_a_run_deadline_stops_new_requests(server, session):
    server.latency = 0.2
    s = session(models={"m": {"max_parallel_requests": 1}}, deadline=1.5)
    rows = s.rows("SELECT llm('row ' || i) FROM range(40) t(i)")
    answered = sum(value is not None for (value,) in rows)
    # the request in flight at the deadline is cut there; none starts after it
    assert 0 < answered <= len(server.requests) <= answered + 1 < 40
    stats = s.runtime.summary()[0]
    assert stats["budget_skipped"] == 40 - answered and stats["errors"] == 0
    reasons = s.rows("SELECT DISTINCT error FROM llm_call_log() WHERE final AND attempt IS NULL")
    assert reasons == [("budget reached: the run's deadline of 1.5 s",)]
