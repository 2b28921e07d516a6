"""Model resolution, the not-configured check (before any HTTP call), bare connections."""

from __future__ import annotations

import duckdb
import pytest

import tracesql
from tests.llm.conftest import Session, make_config
from tracesql.errors import ConfigError, LLMNotConfigured
from tracesql.llm.config import LLMConfig, ModelConfig, ProviderConfig, config_from_env, resolve_model


def keyed_config(server, tmp_path, env_name="TRACESQL_TEST_MISSING_KEY"):
    config = make_config(server, tmp_path / "c.sqlite")
    config.providers["fake"] = ProviderConfig(base_url=server.url, api_key_env=env_name)
    return config


def test_missing_api_key_is_reported_before_any_request(server, tmp_path, monkeypatch):
    monkeypatch.delenv("TRACESQL_TEST_MISSING_KEY", raising=False)
    s = Session(keyed_config(server, tmp_path))
    with pytest.raises(LLMNotConfigured, match="set the environment variable TRACESQL_TEST_MISSING_KEY"):
        s.runtime.check_configured(["m"])
    with pytest.raises(duckdb.Error, match="TRACESQL_TEST_MISSING_KEY"):
        s.rows("SELECT llm('q')")
    assert isinstance(s.runtime.pop_error(), LLMNotConfigured)
    assert server.requests == []
    s.close()


def test_dry_run_reports_the_missing_key_instead_of_failing(server, tmp_path, monkeypatch):
    monkeypatch.delenv("TRACESQL_TEST_MISSING_KEY", raising=False)
    s = Session(keyed_config(server, tmp_path), dry_run=True)
    assert s.runtime.check_configured([None]) == ["m"]
    s.rows("SELECT llm('q')")
    assert "TRACESQL_TEST_MISSING_KEY" in s.runtime.summary()[0]["not_configured"]
    s.close()


def test_no_models_configured(tmp_path):
    config = LLMConfig()
    with pytest.raises(LLMNotConfigured, match="`models:` in profiles.yml"):
        resolve_model(config, None)
    with pytest.raises(LLMNotConfigured, match="unknown LLM model alias 'nope'"):
        resolve_model(config, "nope")


def test_several_models_and_no_default_is_a_config_error(server, tmp_path):
    config = make_config(server, tmp_path / "c", models={"a": {}, "b": {}})
    with pytest.raises(ConfigError, match="pass model := '<alias>'"):
        resolve_model(config, None)
    assert resolve_model(config, "b")[0] == "b"


def test_provider_colon_model_needs_no_alias(server, session):
    s = session()
    s.rows("SELECT llm('q', model := 'fake:some/other-model')")
    assert server.requests[0].body["model"] == "some/other-model"


def test_bare_connection_uses_environment_defaults(server, tmp_path, monkeypatch):
    monkeypatch.setenv("TRACESQL_LLM_BASE_URL", server.url)
    monkeypatch.setenv("TRACESQL_LLM_MODEL", "env-model")
    monkeypatch.setenv("TRACESQL_LLM_CACHE", str(tmp_path / "env-cache.sqlite"))
    con = tracesql.connect(project=False)
    assert con.execute("SELECT llm('hello')").fetchone()[0] == "echo: hello"
    assert server.requests[0].body["model"] == "env-model"
    assert con.session.llm.cache_path == str(tmp_path / "env-cache.sqlite")
    con.close()
    assert (tmp_path / "env-cache.sqlite").exists()


def test_bare_connection_without_configuration(monkeypatch):
    for name in ("TRACESQL_LLM_BASE_URL", "TRACESQL_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    config = config_from_env({})
    assert set(config.providers) == {"nvidia", "openai"} and config.models == {}
    con = tracesql.connect(project=False)
    with pytest.raises(duckdb.Error, match="no LLM model is configured"):
        con.execute("SELECT llm('hello')").fetchone()
    con.close()


def test_unknown_keys_are_rejected():
    with pytest.raises(ValueError, match="Extra inputs"):
        ModelConfig(provider="p", model="m", temprature=0.1)
