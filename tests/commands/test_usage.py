"""`tracesql usage` and the usage SQL it shares with the example project's models/usage/:
dedup across files, day boundaries in a time zone, 5-hour blocks, prices (unknown models,
profiles.yml, dated prices, long context, recorded costs), the usage cache, the CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.console.conftest import terminal, visible_lines  # noqa: F401  (terminal is a fixture)
from tracesql.cli import main
from tracesql.commands.usage import UsageError, UsageRequest, usage_report
from tracesql.project.settings import UsageSettings

UTC = dt.UTC


def response(
    session: str,
    i: int,
    at: dt.datetime,
    model: str = "claude-sonnet-4-5",
    mid: str | None = None,
    output: int = 10,
    inp: int = 100,
    cache_read: int = 0,
    cache_write: int = 0,
    cwd: str = "/work/app",
) -> dict:
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "type": "assistant",
        "sessionId": session,
        "uuid": f"{session}-{i}",
        "parentUuid": None,
        "timestamp": stamp,
        "cwd": cwd,
        "requestId": f"req-{mid or f'{session}-{i}'}",
        "message": {
            "id": mid or f"msg-{session}-{i}",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "ok"}],
            "usage": {
                "input_tokens": inp,
                "output_tokens": output,
                "cache_read_input_tokens": cache_read,
                "cache_creation_input_tokens": cache_write,
            },
        },
    }


def session_file(root: Path, name: str, records: list[dict]) -> Path:
    path = root / "projects" / "-work-app" / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def report(root: Path, kind: str = "daily", **kwargs) -> object:
    kwargs.setdefault("timezone", "UTC")
    return usage_report(UsageRequest(kind, paths=(str(root),), **kwargs))


def day(y: int, m: int, d: int, h: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, minute, tzinfo=UTC)


def test_a_response_copied_into_a_resumed_session_counts_once(tmp_path):
    first = [
        response("s1", 0, day(2025, 9, 1), mid="msg_a", output=40),
        response("s1", 1, day(2025, 9, 1), mid="msg_b"),
    ]
    session_file(tmp_path, "s1", first)
    # the resumed copy repeats msg_a (a partial count, written while it streamed) and goes on
    partial = response("s2", 0, day(2025, 9, 1), mid="msg_a", output=3)
    session_file(tmp_path, "s2", [partial, response("s2", 1, day(2025, 9, 1), mid="msg_c", output=5)])
    (group,) = report(tmp_path).groups
    assert group.sums["responses"] == 3
    assert group.sums["output_tokens"] == 40 + 10 + 5  # msg_a once, with its final count
    assert group.sums["input_tokens"] == 300


def test_day_boundaries_follow_the_time_zone(tmp_path):
    late, early = day(2025, 3, 10, 23, 30), day(2025, 3, 11, 0, 30)
    session_file(tmp_path, "s1", [response("s1", 0, late), response("s1", 1, early)])
    utc = report(tmp_path, timezone="UTC")
    assert [(g.key["day"], g.sums["responses"]) for g in utc.groups] == [
        (dt.date(2025, 3, 10), 1),
        (dt.date(2025, 3, 11), 1),
    ]
    new_york = report(tmp_path, timezone="America/New_York")  # 19:30 and 20:30 on the 10th
    assert [(g.key["day"], g.sums["responses"]) for g in new_york.groups] == [(dt.date(2025, 3, 10), 2)]
    tokyo = report(tmp_path, timezone="Asia/Tokyo")  # 08:30 and 09:30 on the 11th
    assert [g.key["day"] for g in tokyo.groups] == [dt.date(2025, 3, 11)]
    monthly = report(tmp_path, "monthly", timezone="Pacific/Kiritimati")  # +14: both in March still
    assert [(g.key["month"], g.sums["responses"]) for g in monthly.groups] == [("2025-03", 2)]


def test_since_and_until_select_days(tmp_path):
    session_file(tmp_path, "s1", [response("s1", i, day(2025, 5, 1 + i)) for i in range(5)])
    got = report(tmp_path, since=dt.date(2025, 5, 2), until=dt.date(2025, 5, 4))
    assert [g.key["day"].day for g in got.groups] == [2, 3, 4]
    with pytest.raises(UsageError, match="after --until"):
        report(tmp_path, since=dt.date(2025, 5, 4), until=dt.date(2025, 5, 2))


def test_five_hour_blocks_start_at_a_blocks_first_response(tmp_path):
    t0 = day(2025, 6, 1, 9, 17)
    hours = [0, 1, 4.99, 5, 5.5, 9.9, 20]  # 5 h after the start opens the next block; so does a long gap
    now = dt.datetime.now(UTC).replace(microsecond=0)
    records = [response("s1", i, t0 + dt.timedelta(hours=h)) for i, h in enumerate(hours)]
    records.append(response("s1", 99, now - dt.timedelta(hours=1)))
    session_file(tmp_path, "s1", records)
    blocks = report(tmp_path, "blocks").groups
    got = [(g.key["block_start"], g.sums["responses"], g.key["is_active"]) for g in blocks]
    assert got == [
        (t0, 3, False),
        (t0 + dt.timedelta(hours=5), 3, False),  # 5, 5.5 and 9.9 hours
        (t0 + dt.timedelta(hours=20), 1, False),
        (now - dt.timedelta(hours=1), 1, True),  # the open block
    ]
    assert blocks[1].key["last_activity"] == t0 + dt.timedelta(hours=9.9)
    assert blocks[1].key["block_end"] == t0 + dt.timedelta(hours=10)


def test_blocks_are_counted_per_agent_format(tmp_path):
    t0 = day(2025, 6, 1, 9)
    session_file(tmp_path, "s1", [response("s1", 0, t0), response("s1", 1, t0 + dt.timedelta(hours=6))])
    codex = tmp_path / "codex" / "rollout-2025-06-01T11-00-00-x.jsonl"
    codex.parent.mkdir()
    meta = {
        "timestamp": "2025-06-01T11:00:00.000Z",
        "type": "session_meta",
        "payload": {"id": "cx", "cwd": "/w"},
    }
    count = {
        "timestamp": "2025-06-01T11:00:05.000Z",
        "type": "event_msg",
        "payload": {
            "type": "token_count",
            "info": {"total_token_usage": {"input_tokens": 10, "output_tokens": 2}},
        },
    }
    codex.write_text(json.dumps(meta) + "\n" + json.dumps(count) + "\n", encoding="utf-8")
    blocks = report(tmp_path, "blocks").groups
    assert [(g.key["source_kind"], g.key["block_start"]) for g in blocks] == [
        ("claude_code", t0),
        ("codex", day(2025, 6, 1, 11, 0) + dt.timedelta(seconds=5)),  # inside claude's block, its own
        ("claude_code", t0 + dt.timedelta(hours=6)),
    ]


def test_unknown_models_cost_null_and_are_listed(tmp_path):
    at = day(2025, 10, 1)
    session_file(
        tmp_path,
        "s1",
        [
            response("s1", 0, at, model="claude-sonnet-4-5-20250929", inp=100_000, output=0),
            response("s1", 1, at, model="mystery-model-9", inp=500, output=50),
            response("s1", 2, at, model="other-model", inp=0, output=0),  # no tokens: costs nothing
        ],
    )
    got = report(tmp_path)
    (group,) = got.groups
    by_model = {r["model"]: r for r in group.breakdown}
    assert by_model["claude-sonnet-4-5-20250929"]["cost_usd"] == pytest.approx(0.3)  # $3 per million input
    assert by_model["mystery-model-9"]["cost_usd"] is None
    assert by_model["other-model"]["cost_usd"] == 0.0
    assert group.cost_usd == pytest.approx(0.3) and group.unpriced_tokens == 550
    assert [(r["model"], r["total_tokens"]) for r in got.unpriced] == [("mystery-model-9", 550)]
    priced = report(tmp_path, settings=UsageSettings(prices={"mystery-model-9": {"input": 2, "output": 10}}))
    assert priced.unpriced == [] and priced.totals["cost_usd"] == pytest.approx(0.3 + 0.001 + 0.0005)


def test_profiles_yml_prices_win_and_prices_are_dated(tmp_path):
    session_file(
        tmp_path,
        "s1",
        [
            response("s1", 0, day(2025, 6, 9), model="openai/o3", inp=1_000_000, output=0),
            response("s1", 1, day(2025, 6, 10), model="o3-2025-04-16", inp=1_000_000, output=0),
            response("s1", 2, day(2025, 6, 10), model="claude-haiku-4-5", inp=1_000_000, output=0),
        ],
    )
    groups = {g.key["day"]: g for g in report(tmp_path).groups}
    assert groups[dt.date(2025, 6, 9)].cost_usd == pytest.approx(10.0)  # o3 before its price cut
    o3_after = next(r for r in groups[dt.date(2025, 6, 10)].breakdown if r["model"].startswith("o3"))
    assert o3_after["cost_usd"] == pytest.approx(2.0)
    mine = UsageSettings(prices={"claude-haiku-4-5": {"input": 7, "output": 7}})
    groups = {g.key["day"]: g for g in report(tmp_path, settings=mine).groups}
    haiku = next(r for r in groups[dt.date(2025, 6, 10)].breakdown if r["model"] == "claude-haiku-4-5")
    assert haiku["cost_usd"] == pytest.approx(7.0)


def test_long_context_requests_use_the_long_context_price(tmp_path):
    at = day(2025, 10, 2)
    session_file(
        tmp_path,
        "s1",
        [
            response("s1", 0, at, model="claude-sonnet-4-5", inp=100_000, cache_read=100_000, output=1000),
            response("s1", 1, at, model="claude-sonnet-4-5", inp=100_000, cache_read=100_001, output=1000),
        ],
    )
    (group,) = report(tmp_path).groups
    normal = (100_000 * 3 + 100_000 * 0.3 + 1000 * 15) / 1e6
    long = (100_000 * 6 + 100_001 * 0.6 + 1000 * 22.5) / 1e6  # the whole request at the 1M-context rate
    assert group.cost_usd == pytest.approx(normal + long)


def test_a_recorded_cost_is_used_for_a_model_without_a_price(tmp_path):
    pi = tmp_path / "pi.jsonl"
    header = {"type": "session", "version": 3, "id": "p1", "timestamp": "2025-11-01T00:00:00Z", "cwd": "/w"}
    answer = {
        "role": "assistant",
        "provider": "local",
        "model": "home-brew-7b",
        "content": [{"type": "text", "text": "hi"}],
        "usage": {"input": 10, "output": 5, "cost": {"total": 0.42}},
        "timestamp": 1761955201000,
    }
    entry = {
        "type": "message",
        "id": "e1",
        "parentId": None,
        "timestamp": "2025-11-01T00:00:01Z",
        "message": answer,
    }
    pi.write_text(json.dumps(header) + "\n" + json.dumps(entry) + "\n", encoding="utf-8")
    got = report(tmp_path)
    assert got.groups[0].cost_usd == pytest.approx(0.42) and got.unpriced == []


def test_sessions_gather_sub_agents_under_their_parent(tmp_path):
    at = day(2025, 7, 1)
    session_file(tmp_path, "s1", [response("s1", 0, at)])
    sub = tmp_path / "projects" / "-work-app" / "s1" / "subagents" / "agent-a1.jsonl"
    sub.parent.mkdir(parents=True)
    record = response("s1", 5, at + dt.timedelta(minutes=3), model="claude-haiku-4-5")
    record["isSidechain"], record["agentId"] = True, "a1"
    sub.write_text(json.dumps(record) + "\n", encoding="utf-8")
    (session,) = report(tmp_path, "session").groups
    assert session.key["session_id"] == "s1" and session.sums["responses"] == 2
    assert sorted(r["model"] for r in session.breakdown) == ["claude-haiku-4-5", "claude-sonnet-4-5"]
    assert {r["traces"] for r in session.breakdown} == {1}
    assert session.last_at == at + dt.timedelta(minutes=3)


def test_the_usage_cache_reads_only_new_and_changed_files(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    session_file(tmp_path / "data", "s1", [response("s1", 0, day(2025, 8, 1))])
    session_file(tmp_path / "data", "s2", [response("s2", 0, day(2025, 8, 2))])
    first = report(tmp_path / "data", cache_dir=str(cache))
    assert (first.parsed, first.cached) == (2, 0)
    again = report(tmp_path / "data", cache_dir=str(cache))
    assert (again.parsed, again.cached) == (0, 2) and again.totals == first.totals
    session_file(tmp_path / "data", "s2", [response("s2", 0, day(2025, 8, 2), output=99)])
    changed = report(tmp_path / "data", cache_dir=str(cache))
    assert (changed.parsed, changed.cached) == (1, 1)
    assert changed.totals["output_tokens"] == 10 + 99
    (tmp_path / "data" / "projects" / "-work-app" / "s1.jsonl").unlink()
    assert report(tmp_path / "data", cache_dir=str(cache)).totals["output_tokens"] == 99


# --- the command line ---------------------------------------------------------------------------


def run_cli(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, ["usage", *args], env=env, catch_exceptions=False)


def test_cli_reads_the_agents_default_folders(tmp_path, monkeypatch):
    claude = tmp_path / "claude-config"
    session_file(claude, "s1", [response("s1", 0, day(2025, 4, 1), output=7)])
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(claude))
    monkeypatch.chdir(tmp_path)
    result = run_cli("daily", "--json", "--timezone", "UTC")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["daily"][0]["day"] == "2025-04-01" and data["timezone"] == "UTC"
    assert data["totals"]["output_tokens"] == 7 and data["files"] == {
        "read": 1,
        "from_cache": 0,
        "problems": 0,
    }
    assert data["sources"] == [str(claude / "projects")]
    again = json.loads(run_cli("daily", "--json", "--timezone", "UTC").stdout)
    assert again["files"]["from_cache"] == 1 and again["totals"] == data["totals"]
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "nothing-here"))
    missing = CliRunner().invoke(main, ["usage"])
    assert missing.exit_code == 1 and "no agent session folders found" in missing.output


@pytest.mark.parametrize("kind", ["daily", "monthly", "session", "blocks"])
def test_cli_tables_fit_narrow_terminals(tmp_path, kind, monkeypatch, terminal):  # noqa: F811
    session_file(tmp_path, "s1", [response("s1", 0, day(2025, 4, 1), model="mystery-model")])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for width, compact in ((160, False), (70, True)):
        terminal(width)
        result = run_cli(kind, "--path", str(tmp_path), "-z", "UTC", "--breakdown")
        assert result.exit_code == 0, result.output
        lines = visible_lines(result.stdout)
        table = [line for line in lines if line.startswith(("┌", "│", "└"))]
        assert table and max(len(line) for line in table) <= width
        assert ("Cache Read" in result.stdout) is not compact
        assert "mystery-model" in result.stdout and "* not in the cost" in result.stdout


def test_cli_rejects_bad_dates_and_zones(tmp_path):
    assert run_cli("--since", "2025-13-01", "--path", str(tmp_path)).exit_code == 2
    bad = run_cli("--timezone", "Mars/Olympus", "--path", str(tmp_path))
    assert bad.exit_code == 1 and "unknown time zone" in bad.output
