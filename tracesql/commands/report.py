"""`tracesql report MODEL`: what a built dataset holds, as numbers computed in SQL.

    data = report_data(project, "sft_dataset")       # a ReportData; every number from SQL
    path, data = write_report(project, "sft_dataset")  # report_html.py: target/reports/sft_dataset.html

Which columns are scores, the keep flag, the drop reason, the source... is declared in the
model's YAML, `meta: {dataset: {...}}` (commands/datasets.py). What the LLM steps cost is
read from `llm_calls`: the calls whose request hash is in the row's `request_hashes`
columns (every attempt and re-ask of the values the dataset holds), else every call made
while building the model or its ancestors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tracesql.commands.datasets import DatasetColumns
from tracesql.connection import Connection
from tracesql.errors import ProjectError
from tracesql.execution.materialize import relation_type
from tracesql.project.nodes import Relation
from tracesql.project.project import Project
from tracesql.sqltext import quote, string_literal

TOP = 5  # slowest and most expensive traces shown
SAMPLES = 3  # sample records of each kind (kept, dropped)


@dataclass
class AgentUsage:
    """What the traces' agents used and cost (the project's usage_daily model, docs/usage.md),
    shown beside what the distillation's own LLM calls cost."""

    # (day, total tokens, cost of the priced responses, tokens of responses without a price)
    by_day: list[tuple[Any, int, float, int]]
    by_model: list[dict[str, Any]]  # per agent format and model: responses, tokens, cost (NULL: unpriced)
    unpriced_tokens: int


@dataclass
class ReportData:
    model: str
    rows: int
    columns: DatasetColumns
    by_source: list[tuple[str, int, int]] = field(default_factory=list)  # (source, rows, kept)
    scores: dict[str, list[tuple[Any, int]]] = field(default_factory=dict)  # criterion -> (value, rows)
    score_means: dict[str, float | None] = field(default_factory=dict)
    kept: int | None = None  # rows whose keep flag is true (None: no keep flag declared)
    drop_reasons: list[tuple[str, int]] = field(default_factory=list)  # of the rows not kept
    llm: list[dict[str, Any]] = field(default_factory=list)  # per model alias
    slowest: list[dict[str, Any]] = field(default_factory=list)
    costliest: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    usage: AgentUsage | None = None  # the agents' own spend, when the project has usage_daily built

    @property
    def keep_rate(self) -> float | None:
        return None if self.kept is None or not self.rows else self.kept / self.rows

    @property
    def cost_usd(self) -> float | None:
        costs = [a["cost_usd"] for a in self.llm if a["cost_usd"] is not None]
        return sum(costs) if costs else None

    @property
    def tokens(self) -> int:
        return sum((a["input_tokens"] or 0) + (a["output_tokens"] or 0) for a in self.llm)

    def headline(self) -> list[tuple[str, str]]:
        """The numbers `tracesql report` prints."""
        lines = [("rows", str(self.rows))]
        if self.by_source:
            lines.append(("sources", ", ".join(f"{s} {n}" for s, n, _ in self.by_source)))
        if self.kept is not None:
            rate = f" ({self.keep_rate:.0%})" if self.keep_rate is not None else ""
            lines.append((f"kept ({self.columns.keep})", f"{self.kept}{rate}"))
        if self.drop_reasons:
            lines.append(("top drop reason", f"{self.drop_reasons[0][0]} ({self.drop_reasons[0][1]})"))
        for name, mean in self.score_means.items():
            lines.append((f"mean {name}", "-" if mean is None else f"{mean:.2f}"))
        if self.llm:
            calls = sum(a["attempts"] for a in self.llm)
            lines.append(("LLM calls", f"{calls} ({sum(a['cache_hits'] for a in self.llm)} cache hits)"))
            lines.append(("LLM tokens", f"{self.tokens:,}"))
            cost = self.cost_usd
            lines.append(("LLM cost", "no prices configured" if cost is None else f"${cost:.4f}"))
        return lines


def report_data(project: Project, model: str) -> ReportData:
    """Every number of the report, from SQL over the built model (read-only)."""
    node = project.models.get(model)
    if node is None:
        raise ProjectError(f"no model named '{model}'{project.suggest(model)}")
    columns = DatasetColumns.of(node)
    with project.connect_for_reading() as con:
        if not relation_type(con.duckdb, node.relation):
            raise ProjectError(
                f"model '{model}' is not built yet: run `tracesql run -s +{model}` first", model=model
            )
        relation = str(node.relation)
        names = con.sql(f"SELECT * FROM {relation}").columns
        _check_declared(model, columns, names)
        data = ReportData(model, _scalar(con, f"SELECT count(*) FROM {relation}"), columns)
        keep = quote(columns.keep) if columns.keep else None
        if columns.source:
            kept = f"count(*) FILTER ({keep})" if keep else "0"
            data.by_source = _rows(
                con,
                f"SELECT coalesce({quote(columns.source)}::VARCHAR, 'NULL'), count(*), {kept} FROM {relation}"
                " GROUP BY 1 ORDER BY 2 DESC, 1",
            )
        for score in columns.scores:
            counts = _rows(
                con, f"SELECT {quote(score)}, count(*) FROM {relation} GROUP BY 1 ORDER BY 1 NULLS LAST"
            )
            data.scores[score] = _with_range(counts, columns.score_range)
            data.score_means[score] = _scalar(con, f"SELECT avg({quote(score)}) FROM {relation}")
        if keep:
            data.kept = _scalar(con, f"SELECT count(*) FROM {relation} WHERE {keep}")
            if columns.drop_reason:
                data.drop_reasons = _rows(
                    con,
                    f"SELECT coalesce({quote(columns.drop_reason)}, '(none given)'), count(*) FROM {relation}"
                    f" WHERE {keep} IS NOT TRUE GROUP BY 1 ORDER BY 2 DESC, 1",
                )
        costs = _call_costs(project, con, node.name, relation, columns)
        data.llm = _llm_by_alias(con, costs)
        _traces(con, data, relation, columns, costs, names)
        data.samples = _samples(con, relation, columns, names)
        data.usage = _agent_usage(project, con)
    return data


def _agent_usage(project: Project, con: Connection) -> AgentUsage | None:
    node = project.models.get("usage_daily")
    if node is None or not relation_type(con.duckdb, node.relation):
        return None
    daily = str(node.relation)
    by_day = _rows(
        con,
        f"SELECT day, sum(total_tokens)::BIGINT, coalesce(sum(cost_usd), 0),"
        f" coalesce(sum(total_tokens) FILTER (WHERE cost_usd IS NULL), 0)::BIGINT FROM {daily}"
        " GROUP BY day ORDER BY day NULLS LAST",
    )
    by_model = _dicts(
        con,
        "SELECT source_kind, model, sum(responses)::BIGINT AS responses, sum(input_tokens)::BIGINT AS input_tokens,"
        " sum(output_tokens)::BIGINT AS output_tokens, sum(cache_read_tokens)::BIGINT AS cache_read_tokens,"
        " sum(cache_write_tokens)::BIGINT AS cache_write_tokens, sum(total_tokens)::BIGINT AS total_tokens,"
        " CASE WHEN count(*) = count(cost_usd) THEN sum(cost_usd) END AS cost_usd"
        f" FROM {daily} GROUP BY ALL ORDER BY total_tokens DESC, model",
    )
    unpriced = sum(m["total_tokens"] or 0 for m in by_model if m["cost_usd"] is None)
    days = [(d, int(t or 0), float(c), int(u)) for d, t, c, u in by_day]
    return AgentUsage(days, by_model, unpriced)


def _with_range(
    counts: list[tuple[Any, ...]], score_range: tuple[float, float] | None
) -> list[tuple[Any, int]]:
    """Every whole value of the declared range, 0 rows where none has it (then the others)."""
    found = {value: n for value, n in counts}
    if score_range is None:
        return [(value, n) for value, n in counts]
    low, high = int(score_range[0]), int(score_range[1])
    whole = [(value, found.pop(value, 0)) for value in range(low, high + 1)]
    return whole + sorted(found.items(), key=lambda item: (item[0] is None, str(item[0])))


def _check_declared(model: str, columns: DatasetColumns, names: list[str]) -> None:
    declared = [
        c
        for c in (columns.source, columns.keep, columns.drop_reason, columns.duration, columns.tokens)
        if c is not None
    ]
    declared += [*columns.scores, *columns.request_hashes, *columns.samples]
    missing = [c for c in declared if c not in names]
    if missing:
        raise ProjectError(
            f"meta.dataset of model '{model}' names '{missing[0]}', which is not one of its columns "
            f"({', '.join(names)})",
            model=model,
        )


def _call_costs(
    project: Project, con: Connection, model: str, relation: str, columns: DatasetColumns
) -> str | None:
    """A subquery of the llm_calls rows this dataset paid for, with the row's trace key
    (when request hashes are declared), or None when there is no llm_calls table."""
    if relation_type(con.duckdb, Relation("llm_calls")) is None:
        return None
    if columns.request_hashes:
        trace = quote(columns.trace) if columns.trace else "NULL"
        hashes = ", ".join(quote(c) for c in columns.request_hashes)
        return (
            f"SELECT c.*, h.__trace FROM llm_calls AS c JOIN (SELECT DISTINCT {trace} AS __trace, unnest([{hashes}])"
            f" AS __hash FROM {relation}) AS h ON c.request_hash = h.__hash"
        )
    assert project.graph is not None
    names = [project.graph.nodes[uid].name for uid in project.graph.ancestors(f"model.{model}")] + [model]
    listed = ", ".join(string_literal(n) for n in names)
    return f"SELECT *, NULL AS __trace FROM llm_calls WHERE project_model IN ({listed})"


def _llm_by_alias(con: Connection, costs: str | None) -> list[dict[str, Any]]:
    if costs is None:
        return []
    keys = [
        "model_alias",
        "requests",
        "attempts",
        "cache_hits",
        "errors",
        "input_tokens",
        "output_tokens",
        "cost_usd",
    ]
    rows = _rows(
        con,
        f"SELECT model_alias, count(DISTINCT request_hash), count(*) FILTER (attempt >= 1),"
        f" count(*) FILTER (cache_hit), count(*) FILTER (final AND error IS NOT NULL),"
        f" sum(input_tokens) FILTER (attempt >= 1), sum(output_tokens) FILTER (attempt >= 1),"
        f" sum(cost_usd) FROM ({costs}) GROUP BY 1 ORDER BY 1",
    )
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _traces(
    con: Connection,
    data: ReportData,
    relation: str,
    columns: DatasetColumns,
    costs: str | None,
    names: list[str],
) -> None:
    """The slowest traces (declared duration) and the most expensive (LLM cost, else tokens)."""
    trace = columns.trace if columns.trace in names else None
    if trace is None:
        return
    label = quote(trace)
    if columns.duration:
        data.slowest = _dicts(
            con,
            f"SELECT {label} AS trace, {quote(columns.duration)} AS seconds FROM {relation}"
            f" WHERE {quote(columns.duration)} IS NOT NULL ORDER BY 2 DESC, 1 LIMIT {TOP}",
        )
    if costs is not None and columns.request_hashes:
        data.costliest = _dicts(
            con,
            f"SELECT __trace AS trace, sum(cost_usd) AS cost_usd, sum(coalesce(input_tokens, 0)"
            f" + coalesce(output_tokens, 0)) FILTER (attempt >= 1) AS llm_tokens, sum(latency_ms) AS latency_ms"
            f" FROM ({costs}) GROUP BY 1 ORDER BY cost_usd DESC NULLS LAST, llm_tokens DESC NULLS LAST, 1 LIMIT {TOP}",
        )
    elif columns.tokens:
        data.costliest = _dicts(
            con,
            f"SELECT {label} AS trace, {quote(columns.tokens)} AS tokens FROM {relation}"
            f" ORDER BY 2 DESC NULLS LAST, 1 LIMIT {TOP}",
        )


def _samples(
    con: Connection, relation: str, columns: DatasetColumns, names: list[str]
) -> list[dict[str, Any]]:
    shown = [c for c in (columns.trace, *columns.samples) if c and c in names]
    if not shown:
        shown = names[:6]
    select = ", ".join(quote(c) for c in shown)
    order = quote(columns.trace) if columns.trace in names else "ALL"
    if not columns.keep:
        return _dicts(con, f"SELECT {select} FROM {relation} ORDER BY {order} LIMIT {SAMPLES}")
    keep = quote(columns.keep)
    picked = []
    for kept in (True, False):
        condition = keep if kept else f"{keep} IS NOT TRUE"
        rows = _dicts(
            con, f"SELECT {select} FROM {relation} WHERE {condition} ORDER BY {order} LIMIT {SAMPLES}"
        )
        picked += [{"kept": kept, **row} for row in rows]
    return picked


def _scalar(con: Connection, sql: str) -> Any:
    return con.execute(sql).fetchall()[0][0]


def _rows(con: Connection, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in con.execute(sql).fetchall()]


def _dicts(con: Connection, sql: str) -> list[dict[str, Any]]:
    relation = con.sql(sql)
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]
