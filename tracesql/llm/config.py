"""Configuration of LLM providers and model aliases (the `providers`, `models` and `llm`
sections of profiles.yml). Unknown keys are errors (extra="forbid").

A provider is an OpenAI-compatible base URL plus the *name* of the environment variable
that holds its key: the key itself is never part of the configuration, so it cannot end
up in an artifact, a log or an error. A model alias names a provider, the model there and
its inference parameters.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tracesql.errors import ConfigError, LLMNotConfigured
from tracesql.llm.options import RunOptions as RunOptions  # re-exported; options.py has no pydantic


class Strict(BaseModel):
    """The base of every configuration schema tracesql validates (profiles.yml, pyproject's
    [tool.tracesql], model config, properties YAML): an unknown key is an error, and a field
    with an alias (`schema_` for `schema`) may also be given by its own name."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ProviderConfig(Strict):
    base_url: str
    api_key_env: str | None = None  # name of the environment variable holding the key
    extra_headers: dict[str, str] = Field(default_factory=dict)


class ModelConfig(Strict):
    provider: str
    model: str
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    timeout: float = 120.0  # seconds per HTTP attempt
    max_parallel_requests: int = Field(default=8, ge=1)
    requests_per_minute: float | None = Field(default=None, gt=0)  # spaced evenly (free API tiers)
    tokens_per_minute: int | None = Field(default=None, gt=0)
    extra_body: dict[str, Any] = Field(default_factory=dict)
    input_price_per_mtok: float | None = None  # USD per million input tokens, for cost estimates
    output_price_per_mtok: float | None = None
    # How structured output is requested: "auto" tries response_format json_schema, then
    # json_object, then instructions in the prompt, remembering what the server accepted.
    structured_output: Literal["auto", "json_schema", "json_object", "prompt"] = "auto"


class LLMSettings(Strict):
    cache_path: str | None = None  # default: <target dir>/llm_cache.sqlite
    cache: Literal["use", "refresh", "off"] = "use"
    max_retries: int = Field(default=6, ge=0)  # HTTP retries after the first attempt
    backoff_initial: float = Field(default=1.0, ge=0)  # seconds before the first retry
    backoff_max: float = Field(default=60.0, ge=0)
    structured_retries: int = Field(default=2, ge=0)  # re-asks after an invalid JSON answer
    # failed LLM values a model may have before the run exits 1: 0 (any), a share (0.05),
    # or "fail" (the model stops at the first one and writes nothing)
    max_error_rate: Annotated[float, Field(ge=0, le=1)] | Literal["fail"] = 0.0
    on_error: str | None = None  # replaced by max_error_rate: an error saying so
    max_calls: int | None = None  # budget per run
    max_tokens_total: int | None = None
    deadline: float | None = Field(default=None, gt=0)  # seconds: no request starts after it
    default_model: str | None = None

    @field_validator("on_error")
    @classmethod
    def _on_error_replaced(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError(
                "replaced by llm.max_error_rate: 0 (the default) makes any failed LLM value exit 1, "
                "0.05 allows 5 % per model, 'fail' stops a model at its first failure"
            )
        return value


BUILTIN_PROVIDERS = {
    "nvidia": ProviderConfig(base_url="https://integrate.api.nvidia.com/v1", api_key_env="NVIDIA_API_KEY"),
    "openai": ProviderConfig(base_url="https://api.openai.com/v1", api_key_env="OPENAI_API_KEY"),
}

# Used when a connection is opened without a project (bare `tracesql.connect()`).
ENV_BASE_URL = "TRACESQL_LLM_BASE_URL"
ENV_API_KEY_ENV = "TRACESQL_LLM_API_KEY_ENV"
ENV_MODEL = "TRACESQL_LLM_MODEL"


@dataclass
class LLMConfig:
    """Providers, model aliases and settings: what `llm_config` carries (the engine builds
    an equivalent object from profiles.yml)."""

    providers: dict[str, ProviderConfig] = field(default_factory=lambda: dict(BUILTIN_PROVIDERS))
    models: dict[str, ModelConfig] = field(default_factory=dict)
    settings: LLMSettings = field(default_factory=LLMSettings)


def config_from_env(environ: dict[str, str] | None = None) -> LLMConfig:
    """The configuration of a connection opened without profiles.yml.

    The built-in providers, plus, when TRACESQL_LLM_BASE_URL and TRACESQL_LLM_MODEL are
    set, a provider `env` and a model alias `default` pointing at them (the key is read
    from the variable named by TRACESQL_LLM_API_KEY_ENV, if any).
    """
    env = os.environ if environ is None else environ
    config = LLMConfig()
    base_url, model = env.get(ENV_BASE_URL), env.get(ENV_MODEL)
    if base_url and model:
        config.providers["env"] = ProviderConfig(
            base_url=base_url, api_key_env=env.get(ENV_API_KEY_ENV) or None
        )
        config.models["default"] = ModelConfig(provider="env", model=model)
        config.settings = LLMSettings(default_model="default")
    return config


def api_key(provider_name: str, provider: ProviderConfig) -> str | None:
    """The provider's API key from its environment variable, surrounding whitespace
    stripped; None when it has no variable or the variable is unset or blank. A key with
    a control, space or non-ASCII character inside is a ConfigError (it could not be sent
    in a header, and is surely a paste gone wrong); the error never shows the key."""
    env = provider.api_key_env
    if not env:
        return None
    key = os.environ.get(env, "").strip()
    if not key:
        return None
    for position, char in enumerate(key, 1):
        if not 33 <= ord(char) <= 126:
            kind = "non-ASCII" if ord(char) > 126 else "space" if char == " " else "control"
            raise ConfigError(
                f"the API key in the environment variable {env} (provider '{provider_name}') has a "
                f"{kind} character at position {position} of {len(key)}; set it again (the key is not shown)"
            )
    return key


def resolve_model(config: Any, alias: str | None) -> tuple[str, ModelConfig]:
    """The alias and ModelConfig a call names.

    `alias` is a model alias from profiles.yml, or `provider:model-name` for a model that has
    no alias (e.g. `openai:gpt-4o-mini`), or None for the default model.
    """
    models: dict[str, ModelConfig] = config.models
    if alias is None:
        alias = config.settings.default_model
        if alias is None:
            if len(models) == 1:
                alias = next(iter(models))
            elif not models:
                raise_not_configured(
                    "no LLM model is configured: add a model alias under `models:` in profiles.yml "
                    "(or set TRACESQL_LLM_BASE_URL and TRACESQL_LLM_MODEL)"
                )
            else:
                raise ConfigError(
                    f"this LLM call names no model and there are several ({', '.join(sorted(models))}): "
                    "pass model := '<alias>' or set llm.default_model in profiles.yml"
                )
    if alias is None:  # unreachable: raise_not_configured raised
        raise AssertionError("no model alias")
    if alias in models:
        return alias, models[alias]
    problem = unknown_alias(config, alias)
    if problem is not None:
        raise_not_configured(problem)
    provider, _, name = alias.partition(":")
    return alias, ModelConfig(provider=provider, model=name)


def unknown_alias(config: Any, alias: str) -> str | None:
    """Why `alias` names no model (None when it does: a configured alias, or
    provider:model with a known provider)."""
    if alias in config.models:
        return None
    provider, sep, name = alias.partition(":")
    if sep and name and provider in config.providers:
        return None
    known = ", ".join(sorted(config.models)) or "none"
    return (
        f"unknown LLM model alias '{alias}' (configured aliases: {known}); add it under `models:` in "
        "profiles.yml, or write provider:model such as 'openai:gpt-4o-mini'"
    )


def raise_not_configured(message: str) -> None:
    raise LLMNotConfigured(message)
