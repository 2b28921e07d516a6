"""Per-response usage in the normalized row, format by format (docs/usage.md): each API
response one entry, counted once with its final count; messages carry their model and
usage; trace totals are the sums of the entries. And the usage-only read of Claude Code
gives the entries the full read gives."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.readers.parity import CORPUS, needs_corpus
from tracesql.readers.base import ReadContext, Trace
from tracesql.readers.registry import get_reader

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOKEN_KEYS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


def read(fmt: str, path: Path, usage_only: bool = False) -> tuple[list[Trace], list]:
    reader = get_reader(fmt)
    ctx = ReadContext(fmt, str(path.parent))
    reader.prepare(str(path.parent), True, ctx)
    ctx.for_file(str(path), path.stat().st_size)
    traces = (reader.read_usage if usage_only else reader.read_file)(str(path), ctx)
    ctx.end_file()
    for trace in traces:
        trace.to_row()
    return traces, ctx.diagnostics


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def counts(entry: dict) -> tuple:
    return tuple(entry[k] for k in TOKEN_KEYS)


def assert_totals_are_the_sums(trace: Trace) -> None:
    row = trace.to_row()
    for key in TOKEN_KEYS:
        values = [u[key] for u in trace.usage if u[key] is not None]
        assert row[key] == (sum(values) if values else None), key


# --- Claude Code ----------------------------------------------------------------------------


def claude(i: int, role: str, parent: int | None, **fields) -> dict:
    rec = {
        "type": role,
        "sessionId": "s1",
        "uuid": f"u{i}",
        "parentUuid": f"u{parent}" if parent is not None else None,
        "timestamp": f"2025-08-01T10:00:{i:02d}.000Z",
        "cwd": "/work/app",
    }
    rec.update(fields)
    return rec


def prompt(i: int, parent: int | None, text: str = "go") -> dict:
    return claude(i, "user", parent, message={"role": "user", "content": text})


def reply(i: int, parent: int, mid: str | None, output: int, block: dict | None = None, **fields) -> dict:
    message = {
        "role": "assistant",
        "model": fields.pop("model", "claude-sonnet-4-5"),
        "content": [block or {"type": "text", "text": f"part {i}"}],
        "usage": {
            "input_tokens": 3,
            "output_tokens": output,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 20,
        },
    }
    if mid is not None:
        message["id"] = mid
    return claude(i, "assistant", parent, message=message, **fields)


def test_claude_streamed_response_counts_once_with_its_last_line(tmp_path):
    path = write_jsonl(
        tmp_path / "s1.jsonl",
        [
            prompt(0, None),
            reply(1, 0, "msg_1", 1, requestId="req_1"),
            reply(
                2,
                1,
                "msg_1",
                60,
                {"type": "tool_use", "id": "t1", "name": "Bash", "input": {}},
                requestId="req_1",
            ),
            claude(
                3,
                "user",
                2,
                message={
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}],
                },
            ),
            reply(4, 3, "msg_1", 190, requestId="req_1"),
            reply(5, 4, "msg_2", 7, requestId="req_2"),
        ],
    )
    (trace,), diags = read("claude_code", path)
    assert diags == []
    assert [(u["id"], u["output_tokens"]) for u in trace.usage] == [("msg_1:req_1", 190), ("msg_2:req_2", 7)]
    first = trace.usage[0]
    assert first["timestamp"].isoformat() == "2025-08-01T10:00:04+00:00"  # the line the count is from
    message = trace.messages[first["message_index"] - 1]
    assert message["role"] == "assistant" and message["model"] == "claude-sonnet-4-5"
    assert message["usage"] == {**{k: first[k] for k in TOKEN_KEYS}, "reasoning_tokens": None}
    assert message["usage"]["output_tokens"] == 190
    assert_totals_are_the_sums(trace)
    assert trace.output_tokens == 197


def test_claude_ids_without_a_request_id_a_message_id_or_a_uuid(tmp_path):
    no_uuid = reply(4, 3, None, 9)
    del no_uuid["uuid"]
    path = write_jsonl(
        tmp_path / "s1.jsonl",
        [
            prompt(0, None),
            reply(1, 0, "msg_1", 5),  # no requestId: the message id alone
            reply(2, 1, "msg_1", 6, requestId="req_9"),  # the same message, another request
            reply(3, 2, None, 8),  # no message id: the record's uuid
            no_uuid,  # neither: its place among the file's responses
            reply(5, 3, "msg_5", 1, model="<synthetic>"),  # written by Claude Code itself: no usage
        ],
    )
    (trace,), _ = read("claude_code", path)
    assert [u["id"] for u in trace.usage] == ["msg_1", "msg_1:req_9", "uuid:u3", f"{path}#response-4"]


def test_claude_responses_off_the_conversation_path_count_too(tmp_path):
    path = write_jsonl(
        tmp_path / "s1.jsonl",
        [
            prompt(0, None),
            reply(1, 0, "msg_a", 10, requestId="r1"),
            prompt(2, 0, "try again"),  # a rewind: a second child of the first prompt
            reply(3, 2, "msg_b", 20, requestId="r2"),
        ],
    )
    (trace,), _ = read("claude_code", path)
    by_id = {u["id"]: u for u in trace.usage}
    assert by_id["msg_a:r1"]["message_index"] is None  # the abandoned branch: no message
    assert trace.messages[by_id["msg_b:r2"]["message_index"] - 1]["usage"]["output_tokens"] == 20
    assert trace.output_tokens == 30
    assert_totals_are_the_sums(trace)


def test_claude_usage_only_read_gives_the_full_reads_entries(tmp_path):
    """The usage-only read parses only lines holding "usage" (after the first cwd): same
    entries, session and project as the full read, for every fixture."""
    root = FIXTURES / "claude_code"
    compared = 0
    for path in sorted(root.rglob("*.jsonl")):
        reader = get_reader("claude_code")
        if reader.accepts(path.relative_to(root).as_posix()):
            continue
        full, _ = read("claude_code", path)
        fast, _ = read("claude_code", path, usage_only=True)
        assert entries_by_session(fast) == entries_by_session(full), path
        compared += bool(fast)
    assert compared >= 10


def entries_by_session(traces: list[Trace]) -> list[tuple]:
    return sorted(
        (t.root_session_id, t.project_path, u["id"], counts(u), u["model"], u["timestamp"])
        for t in traces
        for u in t.usage
    )


@needs_corpus
def test_claude_usage_only_read_on_the_corpus():
    root = CORPUS / "claude_code"
    for path in sorted(root.rglob("*.jsonl")):
        if get_reader("claude_code").accepts(path.relative_to(root).as_posix()) or not path.stat().st_size:
            continue
        full, _ = read("claude_code", path)
        fast, _ = read("claude_code", path, usage_only=True)
        assert entries_by_session(fast) == entries_by_session(full), path


# --- Codex ----------------------------------------------------------------------------------


def event(second: int, payload: dict) -> dict:
    return {"timestamp": f"2026-03-10T09:00:{second:02d}.000Z", "type": "event_msg", "payload": payload}


def tokens(second: int, total: dict | None = None, last: dict | None = None, **info) -> dict:
    if total is not None:
        info["total_token_usage"] = total
    if last is not None:
        info["last_token_usage"] = last
    return event(second, {"type": "token_count", "info": info})


def usage(inp: int, cached: int, out: int, reasoning: int = 0) -> dict:
    return {
        "input_tokens": inp,
        "cached_input_tokens": cached,
        "output_tokens": out,
        "reasoning_output_tokens": reasoning,
        "total_tokens": inp + out,
    }


def rollout(tmp_path: Path, records: list[dict], name: str = "rollout-2026-03-10T09-00-00-a.jsonl") -> Path:
    meta = {
        "timestamp": "2026-03-10T09:00:00.000Z",
        "type": "session_meta",
        "payload": {"id": "sess-a", "timestamp": "2026-03-10T09:00:00.000Z", "cwd": "/work/app"},
    }
    return write_jsonl(tmp_path / name, [meta, *records])


def item(second: int, role: str, text: str) -> dict:
    kind = "output_text" if role == "assistant" else "input_text"
    payload = {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}
    return {"timestamp": f"2026-03-10T09:00:{second:02d}.000Z", "type": "response_item", "payload": payload}


def test_codex_cumulative_totals_become_per_turn_entries(tmp_path):
    path = rollout(
        tmp_path,
        [
            {
                "timestamp": "2026-03-10T09:00:01.000Z",
                "type": "turn_context",
                "payload": {"model": "gpt-5-codex"},
            },
            item(2, "user", "fix it"),
            item(3, "assistant", "looking"),
            tokens(4, usage(1000, 800, 50, 20)),
            tokens(5, usage(1000, 800, 50, 20)),  # repeated totals (a rate-limit update): nothing
            item(6, "assistant", "done"),
            tokens(7, usage(2500, 2000, 90, 30), model="gpt-5.1-codex"),
            tokens(8, usage(300, 0, 10)),  # totals went down: the session started over
        ],
    )
    (trace,), _ = read("codex", path)
    assert [counts(u) + (u["reasoning_tokens"], u["model"]) for u in trace.usage] == [
        (200, 50, 800, None, 20, "gpt-5-codex"),  # input without the cached part
        (300, 40, 1200, None, 10, "gpt-5.1-codex"),  # differences of the totals; the event's model
        (300, 10, 0, None, 0, "gpt-5-codex"),
    ]
    assert [trace.messages[u["message_index"] - 1]["content"][0]["text"] for u in trace.usage[:2]] == [
        "looking",
        "done",
    ]
    assert trace.usage[2]["message_index"] is None  # no assistant message since the last count
    assert trace.usage[0]["id"].startswith("codex:2026-03-10T09:00:04.000Z:")
    assert_totals_are_the_sums(trace)


def test_codex_per_turn_shapes(tmp_path):
    path = rollout(
        tmp_path,
        [
            tokens(1, last=usage(400, 100, 30)),  # no totals: the turn's own usage
            event(2, {"type": "token_count", "input_tokens": 70, "output_tokens": 5}),  # early builds: flat
            event(3, {"type": "token_count", "info": {"prompt": 1420, "completion": 910}}),  # 0.50-era
            event(4, {"type": "token_count", "info": None}),
        ],
    )
    (trace,), _ = read("codex", path)
    assert [counts(u) for u in trace.usage] == [
        (300, 30, 100, None),
        (70, 5, None, None),
        (1420, 910, None, None),
    ]


def test_codex_a_fork_replaying_its_parents_events_gives_the_same_ids(tmp_path):
    events = [item(1, "user", "x"), item(2, "assistant", "y"), tokens(3, usage(100, 0, 5))]
    parent = rollout(tmp_path, events)
    fork = rollout(
        tmp_path, [*events, item(4, "assistant", "z"), tokens(5, usage(250, 0, 9))], "rollout-b.jsonl"
    )
    (p,), _ = read("codex", parent)
    (f,), _ = read("codex", fork)
    assert p.usage[0]["id"] == f.usage[0]["id"] and f.usage[1]["id"] not in {u["id"] for u in p.usage}
    assert counts(f.usage[1]) == (150, 4, 0, None)


# --- Pi, ATIF, Hermes ------------------------------------------------------------------------


def test_pi_entries_name_the_response_and_keep_the_recorded_cost(tmp_path):
    header = {"type": "session", "version": 3, "id": "pi-1", "timestamp": "2026-01-01T00:00:00Z", "cwd": "/w"}
    answer = {
        "role": "assistant",
        "provider": "anthropic",
        "model": "claude-opus-4-5",
        "content": [{"type": "text", "text": "hi"}],
        "usage": {"input": 5, "output": 6, "cacheRead": 7, "cacheWrite": 8, "cost": {"total": 0.25}},
        "timestamp": 1767225601000,
    }
    path = write_jsonl(
        tmp_path / "s.jsonl",
        [
            header,
            {
                "type": "message",
                "id": "e1",
                "parentId": None,
                "timestamp": "2026-01-01T00:00:01Z",
                "message": {"role": "user", "content": "q"},
            },
            {
                "type": "message",
                "id": "e2",
                "parentId": "e1",
                "timestamp": "2026-01-01T00:00:01Z",
                "message": answer,
            },
            {
                "type": "message",
                "id": "e3",
                "parentId": "e2",
                "timestamp": "2026-01-01T00:00:02Z",
                "message": {**answer, "responseId": "resp_9"},
            },
        ],
    )
    (trace,), _ = read("pi_coding_agent", path)
    assert [u["id"] for u in trace.usage] == ["pi:e2:1767225601000", "pi:resp_9"]
    assert trace.usage[0]["cost_usd"] == 0.25 and counts(trace.usage[0]) == (5, 6, 7, 8)
    assert trace.messages[trace.usage[0]["message_index"] - 1]["model"] == "anthropic/claude-opus-4-5"


def atif(tmp_path: Path, steps: list[dict], final: dict | None = None) -> Path:
    doc = {
        "schema_version": "ATIF-v1.4",
        "session_id": "run-1",
        "agent": {"name": "a", "model_name": "gpt-4o"},
        "steps": steps,
    }
    if final is not None:
        doc["final_metrics"] = final
    path = tmp_path / "run.trajectory.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def step(n: int, source: str, **fields) -> dict:
    return {
        "step_id": n,
        "timestamp": f"2026-02-01T00:00:0{n}Z",
        "source": source,
        "message": f"m{n}",
        **fields,
    }


def test_atif_steps_are_entries_and_a_final_cached_total_corrects_them(tmp_path):
    metrics = {"prompt_tokens": 1000, "completion_tokens": 10, "cost_usd": 0.01}
    path = atif(
        tmp_path,
        [step(1, "user"), step(2, "agent", metrics=metrics), step(3, "agent", metrics=metrics)],
        {"total_prompt_tokens": 2000, "total_completion_tokens": 20, "total_cached_tokens": 1500},
    )
    (trace,), _ = read("atif", path)
    steps, correction = trace.usage[:2], trace.usage[2]
    assert [trace.messages[u["message_index"] - 1]["model"] for u in steps] == ["gpt-4o", "gpt-4o"]
    assert [counts(u) for u in steps] == [(1000, 10, None, None)] * 2
    assert (correction["input_tokens"], correction["cache_read_tokens"], correction["message_index"]) == (
        -1500,
        1500,
        None,
    )
    assert (trace.input_tokens, trace.cache_read_tokens) == (
        500,
        1500,
    )  # prompt tokens include the cached ones


def test_atif_final_metrics_alone_are_one_entry(tmp_path):
    path = atif(
        tmp_path,
        [step(1, "user"), step(2, "agent")],
        {"total_prompt_tokens": 90, "total_completion_tokens": 9, "total_cost_usd": 0.5},
    )
    (trace,), _ = read("atif", path)
    (entry,) = trace.usage
    assert (counts(entry), entry["cost_usd"], entry["model"], entry["message_index"]) == (
        (90, 9, None, None),
        0.5,
        "gpt-4o",
        None,
    )


def test_hermes_session_totals_are_one_entry_named_by_the_session(tmp_path):
    root = FIXTURES / "hermes_agent" / "export" / "hermes_sessions_export.jsonl"
    traces, _ = read("hermes_agent", root)
    first = traces[0]
    (entry,) = first.usage
    assert entry["id"] == f"hermes:{first.trace_id}" and entry["message_index"] is None
    assert (entry["reasoning_tokens"], entry["model"]) == (120, "anthropic/claude-opus-4.6")
    assert_totals_are_the_sums(first)


@pytest.mark.parametrize("fmt", ["claude_code", "codex", "pi_coding_agent", "atif", "hermes_agent"])
def test_every_fixture_trace_totals_are_the_sums_of_its_entries(fmt):
    root = FIXTURES / fmt
    with_usage = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".json")):
        reader = get_reader(fmt)
        if reader.accepts(os.path.relpath(path, root)):
            continue
        traces, _ = read(fmt, path)
        for trace in traces:
            assert_totals_are_the_sums(trace)
            for u in trace.usage:
                if u["message_index"] is not None:
                    assert trace.messages[u["message_index"] - 1]["usage"] is not None
            with_usage += bool(trace.usage)
    assert with_usage > 0
