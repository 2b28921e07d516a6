"""API keys are sent to the server and written nowhere: not in the cache, the call log,
the database, nor in error messages."""

from __future__ import annotations

import json

import duckdb
import pytest

from tests.llm.conftest import FAST, Session
from tests.llm.fake_server import Reply
from tracesql.llm.config import LLMConfig, LLMSettings, ModelConfig, ProviderConfig

KEY = "sk-test-7f3a9c1e5b2d4f6a8c0e"


def test_api_key_never_reaches_a_file(server, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_PROVIDER_KEY", KEY)
    config = LLMConfig(
        providers={"fake": ProviderConfig(base_url=server.url, api_key_env="FAKE_PROVIDER_KEY")},
        models={"m": ModelConfig(provider="fake", model="fake")},
        settings=LLMSettings(cache_path=str(tmp_path / "cache.sqlite"), max_retries=1, **FAST),
    )
    server.enqueue(
        Reply.error(400, f"Incorrect API key provided: {KEY}"),
        Reply.error(500, f"internal error for key {KEY}"),
        Reply.text("fine"),
    )
    s = Session(config, str(tmp_path / "db.duckdb"))
    assert s.rows("SELECT llm('a'), llm('b')") == [(None, "fine")]
    s.runtime.flush_call_log(s.con)
    errors = [r.error for r in s.runtime.call_log()]
    assert any("***" in (e or "") for e in errors)
    s.close()
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"  # the key was used
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"cache.sqlite", "db.duckdb"}
    for path in written:
        assert KEY.encode() not in path.read_bytes(), path


def test_api_key_is_not_in_raised_errors(server, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_PROVIDER_KEY", KEY)
    config = LLMConfig(
        providers={"fake": ProviderConfig(base_url=server.url, api_key_env="FAKE_PROVIDER_KEY")},
        models={"m": ModelConfig(provider="fake", model="fake")},
        settings=LLMSettings(cache_path=str(tmp_path / "c.sqlite"), max_error_rate="fail", **FAST),
    )
    server.enqueue(Reply.error(401, f"bad key {KEY}"))
    s = Session(config)
    with pytest.raises(duckdb.Error) as caught:
        s.rows("SELECT llm('a')")
    assert KEY not in str(caught.value)
    assert KEY not in str(s.runtime.pop_error())
    s.close()


PLANTED = {
    "github": "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5",
    "nvidia": "nvapi-" + "Qw3rTy6UiOp9AsDfGh2JkLzXcVbNm4QwErTyUiOpAsDfGhJkLzXcVbNm1234abcd",
    "password": "Tr0ub4dor&3xq",
}


def test_llm_request_bodies_carry_no_credential_from_prompt_system_or_vars(server, session):
    s = session()
    prompt = f"Deploy with GITHUB_TOKEN={PLANTED['github']} and {{{{ note }}}}"
    system = f"You hold key {PLANTED['nvidia']}."
    answer = s.value(
        f"SELECT llm('{prompt}', model := 'm', system := '{system}', "
        f"vars := {{'note': 'DB_PASSWORD={PLANTED['password']}'}})"
    )
    assert answer.startswith("echo: ")
    (request,) = server.requests
    body = json.dumps(request.body)
    assert not [name for name, value in PLANTED.items() if value in body]
    assert request.system == "You hold key [REDACTED:nvidia_api_key]."
    assert (
        request.prompt
        == "Deploy with GITHUB_TOKEN=[REDACTED:github_token] and DB_PASSWORD=[REDACTED:password]"
    )


def test_redaction_off_sends_the_prompt_as_it_is(server, session):
    s = session(redact=False)
    s.value(f"SELECT llm('key {PLANTED['github']}', model := 'm')")
    assert PLANTED["github"] in server.requests[0].prompt
