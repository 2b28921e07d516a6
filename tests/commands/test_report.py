"""`tracesql report`: the example project's dataset, built against the scripted server with
varied judgements and priced aliases; every chart's numbers equal SQL aggregates, the
page needs no network, and a real browser shows it without a console message."""

from __future__ import annotations

import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.commands.browser import distinct_colours, load_page
from tests.conftest import require_extra, write_files
from tests.llm.fake_server import FakeLLMServer, RecordedRequest, default_answer
from tests.test_example_project import SCORES, cli, project, rows  # noqa: F401  (project is a fixture)

PRICES = "    input_price_per_mtok: 0.5\n    output_price_per_mtok: 1.5\n"


def varied(request: RecordedRequest):
    """Schema-valid answers whose judge scores (0-4) and training values depend on the
    prompt, so some pairs are kept and others dropped for different reasons."""
    answer = default_answer(request)
    props = (request.schema or {}).get("properties", {})
    digest = hashlib.sha256(request.prompt.encode()).digest()
    if "training_value" in props:
        answer["training_value"] = ["high", "high", "medium", "low"][digest[0] % 4]
    if set(SCORES) <= set(props):
        for i, name in enumerate(SCORES):
            answer[name] = {"score": 4 if digest[i] % 3 else digest[i] % 5, "reasoning": "scripted"}
    return answer


def build_and_report(root: Path, monkeypatch) -> tuple[Path, str]:
    profiles = (root / "profiles.yml").read_text()
    model_line = next(line for line in profiles.splitlines(keepends=True) if "TRACESQL_LLM_MODEL" in line)
    (root / "profiles.yml").write_text(profiles.replace(model_line, model_line + PRICES))  # the local alias
    with FakeLLMServer(default=varied) as server:
        monkeypatch.setenv("TRACESQL_LLM_BASE_URL", server.url)
        monkeypatch.setenv("TRACESQL_LLM_API_KEY", "test-key-not-a-secret")
        built = cli(root, "run", "--vars", "{llm_model: local}")
        assert built.exit_code == 0, built.output
    out = root / "target" / "reports" / "sft_dataset.html"
    result = cli(root, "report", "sft_dataset")
    assert result.exit_code == 0, result.output
    return out, result.stdout


class Charts(HTMLParser):
    """The bars of every chart, the embedded data, and every attribute that could load something."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: dict[str, list[tuple[str, float]]] = {}
        self.texts: dict[str, list[str]] = {}  # the text beside each chart's bars
        self.in_text = False
        self.current: str | None = None
        self.data_json = ""
        self.in_data = False
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.append((tag, values))
        if tag == "svg":
            self.current = values.get("data-chart")
            self.charts[self.current or ""] = []
            self.texts[self.current or ""] = []
        elif tag == "text" and self.current:
            self.in_text = True
        elif tag == "rect" and self.current and "kept" not in (values.get("class") or "").split():
            self.charts[self.current].append((values["data-label"] or "", float(values["data-value"] or 0)))
        elif tag == "script" and values.get("id") == "report-data":
            self.in_data = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "text":
            self.in_text = False
        if tag == "svg":
            self.current = None
        if tag == "script":
            self.in_data = False

    def handle_data(self, data: str) -> None:
        if self.in_text and self.current:
            self.texts[self.current].append(data)
        if self.in_data:
            self.data_json += data


@pytest.fixture
def reported(project, monkeypatch):  # noqa: F811
    return (project, *build_and_report(project, monkeypatch))


def test_every_chart_equals_its_sql_aggregate(reported):
    root, page, printed = reported
    charts = Charts()
    charts.feed(page.read_text())

    def bars(sql: str) -> list[tuple[str, float]]:
        return [(str(label), float(n)) for label, n in rows(root, sql)]

    assert charts.charts["rows_by_source"] == bars(
        "SELECT source_kind, count(*) FROM sft_dataset GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    (total, kept) = rows(root, "SELECT count(*), count(*) FILTER (recommended_for_sft) FROM sft_dataset")[0]
    assert 0 < kept < total, "the scripted judge keeps some rows and drops others"
    assert charts.charts["keep"] == [("kept", kept), ("dropped", total - kept)]
    assert charts.charts["drop_reasons"] == bars(
        "SELECT drop_reason, count(*) FROM sft_dataset WHERE NOT recommended_for_sft GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    for name in SCORES:
        counts = dict(rows(root, f"SELECT {name}_score, count(*) FROM sft_dataset GROUP BY 1"))
        assert charts.charts[f"score:{name}_score"] == [(str(v), float(counts.get(v, 0))) for v in range(5)]
    calls = rows(
        root,
        "SELECT c.model_alias, sum(c.input_tokens + c.output_tokens) FILTER (attempt >= 1), sum(c.cost_usd) "
        "FROM llm_calls c WHERE c.request_hash IN (SELECT unnest([digest_request_hash, record_request_hash, "
        "judgement_request_hash]) FROM sft_dataset) GROUP BY 1 ORDER BY 1",
    )
    assert charts.charts["llm_tokens"] == [(alias, float(tokens)) for alias, tokens, _ in calls]
    data = json.loads(charts.data_json)
    assert data["rows"] == total and data["kept"] == kept
    assert data["llm"][0]["cost_usd"] == pytest.approx(calls[0][2])
    slowest = rows(
        root,
        "SELECT trace_key, trace_seconds FROM sft_dataset WHERE trace_seconds IS NOT NULL ORDER BY 2 DESC, 1 LIMIT 5",
    )
    assert [(r["trace"], r["seconds"]) for r in data["slowest"]] == slowest
    assert re.search(rf"^│ rows\s+│ {total}\s+│$", printed, flags=re.M)
    assert re.search(rf"kept \(recommended_for_sft\)\s+│ {kept} \({kept / total:.0%}\)", printed)
    assert f"${calls[0][2]:.4f}" in printed and f"Report: {page}" in printed


def test_the_page_loads_nothing_from_anywhere(reported):
    _, page, _ = reported
    text = page.read_text()
    charts = Charts()
    charts.feed(text)
    for tag, attrs in charts.tags:
        assert tag not in ("link", "img", "iframe", "object", "embed", "video", "audio", "source")
        for name in ("src", "href", "srcset", "action", "data", "xlink:href", "poster"):
            assert name not in attrs, (tag, attrs)
    assert not re.search(r"url\s*\(|@import", text)
    assert not re.search(r"""<[^>]*\b\w+\s*=\s*["']?(https?:)?//""", text)  # no attribute holds an address


def test_a_real_browser_shows_it_without_console_messages(reported, tmp_path):
    chromium = require_extra("chromium")
    _, page, _ = reported
    shot = page.with_suffix(".png")
    loaded = load_page(chromium, page, shot, tmp_path / "chromium-profile")
    assert loaded.console == []
    assert shot.stat().st_size > 20_000
    assert distinct_colours(shot) > 20  # a blank page has one or two


def test_declared_columns_must_exist(tmp_path):
    root = write_files(
        tmp_path / "p",
        {
            "models/d.sql": "{{ config(materialized='table') }} select 1 as trace_key, true as keep_me",
            "models/d.yml": "models:\n  - name: d\n    meta: {dataset: {keep: keep_me, scores: [nope]}}\n",
        },
    )
    assert cli(root, "run").exit_code == 0
    result = cli(root, "report", "d")
    assert result.exit_code == 1
    assert (
        "meta.dataset of model 'd' names 'nope', which is not one of its columns (trace_key, keep_me)"
        in result.stderr
    )


def test_the_agents_usage_is_beside_the_llm_spend(reported):
    """The project has models/usage/ built: the page shows what the traces' own sessions
    used and cost (usage_daily), cost per day as a chart, per model as a table."""
    root, page, _printed = reported
    charts = Charts()
    charts.feed(page.read_text())
    by_day = rows(
        root, "SELECT day, coalesce(sum(cost_usd), 0) FROM usage_daily GROUP BY 1 ORDER BY 1 NULLS LAST"
    )
    assert charts.charts["usage_cost_by_day"] == [
        ("NULL" if day is None else str(day), pytest.approx(round(cost, 6))) for day, cost in by_day
    ]
    # a day whose every response has no price says so beside its bar, never "$0"
    unpriced_days = rows(
        root,
        "SELECT day, sum(total_tokens) FROM usage_daily GROUP BY 1 HAVING count(cost_usd) = 0 ORDER BY 1",
    )
    assert unpriced_days  # the examples have Claude Code days on models without a price
    for _day, tokens in unpriced_days:
        assert f"- ({tokens:,} tokens without a price)" in charts.texts["usage_cost_by_day"]
    data = json.loads(charts.data_json)["usage"]
    per_model = rows(
        root,
        "SELECT model, sum(total_tokens), CASE WHEN count(*) = count(cost_usd) THEN sum(cost_usd) END "
        "FROM usage_daily GROUP BY source_kind, model ORDER BY 2 DESC, 1",
    )
    assert [(m["model"], m["total_tokens"]) for m in data["by_model"]] == [(m, t) for m, t, _ in per_model]
    unpriced = sum(t for _, t, cost in per_model if cost is None)
    assert unpriced > 0 and data["unpriced_tokens"] == unpriced  # the examples use models without a price
    assert "Agent usage" in page.read_text() and "usage: prices:" in page.read_text()
