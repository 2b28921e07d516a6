"""`tracesql debug` checks each model alias against its provider (the scripted server with
a required key and a model list): reachable, authenticated, model known."""

from __future__ import annotations

import re

import pytest

from tests.conftest import invoke, write_files
from tests.llm.fake_server import FakeLLMServer

KEY = "right-key-not-a-secret"


@pytest.fixture
def checked(tmp_path, monkeypatch):
    with FakeLLMServer(require_key=KEY, known_models=["listed-model"]) as server:
        root = write_files(
            tmp_path / "p",
            {
                "profiles.yml": f"""
                    providers:
                      good: {{base_url: "{server.url}", api_key_env: TEST_GOOD_KEY}}
                      wrong: {{base_url: "{server.url}", api_key_env: TEST_WRONG_KEY}}
                      unset: {{base_url: "{server.url}", api_key_env: TEST_UNSET_KEY}}
                      down: {{base_url: "http://127.0.0.1:9/v1"}}
                    models:
                      a_ok: {{provider: good, model: listed-model}}
                      b_unlisted: {{provider: good, model: ghost-model}}
                      c_wrong_key: {{provider: wrong, model: listed-model}}
                      d_no_key: {{provider: unset, model: listed-model}}
                      e_down: {{provider: down, model: m}}
                """,
                "models/m.sql": "select 1 as x",
            },
        )
        monkeypatch.setenv("TEST_GOOD_KEY", KEY)
        monkeypatch.setenv("TEST_WRONG_KEY", "wrong-key-not-a-secret")
        monkeypatch.delenv("TEST_UNSET_KEY", raising=False)
        monkeypatch.delenv("NVIDIA_API_KEY", raising=False)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        yield root, server


def verdicts(output: str) -> dict[str, tuple[str, str, str]]:
    found = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 6 and re.fullmatch(r"[a-e]_\w+", cells[0]):
            found[cells[0]] = (cells[2], cells[3], cells[4])
    return found


def test_listing_checks_without_spending(checked):
    root, server = checked
    result = invoke(root, "debug")
    assert result.exit_code == 1  # a key is refused and a provider is down
    assert verdicts(result.stdout) == {
        "a_ok": ("yes", "not verified", "yes"),
        "b_unlisted": ("yes", "not verified", "not verified"),
        "c_wrong_key": ("yes", "no", "not verified"),
        "d_no_key": ("not verified", "not verified", "not verified"),
        "e_down": ("no", "not verified", "not verified"),
    }
    assert "TEST_UNSET_KEY is not set: nothing was sent" in result.stdout
    assert (
        server.listings == 2 and server.requests == []
    )  # one listing per provider with a key, no completion
    assert KEY not in result.output and "wrong-key-not-a-secret" not in result.output


def test_probe_settles_key_and_model(checked):
    root, server = checked
    result = invoke(root, "debug", "--probe")
    assert verdicts(result.stdout) == {
        "a_ok": ("yes", "yes", "yes"),
        "b_unlisted": ("yes", "yes", "no"),
        "c_wrong_key": ("yes", "no", "not verified"),
        "d_no_key": ("not verified", "not verified", "not verified"),
        "e_down": ("no", "not verified", "not verified"),
    }
    probed = sorted(r.body["model"] for r in server.requests)
    assert probed == ["ghost-model", "listed-model", "listed-model"]  # never for the alias without a key
    assert all(r.body["max_tokens"] == 1 for r in server.requests)
    assert "cannot be used as configured" in result.stderr
