"""profiles.yml and [tool.tracesql]: defaults, targets, vars, LLM sections, strict keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write_files
from tracesql.errors import ConfigError
from tracesql.project.settings import load_profile, parse_cli_vars


def test_defaults_without_any_file(tmp_path: Path):
    profile = load_profile(tmp_path)
    assert profile.target_name == "dev"
    assert profile.database == str(tmp_path / "tracesql.duckdb")
    assert profile.profiles_path is None
    assert profile.settings.model_paths == ["models"]
    assert profile.target_dir == tmp_path / "target"
    assert set(profile.llm.providers) == {"nvidia", "openai"}
    assert profile.vars == {}


def test_targets_vars_precedence_and_relative_database(tmp_path: Path):
    write_files(
        tmp_path,
        {
            "profiles.yml": """
        target: dev
        targets:
          dev: {database: dev.duckdb}
          ci: {database: out/ci.duckdb, vars: {limit: 5, fmt: ci}}
          mem: {database: ":memory:"}
        vars: {limit: 1, fmt: base, path: x}
    """
        },
    )
    dev = load_profile(tmp_path)
    assert dev.database == str(tmp_path / "dev.duckdb")
    assert dev.vars == {"limit": 1, "fmt": "base", "path": "x"}
    ci = load_profile(tmp_path, target="ci", cli_vars={"fmt": "cli"})
    assert ci.database == str(tmp_path / "out/ci.duckdb")
    assert ci.vars == {"limit": 5, "fmt": "cli", "path": "x"}
    assert load_profile(tmp_path, target="mem").database == ":memory:"
    assert load_profile(tmp_path).target_names == ["ci", "dev", "mem"]


def test_unknown_key_names_file_key_path_and_line(tmp_path: Path):
    write_files(
        tmp_path,
        {
            "profiles.yml": """
        targets:
          dev:
            database: a.duckdb
        providers:
          local:
            base_url: http://127.0.0.1:9/v1
            api_key: oops
    """
        },
    )
    with pytest.raises(ConfigError) as info:
        load_profile(tmp_path)
    assert str(info.value) == f"{tmp_path / 'profiles.yml'}:7: unknown key 'providers.local.api_key'"


def test_wrong_type_and_missing_key(tmp_path: Path):
    write_files(tmp_path, {"profiles.yml": "models:\n  default: {provider: nvidia}\n"})
    with pytest.raises(ConfigError, match=r"profiles.yml:2: missing required key 'models.default.model'"):
        load_profile(tmp_path)
    write_files(tmp_path, {"profiles.yml": "llm: {max_error_rate: explode}\n"})
    with pytest.raises(ConfigError, match=r"profiles.yml:1: llm.max_error_rate"):
        load_profile(tmp_path)
    write_files(tmp_path, {"profiles.yml": "llm: {on_error: 'null'}\n"})  # an older setting
    with pytest.raises(ConfigError, match=r"profiles.yml:1: llm.on_error: .*replaced by llm.max_error_rate"):
        load_profile(tmp_path)
    write_files(tmp_path, {"profiles.yml": "- just\n- a list\n"})
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_profile(tmp_path)
    write_files(tmp_path, {"profiles.yml": "targets: {dev: [unclosed\n"})
    with pytest.raises(ConfigError, match=r"profiles.yml:1: invalid YAML: expected ',' or ']'"):
        load_profile(tmp_path)


def test_llm_sections_merge_target_over_project(tmp_path: Path):
    write_files(
        tmp_path,
        {
            "profiles.yml": """
        targets:
          dev: {}
          ci:
            providers:
              local: {base_url: "http://127.0.0.1:1/v1"}
            models:
              default: {provider: local, model: tiny}
            llm: {max_retries: 0}
        providers:
          local: {base_url: "http://127.0.0.1:8000/v1", api_key_env: LOCAL_KEY}
        models:
          default: {provider: local, model: big, max_parallel_requests: 16}
          judge: {provider: nvidia, model: some/judge}
        llm: {max_error_rate: fail, max_retries: 3, default_model: judge}
    """
        },
    )
    dev = load_profile(tmp_path)
    assert set(dev.llm.providers) == {"nvidia", "openai", "local"}
    assert dev.llm.models["default"].model == "big"
    assert dev.llm.settings.max_error_rate == "fail" and dev.llm.settings.max_retries == 3
    ci = load_profile(tmp_path, target="ci")
    assert ci.llm.providers["local"].base_url == "http://127.0.0.1:1/v1"
    assert ci.llm.models["default"].model == "tiny" and ci.llm.models["judge"].model == "some/judge"
    # target llm settings override key by key; the rest comes from the project level
    assert ci.llm.settings.max_retries == 0 and ci.llm.settings.max_error_rate == "fail"
    assert ci.llm.settings.default_model == "judge"


def test_model_alias_with_unknown_provider(tmp_path: Path):
    write_files(tmp_path, {"profiles.yml": "models:\n  default: {provider: nope, model: m}\n"})
    with pytest.raises(
        ConfigError, match=r"models.default.provider: unknown provider 'nope' \(known: nvidia, openai\)"
    ):
        load_profile(tmp_path)


def test_env_var_in_profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write_files(
        tmp_path,
        {"profiles.yml": "targets:\n  dev: {database: \"{{ env_var('TQ_DB', 'fallback.duckdb') }}\"}\n"},
    )
    assert load_profile(tmp_path).database == str(tmp_path / "fallback.duckdb")
    monkeypatch.setenv("TQ_DB", "/abs/from_env.duckdb")
    assert load_profile(tmp_path).database == "/abs/from_env.duckdb"
    write_files(tmp_path, {"profiles.yml": "vars: {x: \"{{ env_var('TQ_UNSET_VAR') }}\"}\n"})
    with pytest.raises(ConfigError, match="TQ_UNSET_VAR is not set"):
        load_profile(tmp_path)


def test_pyproject_settings(tmp_path: Path):
    write_files(
        tmp_path,
        {
            "pyproject.toml": """
        [tool.tracesql]
        name = "demo"
        model-paths = ["sql"]
        target-path = "build"

        [tool.tracesql.folders.staging]
        materialized = "table"
        tags = ["stg"]
    """
        },
    )
    profile = load_profile(tmp_path)
    assert profile.name == "demo"
    assert profile.settings.model_paths == ["sql"]
    assert profile.target_dir == tmp_path / "build"
    assert profile.settings.folders["staging"].materialized == "table"
    write_files(tmp_path, {"pyproject.toml": "[tool.tracesql]\nmodel_dirs = ['x']\n"})
    with pytest.raises(ConfigError) as info:
        load_profile(tmp_path)
    assert str(info.value) == f"{tmp_path / 'pyproject.toml'}: unknown key 'tool.tracesql.model_dirs'"


def test_cli_vars():
    assert parse_cli_vars("{a: 1, b: [x, y]}") == {"a": 1, "b": ["x", "y"]}
    assert parse_cli_vars("limit: 3") == {"limit": 3}
    assert parse_cli_vars(None) == {}
    with pytest.raises(ConfigError, match="--vars must be a YAML mapping"):
        parse_cli_vars("just_a_string")
    with pytest.raises(ConfigError, match="--vars is not valid YAML"):
        parse_cli_vars("{a: [1")


def test_every_problem_is_shown_with_its_line(tmp_path: Path):
    write_files(
        tmp_path,
        {
            "profiles.yml": """
        targets:
          dev:
            databse: a.duckdb
        models:
          local: {provider: nvidia, model: m, temprature: 0.1}
        llm: {max_retries: many}
    """
        },
    )
    with pytest.raises(ConfigError) as info:
        load_profile(tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'profiles.yml'}:3: unknown key 'targets.dev.databse' (and 2 more: "
        "line 5: unknown key 'models.local.temprature'; "
        "line 6: llm.max_retries: Input should be a valid integer, unable to parse string as an integer)"
    )
