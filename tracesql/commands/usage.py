"""`tracesql usage [daily|monthly|session|blocks]`: token use and cost of every agent's
sessions on this machine, no project needed (ccusage's reports, for five formats).

The usage of each file is read by its format's `read_usage` (readers/usage_scan.py: only
the lines that can hold usage, in worker processes, kept in a usage cache), then the very
SQL of the example project's usage models runs over it in an in-memory DuckDB: the
built-in usage macros (compile/macros/usage.sql). Prices and the time zone are those of
the project's profiles.yml when the command runs in one, else the bundled table and the
machine's zone; --timezone wins over both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracesql.compile.templating import ProjectTemplates
from tracesql.errors import TracesqlError
from tracesql.project.prices import bundled_prices, usage_jinja_globals
from tracesql.project.settings import UsageSettings, check_timezone

REPORTS = {  # report -> (macro, the columns a display row groups by)
    "daily": ("usage_daily", ("day",)),
    "monthly": ("usage_monthly", ("month",)),
    "session": ("usage_sessions", ("session_id", "source_kind")),
    "blocks": ("usage_blocks", ("source_kind", "block_start", "block_end", "last_activity", "is_active")),
}
SUMS = (
    "responses",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "total_tokens",
)


class UsageError(TracesqlError):
    """A usage report that cannot be made (no agent folder, a bad date or time zone)."""


@dataclass
class UsageRequest:
    report: str = "daily"
    since: dt.date | None = None
    until: dt.date | None = None
    paths: tuple[str, ...] = ()  # read these (any format, detected per file) instead of the default folders
    timezone: str | None = None
    settings: UsageSettings | None = None  # profiles.yml's usage: section, if in a project
    cache_dir: str | None = None  # the usage cache's folder; None: no cache


@dataclass
class UsageGroup:
    """One row of a report as shown: a day, month, session or block, over every format,
    project and model, and the rows of the usage model it sums (`breakdown`)."""

    key: dict[str, Any]
    source_kinds: list[str]
    models: list[str]
    sums: dict[str, int]
    cost_usd: float  # the cost of the responses that have one
    unpriced_tokens: int  # tokens of responses without a cost (not in cost_usd)
    breakdown: list[dict[str, Any]]
    first_at: dt.datetime | None = None
    last_at: dt.datetime | None = None


@dataclass
class UsageReport:
    report: str
    timezone: str
    prices_as_of: dt.date
    groups: list[UsageGroup] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)
    unpriced: list[dict[str, Any]] = field(default_factory=list)  # usage_unpriced rows
    sources: list[str] = field(default_factory=list)
    files: int = 0
    parsed: int = 0
    cached: int = 0
    problems: list[str] = field(default_factory=list)  # diagnostics, as text

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-able data (`--json`)."""
        name = {"session": "sessions"}.get(self.report, self.report)
        rows = []
        for group in self.groups:
            row: dict[str, Any] = {**group.key, "source_kinds": group.source_kinds, "models": group.models}
            row.update(group.sums)
            row["cost_usd"] = group.cost_usd
            row["unpriced_tokens"] = group.unpriced_tokens
            if group.first_at is not None:
                row["first_at"], row["last_at"] = group.first_at, group.last_at
            row["breakdown"] = group.breakdown
            rows.append(row)
        return {
            "report": self.report,
            "timezone": self.timezone,
            "prices_as_of": self.prices_as_of,
            name: rows,
            "totals": self.totals,
            "unpriced_models": self.unpriced,
            "sources": self.sources,
            "files": {"read": self.parsed, "from_cache": self.cached, "problems": len(self.problems)},
        }


def usage_report(request: UsageRequest) -> UsageReport:
    """Read the usage of the default folders (or `request.paths`) and make the report."""
    import duckdb

    from tracesql.readers.usage_scan import UsageSource, default_sources, scan_usage

    if request.report not in REPORTS:
        raise UsageError(f"unknown usage report {request.report!r} (one of {', '.join(REPORTS)})")
    if request.timezone is not None:
        try:
            check_timezone(request.timezone)
        except ValueError as exc:
            raise UsageError(f"--timezone: {exc}") from None
    sources = [UsageSource("auto", path) for path in request.paths] or default_sources()
    if not sources:
        raise UsageError(
            "no agent session folders found (looked for ~/.claude/projects, ~/.config/claude/projects, "
            "~/.codex/sessions, ~/.pi/agent/sessions, ~/.hermes/sessions); give one with --path"
        )
    scan = scan_usage(sources, request.cache_dir)
    usage_globals = usage_jinja_globals(request.settings, request.timezone)
    report = UsageReport(request.report, usage_globals["usage_timezone"](), bundled_prices().as_of)
    report.sources = [s.path for s in sources]
    report.files, report.parsed, report.cached = scan.files, scan.parsed, scan.cached
    report.problems = [str(d) for d in scan.diagnostics]
    con = duckdb.connect()
    try:
        con.register("usage_traces", scan.table)
        sql = UsageSQL(usage_globals)
        window = _day_window(request.since, request.until)
        con.execute(
            f"create view usage_entries as select * from ({sql.render('usage_entries', 'usage_traces')}) {window}"
        )
        macro, group_by = REPORTS[request.report]
        breakdown = _records(con, sql.render(macro, "usage_entries"))
        report.unpriced = _records(
            con, sql.render("usage_unpriced", "usage_entries") + " order by total_tokens desc"
        )
    finally:
        con.close()
    report.groups = _groups(breakdown, group_by)
    report.totals = _totals(report.groups)
    return report


class UsageSQL:
    """The built-in usage macros, rendered outside any project."""

    def __init__(self, usage_globals: dict[str, Any]) -> None:
        self.templates = ProjectTemplates(Path.cwd(), [], usage_globals)
        self.count = 0

    def render(self, macro: str, relation: str) -> str:
        self.count += 1
        name = f"<tracesql usage {self.count}>"
        path = Path(name)
        self.templates.register(path, f"{{{{ {macro}({relation!r}) }}}}", name)
        return self.templates.render(name, path, {}, None)


def _day_window(since: dt.date | None, until: dt.date | None) -> str:
    if since is not None and until is not None and since > until:
        raise UsageError(f"--since {since} is after --until {until}")
    conditions = []
    if since is not None:
        conditions.append(f"day >= date '{since.isoformat()}'")
    if until is not None:
        conditions.append(f"day <= date '{until.isoformat()}'")
    return f"where {' and '.join(conditions)}" if conditions else ""


def _records(con: Any, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _groups(rows: list[dict[str, Any]], group_by: tuple[str, ...]) -> list[UsageGroup]:
    by_key: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        by_key.setdefault(tuple(row[c] for c in group_by), []).append(row)
    groups = []
    for key, members in by_key.items():
        members.sort(key=lambda r: (-(r["total_tokens"] or 0), str(r["model"])))
        group = UsageGroup(
            key=dict(zip(group_by, key, strict=True)),
            source_kinds=sorted({r["source_kind"] for r in members}),
            models=sorted({r["model"] for r in members if r["model"]}),
            sums={s: sum(r[s] or 0 for r in members) for s in SUMS},
            cost_usd=sum(r["cost_usd"] for r in members if r["cost_usd"] is not None),
            unpriced_tokens=sum(r["total_tokens"] or 0 for r in members if r["cost_usd"] is None),
            breakdown=[
                {k: v for k, v in r.items() if k not in group_by or k == "source_kind"} for r in members
            ],
        )
        if "first_at" in members[0]:
            group.first_at = min((r["first_at"] for r in members if r["first_at"]), default=None)
            group.last_at = max((r["last_at"] for r in members if r["last_at"]), default=None)
        groups.append(group)
    groups.sort(key=lambda g: _order(g, group_by))
    return groups


def _order(group: UsageGroup, group_by: tuple[str, ...]) -> tuple:
    """Oldest first; a session by its last activity; no date last."""
    if group_by[0] == "session_id":
        moment = group.last_at
        return (moment is None, moment.timestamp() if moment else 0.0, group.key["session_id"] or "")
    value = group.key[group_by[0] if group_by[0] != "source_kind" else "block_start"]
    return (value is None, str(value), group.key.get("source_kind") or "")


def _totals(groups: list[UsageGroup]) -> dict[str, Any]:
    totals: dict[str, Any] = {s: sum(g.sums[s] for g in groups) for s in SUMS}
    totals["cost_usd"] = sum(g.cost_usd for g in groups)
    totals["unpriced_tokens"] = sum(g.unpriced_tokens for g in groups)
    return totals
