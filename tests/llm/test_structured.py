"""Structured output: schemas in both forms, validation, re-asks, typed STRUCT results."""

from __future__ import annotations

import json

import pytest

from tests.llm.fake_server import Reply
from tracesql.llm.structured import OutputSchema, parse_answer, parse_output_schema, validate

DIGEST = {
    "type": "object",
    "properties": {
        "user_goal": {"type": "string"},
        "notable_actions": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 6},
        "training_value": {"type": "string", "enum": ["high", "medium", "low"]},
        "message_count": {"type": "integer"},
    },
    "required": ["user_goal", "notable_actions", "training_value", "message_count"],
    "additionalProperties": False,
}
GOOD = {"user_goal": "fix", "notable_actions": ["ran tests"], "training_value": "high", "message_count": 4}


def sql_str(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return "'" + text.replace("'", "''") + "'"


def test_duckdb_type_gives_typed_struct(server, session):
    s = session()
    server.enqueue(Reply.json({"category": "bug", "tags": ["a", "b"], "score": 3, "ok": True}))
    row = s.rows(
        "SELECT r, r.tags[2], typeof(r) FROM (SELECT llm_struct('classify', "
        "'STRUCT(category VARCHAR, tags VARCHAR[], score INTEGER, ok BOOLEAN)') AS r)"
    )[0]
    assert row[0] == {"category": "bug", "tags": ["a", "b"], "score": 3, "ok": True}
    assert row[1] == "b"
    assert row[2] == "STRUCT(category VARCHAR, tags VARCHAR[], score INTEGER, ok BOOLEAN)"
    fmt = server.requests[0].body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["schema"]["required"] == ["category", "tags", "score", "ok"]


def test_extra_keys_are_dropped_for_a_struct_type_but_not_a_strict_json_schema(server, session):
    s = session()
    server.enqueue(Reply.json({"a": "x", "chatter": "extra"}))
    assert s.value("SELECT llm_struct('q', 'STRUCT(a VARCHAR)')") == {"a": "x"}
    assert len(server.requests) == 1  # not worth a re-ask
    assert server.requests[0].body["response_format"]["json_schema"]["strict"] is True
    server.enqueue(Reply.json({**GOOD, "chatter": 1}), Reply.json(GOOD))
    assert s.value(f"SELECT llm_struct('digest', {sql_str(DIGEST)})") == GOOD
    assert "unexpected property 'chatter'" in server.requests[2].prompt
    loose = {"type": "object", "properties": {"a": {"type": "string"}}}
    s.value(f"SELECT llm_struct('loose', {sql_str(loose)})")
    assert "strict" not in server.requests[-1].body["response_format"]["json_schema"]  # not strict-compatible


def test_json_schema_gives_struct_with_enum_as_text(server, session):
    s = session()
    server.enqueue(Reply.json(GOOD))
    row = s.value(f"SELECT llm_struct('digest', {sql_str(DIGEST)})")
    assert row == GOOD
    assert s.value(f"SELECT typeof(llm_struct('digest', {sql_str(DIGEST)}))").startswith(
        "STRUCT(user_goal VARCHAR"
    )


def test_invalid_then_valid_is_reasked_with_the_problem(server, session):
    s = session()
    server.enqueue(
        Reply.text("Sure! here it is: {not json"),
        Reply.json({**GOOD, "training_value": "huge"}),
        Reply.json(GOOD),
    )
    assert s.value(f"SELECT llm_struct('digest', {sql_str(DIGEST)})") == GOOD
    requests = server.requests
    assert len(requests) == 3
    assert "not valid JSON" in requests[1].prompt
    assert "'huge' is not one of" in requests[2].prompt
    # the re-ask continues the conversation
    assert [m["role"] for m in requests[2].messages] == ["user", "assistant", "user", "assistant", "user"]
    log = s.runtime.call_log()
    assert [r.error is None for r in log] == [False, False, True]


def test_always_invalid_gives_null_and_logs_the_error(server, session):
    s = session(structured_retries=2)
    server.when("digest", Reply.text("no json here"))
    rows = s.rows(f"SELECT i, llm_struct('digest ' || i, {sql_str(DIGEST)}) FROM range(2) t(i) ORDER BY i")
    assert rows == [(0, None), (1, None)]  # the rows stay
    assert len(server.requests) == 6  # 1 + 2 re-asks per row
    summary = {d["model_alias"]: d for d in s.runtime.summary()}["m"]
    assert summary["errors"] == 2
    assert summary["calls"] == 6
    assert all("not valid JSON" in r.error for r in s.runtime.call_log())


def test_llm_json_returns_validated_json(server, session):
    s = session()
    server.enqueue(Reply.text('```json\n{"a": 1}\n```'))
    assert json.loads(
        s.value("""SELECT llm_json('x', '{"type":"object","properties":{"a":{"type":"integer"}}}')""")
    ) == {"a": 1}


def test_server_without_json_schema_support_falls_back(server, session):
    s = session()
    server.enqueue(Reply.error(400, "response_format json_schema is not supported"), Reply.json({"a": "x"}))
    assert s.value("SELECT llm_struct('q', 'STRUCT(a VARCHAR)')") == {"a": "x"}
    second = server.requests[1]
    assert second.body["response_format"] == {"type": "json_object"}
    assert "JSON schema" in second.prompt  # the schema travels in the prompt instead
    s.value("SELECT llm_struct('q2', 'STRUCT(a VARCHAR)')")
    assert server.requests[2].body["response_format"] == {"type": "json_object"}  # remembered


def test_truncated_structured_answer_is_reported_not_reasked(server, session):
    s = session()
    server.enqueue(Reply.truncated('{"a": "cut'))
    assert s.value("SELECT llm_struct('q', 'STRUCT(a VARCHAR)')") is None
    assert len(server.requests) == 1
    record = s.runtime.call_log()[0]
    assert record.finish_reason == "length"
    assert "max_tokens" in record.error
    assert s.runtime.summary()[0]["truncated"] == 1


def test_schema_must_be_constant_and_valid(session):
    s = session()
    with pytest.raises(Exception, match="neither JSON nor a DuckDB type"):
        s.value("SELECT llm_struct('q', 'STRUCT(a NOTATYPE')")


# ---- schema conversion and validation (no HTTP) -------------------------------------------


def test_duckdb_type_to_json_schema():
    schema = parse_output_schema(
        "STRUCT(a INTEGER, b ENUM('x', 'y'), c STRUCT(d DOUBLE)[], m MAP(VARCHAR, BIGINT), j JSON)"
    )
    props = schema.json_schema["properties"]
    assert props["a"] == {"type": "integer"}
    assert props["b"] == {"type": "string", "enum": ["x", "y"]}
    assert props["c"]["items"]["properties"]["d"] == {"type": "number"}
    assert props["m"] == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert props["j"] == {}
    assert schema.json_schema["additionalProperties"] is False


def test_json_schema_to_duckdb_type_with_refs_and_nullables():
    schema = parse_output_schema(
        json.dumps(
            {
                "$defs": {"Step": {"type": "object", "properties": {"cmd": {"type": "string"}}}},
                "type": "object",
                "properties": {
                    "steps": {"type": "array", "items": {"$ref": "#/$defs/Step"}},
                    "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    "weird key": {"type": "number"},
                    "free": {"type": "object"},
                },
            }
        )
    )
    assert (
        schema.duckdb_type
        == 'STRUCT(steps STRUCT(cmd VARCHAR)[], note VARCHAR, "weird key" DOUBLE, free JSON)'
    )


def test_validation_reports_each_problem():
    problems = validate({"user_goal": 3, "notable_actions": [], "training_value": "high", "extra": 1}, DIGEST)
    assert "$.user_goal: expected string, got int" in problems
    assert "$.notable_actions: needs at least 1 items, got 0" in problems
    assert "$: missing property 'message_count'" in problems
    assert "$: unexpected property 'extra'" in problems
    assert validate(GOOD, DIGEST) == []


def test_parse_answer_finds_json_in_fences_and_prose():
    schema: OutputSchema = parse_output_schema("STRUCT(a INTEGER)")
    assert parse_answer('Here:\n```json\n{"a": 2}\n```', schema) == ({"a": 2}, None)
    assert parse_answer('The answer is {"a": 3}.', schema) == ({"a": 3}, None)
    assert parse_answer("nothing", schema)[1] == "the answer is not valid JSON"
    assert "expected integer" in parse_answer('{"a": "x"}', schema)[1]
