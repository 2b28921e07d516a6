"""llm_judge: score definitions to a typed STRUCT of {score, reasoning}; the Jinja helper."""

from __future__ import annotations

import json

import pytest

from tests.llm.fake_server import Reply
from tracesql.errors import ConfigError
from tracesql.llm import jinja_globals
from tracesql.llm.judge import judge_schema, judge_system_prompt, scores_json

SCORES = [
    {
        "name": "groundedness",
        "description": "Is the response supported by the digest?",
        "options": {
            "0": "invented",
            "1": "mostly invented",
            "2": "mixed",
            "3": "mostly grounded",
            "4": "fully grounded",
        },
    },
    {
        "name": "standalone_task",
        "description": "Can the instruction be understood alone?",
        "options": {0: "no", 4: "yes"},
    },
]


def test_judge_returns_a_struct_per_score(server, session):
    s = session()
    server.enqueue(
        Reply.json(
            {
                "groundedness": {"reasoning": "cites the digest", "score": 3},
                "standalone_task": {"reasoning": "clear", "score": 4},
            }
        )
    )
    spec = scores_json(SCORES).replace("'", "''")
    result, kind = s.rows(f"SELECT j, typeof(j) FROM (SELECT llm_judge('Judge: x', '{spec}') AS j)")[0]
    assert result == {
        "groundedness": {"score": 3, "reasoning": "cites the digest"},
        "standalone_task": {"score": 4, "reasoning": "clear"},
    }
    assert kind == (
        "STRUCT(groundedness STRUCT(score INTEGER, reasoning VARCHAR), "
        "standalone_task STRUCT(score INTEGER, reasoning VARCHAR))"
    )
    request = server.requests[0]
    assert "fully grounded" in request.system and "standalone_task" in request.system
    assert request.prompt == "Judge: x"
    schema = request.schema
    assert schema["properties"]["groundedness"]["properties"]["score"]["enum"] == [0, 1, 2, 3, 4]
    assert schema["properties"]["standalone_task"]["properties"]["score"]["enum"] == [0, 4]


def test_a_score_outside_the_options_is_reasked(server, session):
    s = session()
    server.enqueue(
        Reply.json(
            {
                "groundedness": {"reasoning": "r", "score": 7},
                "standalone_task": {"reasoning": "r", "score": 4},
            }
        ),
        Reply.json(
            {
                "groundedness": {"reasoning": "r", "score": 2},
                "standalone_task": {"reasoning": "r", "score": 0},
            }
        ),
    )
    spec = scores_json(SCORES).replace("'", "''")
    assert s.value(f"SELECT llm_judge('x', '{spec}').groundedness.score") == 2
    assert "7 is not one of [0, 1, 2, 3, 4]" in server.requests[1].prompt


def test_jinja_helper_expands_to_the_sql_macro(server, session, tmp_path):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "judge.j2").write_text("Digest: {{ digest }}\nIt's {{ response }}")
    helpers = jinja_globals(tmp_path)
    sql = helpers["llm_judge"](
        scores=SCORES, prompt=helpers["prompt_file"]("judge"), model="m", vars="{'digest': d, 'response': r}"
    )
    assert "{{ digest }}" in sql  # compile time never renders the prompt
    s = session()
    s.rows(f"SELECT {sql} FROM (VALUES ('the digest', 'the answer')) t(d, r)")
    assert server.requests[0].prompt == "Digest: the digest\nIt's the answer"


def test_score_definitions_are_checked():
    with pytest.raises(ConfigError, match="unique"):
        scores_json([SCORES[0], SCORES[0]])
    with pytest.raises(ConfigError, match="options"):
        scores_json([{"name": "x", "description": "d", "options": {}}])
    with pytest.raises(ConfigError, match="non-empty list"):
        scores_json([])


def test_text_options_give_text_scores():
    spec = scores_json([{"name": "tone", "options": {"calm": "no shouting", "angry": "shouting"}}])
    assert judge_schema(spec).duckdb_type == "STRUCT(tone STRUCT(score VARCHAR, reasoning VARCHAR))"
    assert "- calm: no shouting" in judge_system_prompt(spec)


def test_options_given_as_a_list_mean_zero_to_n():
    spec = json.loads(scores_json([{"name": "q", "options": ["bad", "ok", "good"]}]))
    assert spec[0]["options"] == {"0": "bad", "1": "ok", "2": "good"}
