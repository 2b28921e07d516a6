"""The report as one self-contained HTML file: inline CSS, inline SVG charts, a few lines
of inline JavaScript, no resource from anywhere (it opens offline, from a mail or a CI
artifact).

Every chart is an `<svg data-chart="...">` whose bars carry `data-label` and `data-value`
(the numbers ReportData holds, which tests compare with SQL aggregates), and the whole
ReportData is embedded as JSON in `<script type="application/json" id="report-data">`.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import orjson

from tracesql.commands.report import ReportData, report_data
from tracesql.project.project import Project
from tracesql.rows import json_default
from tracesql.version import __version__

BAR_HEIGHT = 22
CHART_WIDTH = 520
LABEL_WIDTH = 190

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d2733; background: #f5f7fa; }
header { background: #1d2733; color: #fff; padding: 18px 32px; }
header h1 { margin: 0; font-size: 22px; } header p { margin: 4px 0 0; color: #b8c4d3; }
main { padding: 16px 32px 40px; display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 16px; }
section { background: #fff; border: 1px solid #dde3ea; border-radius: 8px; padding: 14px 18px; }
section.wide { grid-column: 1 / -1; }
h2 { font-size: 16px; margin: 0 0 10px; }
.tiles { display: flex; flex-wrap: wrap; gap: 12px; }
.tile { background: #eef3f8; border-radius: 6px; padding: 10px 14px; min-width: 120px; }
.tile b { display: block; font-size: 22px; } .tile span { color: #5a6b7d; font-size: 12px; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e6eaef; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
svg[data-chart] { max-width: 100%; height: auto; }
svg text { font: 12px system-ui, sans-serif; fill: #1d2733; }
svg rect.bar { fill: #3b7dd8; } svg rect.bar.kept { fill: #2e9e6a; } svg rect.bar.hot { fill: #d9822b; }
.empty { color: #7b8a9a; font-style: italic; }
details { border-bottom: 1px solid #e6eaef; padding: 6px 0; } summary { cursor: pointer; }
pre { white-space: pre-wrap; word-break: break-word; background: #f7f9fb; padding: 8px; border-radius: 4px; margin: 6px 0; }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 12px; background: #e3ecf7; }
.badge.kept { background: #dff3e8; } .badge.dropped { background: #f8e6d6; }
"""

# highlights the bar under the pointer and shows its value in the chart's caption
SCRIPT = """
document.querySelectorAll("svg[data-chart]").forEach(function (chart) {
  var caption = chart.parentNode.querySelector(".caption");
  chart.querySelectorAll("rect.bar").forEach(function (bar) {
    bar.addEventListener("mouseenter", function () {
      bar.classList.add("hot");
      if (caption) { caption.textContent = bar.dataset.label + ": " + bar.dataset.value; }
    });
    bar.addEventListener("mouseleave", function () { bar.classList.remove("hot"); });
  });
});
"""


def render(data: ReportData, project: str) -> str:
    """The whole report page."""
    sections = [
        _section("Summary", _tiles(data), wide=True),
        _section("Rows by source", _by_source(data)),
        _section("Kept and dropped", _keep(data)),
        *[
            _section(f"Scores: {name}", _chart(f"score:{name}", [(_label(v), n) for v, n in dist]))
            for name, dist in data.scores.items()
        ],
        _section("LLM use and cost per model alias", _llm(data), wide=True),
        *(
            [_section("Agent usage: what the traces' sessions used and cost", _usage(data), wide=True)]
            if data.usage
            else []
        ),
        _section("Slowest traces", _top(data.slowest)),
        _section("Most expensive traces", _top(data.costliest)),
        _section("Sample records", _samples(data), wide=True),
    ]
    blob = orjson.dumps(_as_json(data), default=json_default).decode().replace("<", "\\u003c")
    title = f"{data.model}: dataset report"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{_e(title)}</title>'
        f"<style>{CSS}</style></head><body>"
        f"<header><h1>{_e(title)}</h1><p>project {_e(project)} · tracesql {__version__}</p></header>"
        f"<main>{''.join(sections)}</main>"
        f'<script type="application/json" id="report-data">{blob}</script>'
        f"<script>{SCRIPT}</script></body></html>\n"
    )


def _as_json(data: ReportData) -> dict[str, Any]:
    return {
        "model": data.model,
        "rows": data.rows,
        "by_source": data.by_source,
        "scores": {name: [[v, n] for v, n in dist] for name, dist in data.scores.items()},
        "score_means": data.score_means,
        "kept": data.kept,
        "keep_rate": data.keep_rate,
        "drop_reasons": data.drop_reasons,
        "llm": data.llm,
        "slowest": data.slowest,
        "costliest": data.costliest,
        "samples": data.samples,
        "usage": data.usage,
    }


def _e(value: Any) -> str:
    return html.escape("NULL" if value is None else str(value), quote=True)


def _label(value: Any) -> str:
    return "NULL" if value is None else str(value)


def _section(title: str, body: str, *, wide: bool = False) -> str:
    opening = '<section class="wide">' if wide else "<section>"
    return f"{opening}<h2>{_e(title)}</h2>{body}</section>"


def _tiles(data: ReportData) -> str:
    tiles = [(str(data.rows), "rows")]
    if data.kept is not None:
        rate = data.keep_rate
        tiles.append((f"{data.kept}", f"kept ({data.columns.keep})"))
        tiles.append(("-" if rate is None else f"{rate:.0%}", "keep rate"))
    for name, mean in data.score_means.items():
        tiles.append(("-" if mean is None else f"{mean:.2f}", f"mean {name}"))
    if data.llm:
        cost = data.cost_usd
        tiles.append(("-" if cost is None else f"${cost:.4f}", "LLM cost"))
        tiles.append((f"{data.tokens:,}", "LLM tokens"))
    return (
        '<div class="tiles">'
        + "".join(f'<div class="tile"><b>{_e(v)}</b><span>{_e(k)}</span></div>' for v, k in tiles)
        + "</div>"
    )


def _chart(
    name: str,
    bars: list[tuple[str, float]],
    *,
    kept: list[float] | None = None,
    texts: list[str] | None = None,
) -> str:
    """A horizontal bar chart; `kept` draws a second, green bar per row (kept of the total);
    `texts` are shown beside the bars instead of their values."""
    if not bars:
        return '<p class="empty">no rows</p>'
    top = max((value for _, value in bars), default=0) or 1
    shown = [str(value) for _, value in bars] if texts is None else texts
    room = CHART_WIDTH - LABEL_WIDTH - 60
    width_all = LABEL_WIDTH + room + max(60, 7 * max(len(t) for t in shown) + 10)  # the longest text fits
    height = BAR_HEIGHT * len(bars) + 6
    parts = [
        f'<svg data-chart="{_e(name)}" width="{width_all}" height="{height}" viewBox="0 0 {width_all} {height}"'
        ' role="img">'
    ]
    for i, (label, value) in enumerate(bars):
        y = i * BAR_HEIGHT + 3
        width = max(room * value / top, 1 if value else 0)
        parts.append(f'<text x="{LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end">{_e(label[:28])}</text>')
        parts.append(
            f'<rect class="bar" data-label="{_e(label)}" data-value="{value}" x="{LABEL_WIDTH}" y="{y}"'
            f' width="{width:.1f}" height="{BAR_HEIGHT - 6}"><title>{_e(label)}: {value}</title></rect>'
        )
        if kept is not None:
            share = room * kept[i] / top
            parts.append(
                f'<rect class="bar kept" data-label="{_e(label)} kept" data-value="{kept[i]}" x="{LABEL_WIDTH}"'
                f' y="{y + 8}" width="{share:.1f}" height="{(BAR_HEIGHT - 6) / 2:.1f}"></rect>'
            )
        parts.append(f'<text x="{LABEL_WIDTH + width + 6:.1f}" y="{y + 15}">{_e(shown[i])}</text>')
    parts.append("</svg>")
    return "".join(parts) + '<p class="caption empty"></p>'


def _by_source(data: ReportData) -> str:
    if not data.columns.source:
        return '<p class="empty">no source column declared (meta.dataset.source)</p>'
    legend = '<p class="empty">blue: rows, green: kept</p>' if data.kept is not None else ""
    return legend + _chart(
        "rows_by_source",
        [(s, n) for s, n, _ in data.by_source],
        kept=[k for _, _, k in data.by_source] if data.kept is not None else None,
    )


def _keep(data: ReportData) -> str:
    if data.kept is None:
        return '<p class="empty">no keep flag declared (meta.dataset.keep)</p>'
    bars = _chart("keep", [("kept", data.kept), ("dropped", data.rows - data.kept)])
    reasons = _chart("drop_reasons", [(r, n) for r, n in data.drop_reasons]) if data.drop_reasons else ""
    return bars + ("<h2>Why rows were dropped</h2>" + reasons if reasons else "")


def _table(columns: list[str], rows: list[list[Any]], numeric: set[str]) -> str:
    head = "".join(f'<th class="num">{_e(c)}</th>' if c in numeric else f"<th>{_e(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_e(v)}</td>' if c in numeric else f"<td>{_e(v)}</td>"
            for c, v in zip(columns, row, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _llm(data: ReportData) -> str:
    if not data.llm:
        return '<p class="empty">no LLM calls recorded for this dataset (llm_calls)</p>'
    columns = list(data.llm[0])
    numeric = set(columns) - {"model_alias"}
    rows = [[_money(a[c]) if c == "cost_usd" else a[c] for c in columns] for a in data.llm]
    chart = _chart(
        "llm_tokens",
        [(a["model_alias"], (a["input_tokens"] or 0) + (a["output_tokens"] or 0)) for a in data.llm],
    )
    return _table(columns, rows, numeric) + "<h2>Tokens per alias</h2>" + chart


def _usage(data: ReportData) -> str:
    """The agents' own spend (usage_daily): totals, cost per day, and per model."""
    usage = data.usage
    assert usage is not None
    cost = sum(c for _, _, c, _ in usage.by_day)
    tokens = sum(t for _, t, _, _ in usage.by_day)
    tiles = [(f"{tokens:,}", "agent tokens"), (f"${cost:,.2f}", "agent cost (priced models)")]
    if usage.unpriced_tokens:
        tiles.append((f"{usage.unpriced_tokens:,}", "tokens of models without a price"))
    head = "".join(f'<div class="tile"><b>{_e(v)}</b><span>{_e(k)}</span></div>' for v, k in tiles)
    # a day's bar is what its priced responses cost; what has no price is said, never drawn as $0
    chart = _chart(
        "usage_cost_by_day",
        [(_label(day), round(c, 6)) for day, _, c, _ in usage.by_day],
        texts=[_day_cost(t, c, u) for _, t, c, u in usage.by_day],
    )
    columns = list(usage.by_model[0]) if usage.by_model else []
    rows = [[_money(m[c]) if c == "cost_usd" else m[c] for c in columns] for m in usage.by_model]
    table = _table(columns, rows, set(columns) - {"source_kind", "model"})
    note = (
        '<p class="empty">a cost of - is a model without a price: add it under usage: prices: in profiles.yml</p>'
        if usage.unpriced_tokens
        else ""
    )
    return f'<div class="tiles">{head}</div><h2>Cost per day (USD, models with a price)</h2>{chart}<h2>Per model</h2>{table}{note}'


def _day_cost(tokens: int, cost: float, unpriced: int) -> str:
    if unpriced == tokens:
        return f"- ({unpriced:,} tokens without a price)"
    return f"${cost:.4f}" + (f" + {unpriced:,} tokens without a price" if unpriced else "")


def _money(value: Any) -> str:
    return "-" if value is None else f"${value:.4f}"


def _top(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return (
            '<p class="empty">nothing to rank (declare meta.dataset.duration / tokens / request_hashes)</p>'
        )
    columns = list(rows[0])
    values = [[_money(r[c]) if c == "cost_usd" else _round(r[c]) for c in columns] for r in rows]
    return _table(columns, values, set(columns) - {"trace"})


def _round(value: Any) -> Any:
    return round(value, 2) if isinstance(value, float) else value


def _samples(data: ReportData) -> str:
    if not data.samples:
        return '<p class="empty">no rows</p>'
    parts = []
    for row in data.samples:
        kept = row.get("kept")
        badge = (
            ""
            if kept is None
            else f'<span class="badge {"kept" if kept else "dropped"}">{"kept" if kept else "dropped"}</span> '
        )
        fields = [(k, v) for k, v in row.items() if k != "kept"]
        title = " · ".join(_e(_text(v))[:120] for _, v in fields[:2])
        body = "".join(f"<div><b>{_e(k)}</b><pre>{_e(_text(v))}</pre></div>" for k, v in fields)
        parts.append(f"<details><summary>{badge}{title}</summary>{body}</details>")
    return "".join(parts)


def _text(value: Any) -> str:
    if isinstance(value, str) or value is None:
        return "NULL" if value is None else value
    return orjson.dumps(value, default=json_default, option=orjson.OPT_INDENT_2).decode()


def write_report(project: Project, model: str, output: str | None = None) -> tuple[Path, ReportData]:
    """Write the HTML report (default target/reports/MODEL.html); the path and its numbers."""
    data = report_data(project, model)
    path = Path(output or project.target_dir / "reports" / f"{model}.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(data, project.profile.name), encoding="utf-8")
    return path, data
