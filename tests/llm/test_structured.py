"""Structured output: schemas in both forms, validation, re-asks, typed STRUCT results."""

from __future__ import annotations

import json

import pytest

from tests.llm.fake_server import Reply
from tracesql.errors import ConfigError
from tracesql.llm.structured import OutputSchema, parse_answer, parse_output_schema

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
    assert "Additional properties are not allowed ('chatter' was unexpected)" in server.requests[2].prompt
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
    digest = parse_output_schema(json.dumps(DIGEST))
    assert digest.problems({"user_goal": 3, "notable_actions": [], "training_value": "high", "extra": 1}) == [
        "$.user_goal: 3 is not of type 'string'",
        "$.notable_actions: [] should be non-empty",
        "$: 'message_count' is a required property",
        "$: Additional properties are not allowed ('extra' was unexpected)",
    ]
    assert digest.problems(GOOD) == []


def test_a_long_value_is_shortened_in_the_problem():
    schema = parse_output_schema('{"type": "string", "pattern": "^[a-z]+$"}')
    (problem,) = schema.problems("X" * 5000)
    assert problem == "$: '" + "X" * 79 + "... does not match '^[a-z]+$'"


def test_an_invalid_json_schema_is_a_config_error():
    with pytest.raises(
        ConfigError, match=r"not a valid JSON schema: .*'strng'.* \(at \$\.properties\.a\.type\)"
    ):
        parse_output_schema('{"type": "object", "properties": {"a": {"type": "strng"}}}')


def test_parse_answer_finds_json_in_fences_and_prose():
    schema: OutputSchema = parse_output_schema("STRUCT(a INTEGER)")
    assert parse_answer('Here:\n```json\n{"a": 2}\n```', schema) == ({"a": 2}, None)
    assert parse_answer('The answer is {"a": 3}.', schema) == ({"a": 3}, None)
    assert parse_answer("nothing", schema)[1] == "the answer is not valid JSON"
    assert parse_answer('{"a": "x"}', schema)[1] == (
        "the answer does not match the schema: $.a: 'x' is not of type 'integer'"
    )


# ---- every keyword the hand-written validator ignored (pattern, format, exclusiveMaximum,
# uniqueItems) or got wrong (oneOf taken as anyOf): (schema of `v`, a value breaking it, a
# value satisfying it, the problem) -------------------------------------------------------
KEYWORDS = [
    pytest.param(
        {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"},
        "abc-1",
        "ABC-12",
        "$.v: 'abc-1' does not match '^[A-Z]{3}-[0-9]+$'",
        id="pattern",
    ),
    pytest.param(
        {"type": "string", "format": "date-time"},
        "2024-03-01 noon",
        "2024-03-01T12:00:00Z",
        "$.v: '2024-03-01 noon' is not a 'date-time'",
        id="format-date-time",
    ),
    pytest.param(
        {"type": "string", "format": "uri"},
        "not a uri",
        "https://example.org/a?b=c",
        "$.v: 'not a uri' is not a 'uri'",
        id="format-uri",
    ),
    pytest.param(
        {"type": "string", "format": "email"},
        "nobody",
        "nobody@example.org",
        "$.v: 'nobody' is not a 'email'",
        id="format-email",
    ),
    pytest.param(
        {"type": "number", "exclusiveMaximum": 10},
        10,
        9.5,
        "$.v: 10 is greater than or equal to the maximum of 10",
        id="exclusiveMaximum",
    ),
    pytest.param(
        {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        ["a", "b", "a"],
        ["a", "b"],
        "$.v: ['a', 'b', 'a'] has non-unique elements",
        id="uniqueItems",
    ),
    pytest.param(
        {"oneOf": [{"type": "integer", "multipleOf": 2}, {"type": "integer", "multipleOf": 3}]},
        6,  # both options match: anyOf would take it, oneOf must not
        4,
        "$.v: 6 is valid under each of ",
        id="oneOf",
    ),
]


def keyword_schema(sub: dict) -> dict:
    return {"type": "object", "properties": {"v": sub}, "required": ["v"], "additionalProperties": False}


@pytest.mark.parametrize(("sub", "bad", "good", "problem"), KEYWORDS)
def test_keyword_is_checked(sub, bad, good, problem):
    schema = parse_output_schema(json.dumps(keyword_schema(sub)))
    value, found = parse_answer(json.dumps({"v": bad}), schema)
    assert value is None
    assert found.startswith(f"the answer does not match the schema: {problem}")
    assert parse_answer(json.dumps({"v": good}), schema) == ({"v": good}, None)


@pytest.mark.parametrize(("sub", "bad", "good", "problem"), KEYWORDS)
def test_an_answer_breaking_a_keyword_is_reasked_over_http(server, session, sub, bad, good, problem):
    s = session()
    server.enqueue(Reply.json({"v": bad}), Reply.json({"v": good}))
    assert json.loads(s.value(f"SELECT llm_json('q', {sql_str(keyword_schema(sub))})")) == {"v": good}
    assert len(server.requests) == 2
    assert problem in server.requests[1].prompt  # the re-ask says what was wrong
    first = s.runtime.call_log()[0]
    assert problem in first.error


def test_dates_of_a_duckdb_type_are_what_duckdb_reads(server, session):
    """A TIMESTAMP field takes `2024-03-01 12:00:00` (no offset, a space: not RFC 3339,
    but DuckDB reads it); `yesterday` (which from_json would turn into NULL) is re-asked."""
    s = session()
    spec = "'STRUCT(ts TIMESTAMP, d DATE, t TIME)'"
    server.enqueue(Reply.json({"ts": "2024-03-01 12:00:00", "d": "2024-02-29", "t": "08:09:10"}))
    assert s.value(f"SELECT llm_struct('q', {spec}).ts::VARCHAR") == "2024-03-01 12:00:00"
    server.enqueue(
        Reply.json({"ts": "yesterday", "d": "2024-02-30", "t": "08:09:10"}),
        Reply.json({"ts": "2024-03-01T12:00:00", "d": "2024-02-28", "t": "08:09:10"}),
    )
    assert s.value(f"SELECT llm_struct('q2', {spec}).d::VARCHAR") == "2024-02-28"
    assert len(server.requests) == 3
    reask = server.requests[2].prompt
    assert "$.ts: 'yesterday' is not a 'date-time'" in reask
    assert "$.d: '2024-02-30' is not a 'date'" in reask


def test_a_cached_answer_that_fails_the_schema_is_a_miss(server, session, tmp_path):
    """An answer stored by a release whose validator missed the problem (here: one taken
    without re-asks) is asked for afresh, not re-asked on top of, and then replaced."""
    cache = tmp_path / "cache.sqlite"
    query = f"SELECT llm_json('q', {sql_str(keyword_schema(KEYWORDS[0].values[0]))})"
    server.enqueue(Reply.json({"v": "abc-1"}))
    first = session(cache=cache, structured_retries=0)
    assert first.value(query) is None
    first.close()
    server.enqueue(Reply.json({"v": "ABC-1"}))
    second = session(cache=cache)
    assert json.loads(second.value(query)) == {"v": "ABC-1"}
    assert len(server.requests) == 2
    assert server.requests[1].body["messages"] == server.requests[0].body["messages"]  # the same request
    assert second.runtime.summary()[0]["cache_hits"] == 0
    second.close()
    assert json.loads(session(cache=cache).value(query)) == {"v": "ABC-1"}
    assert len(server.requests) == 2  # the good answer replaced the bad one


def test_a_rerun_after_a_reask_makes_no_request(server, session, tmp_path):
    cache = tmp_path / "cache.sqlite"
    query = f"SELECT llm_struct('digest', {sql_str(DIGEST)})"
    server.enqueue(Reply.json({**GOOD, "training_value": "huge"}), Reply.json(GOOD))
    first = session(cache=cache)
    assert first.value(query) == GOOD
    first.close()
    assert len(server.requests) == 2
    again = session(cache=cache)
    assert again.value(query) == GOOD
    assert len(server.requests) == 2  # the valid answer is stored for the original request too
    assert again.runtime.summary()[0]["cache_hits"] == 1


def test_a_row_left_null_is_asked_again_by_the_next_run(server, session, tmp_path):
    cache = tmp_path / "cache.sqlite"
    query = f"SELECT llm_struct('digest', {sql_str(DIGEST)})"
    server.enqueue(*[Reply.text("no json")] * 3)
    first = session(cache=cache)
    assert first.value(query) is None
    first.close()
    server.enqueue(Reply.json(GOOD))
    assert session(cache=cache).value(query) == GOOD
    assert len(server.requests) == 4
    assert server.requests[3].body["messages"] == server.requests[0].body["messages"]
