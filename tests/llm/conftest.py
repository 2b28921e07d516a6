"""Fixtures for LLM tests: a scripted OpenAI-compatible server on 127.0.0.1 and
connections configured to reach it through the real `openai` client."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import tracesql
from tests.llm.fake_server import FakeLLMServer
from tracesql.llm.config import LLMConfig, LLMSettings, ModelConfig, ProviderConfig, RunOptions

FAST = {"backoff_initial": 0.01, "backoff_max": 0.5}


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


def make_config(
    server: FakeLLMServer, cache: Path | str, *, models: dict | None = None, **settings
) -> LLMConfig:
    """One provider `fake` at the server, model alias `m` (or `models`: alias -> ModelConfig kwargs)."""
    models = models or {"m": {}}
    return LLMConfig(
        providers={"fake": ProviderConfig(base_url=server.url)},
        models={
            alias: ModelConfig(provider="fake", model=f"model-{alias}", **kw) for alias, kw in models.items()
        },
        settings=LLMSettings(cache_path=str(cache), **{**FAST, **settings}),
    )


class Session:
    """A tracesql connection with an LLM config; `.runtime` is its LLM runtime."""

    def __init__(
        self,
        config: LLMConfig,
        database: str = ":memory:",
        *,
        read_only: bool = False,
        redact: bool = True,
        **run_options,
    ) -> None:
        self.con = tracesql.connect(
            database,
            read_only=read_only,
            llm_config=config,
            run_options=RunOptions(**run_options),
            redact=redact,
        )
        self.runtime = self.con.session.llm

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()

    def value(self, sql: str):
        return self.con.execute(sql).fetchone()[0]

    def close(self) -> None:
        self.con.close()


@pytest.fixture
def session(server, tmp_path):
    """session(**settings_or_run_options) -> Session; all are closed at the end."""
    opened: list[Session] = []
    run_keys = {
        "dry_run",
        "refresh_cache",
        "no_cache",
        "max_calls",
        "max_tokens",
        "deadline",
        "progress",
        "redact",
    }

    def open_session(
        *,
        models: dict | None = None,
        database: str = ":memory:",
        cache: Path | str | None = None,
        read_only: bool = False,
        **kw,
    ) -> Session:
        run = {k: v for k, v in kw.items() if k in run_keys}
        settings = {k: v for k, v in kw.items() if k not in run_keys}
        config = make_config(server, cache or tmp_path / "llm_cache.sqlite", models=models, **settings)
        s = Session(config, database, read_only=read_only, **run)
        opened.append(s)
        return s

    yield open_session
    for s in opened:
        with contextlib.suppress(Exception):
            s.close()
