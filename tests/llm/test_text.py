"""llm(): plain text answers, system prompts, per-row templates, NULLs."""

from __future__ import annotations

import pytest

from tests.llm.fake_server import Reply


def test_text_answers_come_back_in_row_order(server, session):
    s = session()
    rows = s.rows("SELECT i, llm('question ' || i) FROM range(5) t(i) ORDER BY i")
    assert rows == [(i, f"echo: question {i}") for i in range(5)]
    assert sorted(server.prompts()) == sorted(f"question {i}" for i in range(5))


def test_request_carries_model_system_and_parameters(server, session):
    s = session(models={"m": {"temperature": 0.3, "max_tokens": 50, "extra_body": {"seed": 7}}})
    server.enqueue(Reply.text("fine"))
    assert s.value("SELECT llm('hi', system := 'be brief', temperature := 0.9)") == "fine"
    body = server.requests[0].body
    assert body["model"] == "model-m"
    assert body["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert body["temperature"] == 0.9  # the call's value wins over the alias's
    assert body["max_tokens"] == 50
    assert body["seed"] == 7  # extra_body is merged into the request


def test_model_alias_is_chosen_per_call(server, session):
    s = session(models={"fast": {}, "big": {}}, default_model="fast")
    s.rows("SELECT llm('a'), llm('b', model := 'big')")
    models = {r.prompt: r.body["model"] for r in server.requests}
    assert models == {"a": "model-fast", "b": "model-big"}


def test_null_prompt_gives_null_without_a_request(server, session):
    s = session()
    assert s.rows("SELECT llm(NULL::VARCHAR), llm(CASE WHEN i > 0 THEN 'x' END) FROM range(1) t(i)") == [
        (None, None)
    ]
    assert server.requests == []


def test_template_is_filled_per_row_from_vars(server, session):
    s = session()
    rows = s.rows(
        "SELECT llm('Title: {{ title }} / {{ tags | join(\", \") }}', vars := {'title': title, 'tags': tags}) "
        "FROM (VALUES ('one', ['a', 'b']), ('two', ['c'])) t(title, tags) ORDER BY title"
    )
    assert rows == [("echo: Title: one / a, b",), ("echo: Title: two / c",)]


def test_trace_text_with_template_syntax_stays_literal(server, session):
    s = session()
    hostile = "{{ 7 * 7 }} {% for x in range(3) %}loop{% endfor %} {{ ''.__class__.__mro__ }}"
    s.con.execute("CREATE TABLE t AS SELECT ? AS text", [hostile])
    answer = s.value("SELECT llm('Summarize: {{ text }}', vars := {'text': text}) FROM t")
    assert server.requests[0].prompt == "Summarize: " + hostile
    assert answer == "echo: Summarize: " + hostile
    # without vars the prompt is not a template at all
    s.value("SELECT llm(text) FROM t")
    assert server.requests[1].prompt == hostile


def test_whole_row_can_be_passed_as_vars(server, session):
    s = session()
    value = s.value("SELECT llm('{{ a }}-{{ b }}', vars := t) FROM (SELECT 1 AS a, 'x' AS b) t")
    assert value == "echo: 1-x"


def test_sandbox_blocks_python_internals(server, session):
    s = session()
    with pytest.raises(Exception, match="sandbox|unsafe"):
        s.value("SELECT llm('{{ x.__class__.__mro__[1].__subclasses__() }}', vars := {'x': 'a'})")
    assert server.requests == []


def test_llm_render_shows_the_prompt(session):
    s = session()
    assert s.value("SELECT llm_render('Hi {{ name }}!', {'name': 'Ada'})") == "Hi Ada!"


def test_transcript_filter_formats_messages(server, session):
    s = session()
    s.value(
        "SELECT llm('{{ messages | transcript }}', vars := {'messages': [{'role': 'user', "
        "'content': [{'type': 'text', 'text': 'fix the bug', 'data': NULL}]}]})"
    )
    assert server.requests[0].prompt == "user: fix the bug"


def test_transcript_shows_tool_calls_of_normalized_messages(server, session):
    """A trace row's tool call nests its name and JSON-string arguments under `function`."""
    s = session()
    s.value(
        "SELECT llm('{{ messages | transcript }}', vars := {'messages': [{'role': 'assistant', 'content': [], "
        "'tool_calls': [{'id': 'c1', 'type': 'function', "
        "'function': {'name': 'Bash', 'arguments': '{\"cmd\": \"ls\"}'}}]}]})"
    )
    assert server.requests[0].prompt == 'assistant: [tool call Bash] {"cmd": "ls"}'


def test_works_in_a_table_model(server, session, tmp_path):
    s = session(database=str(tmp_path / "db.duckdb"))
    s.con.execute("CREATE TABLE summaries AS SELECT i, llm('row ' || i) AS summary FROM range(3) t(i)")
    assert s.rows("SELECT summary FROM summaries ORDER BY i") == [(f"echo: row {i}",) for i in range(3)]


def test_llm_response_reports_how_each_row_went(server, session):
    s = session(max_retries=0)
    server.when("fails", Reply.error(500, "boom"))
    server.when("cut", Reply.truncated("half an ans"))
    rows = s.rows("SELECT p, llm_response(p) AS r FROM (VALUES ('fails'), ('cut'), ('fine')) t(p) ORDER BY p")
    by_prompt = dict(rows)
    assert by_prompt["fails"]["text"] is None and by_prompt["fails"]["error"] == "HTTP 500: boom"
    assert by_prompt["cut"]["text"] == "half an ans" and by_prompt["cut"]["finish_reason"] == "length"
    fine = by_prompt["fine"]
    assert fine["text"] == "echo: fine" and fine["error"] is None and fine["cache_hit"] is False
    assert fine["input_tokens"] > 0 and len(fine["request_hash"]) == 64
    again = s.value("SELECT llm_response('fine')")
    assert again["cache_hit"] is True and again["text"] == "echo: fine"
    assert again["request_hash"] == fine["request_hash"]
    joined = s.value(f"SELECT count(*) FROM llm_call_log() WHERE request_hash = '{fine['request_hash']}'")
    assert joined == 2  # the call and the cache hit


def test_reasoning_content_is_kept_and_cached(server, session):
    s = session()
    server.enqueue(Reply.text("42", reasoning="six times seven"))
    first = s.value("SELECT llm_response('what?')")
    assert (first["text"], first["reasoning"]) == ("42", "six times seven")
    assert s.value("SELECT llm_response('what?').reasoning") == "six times seven"
    assert len(server.requests) == 1
