"""How `tracesql usage` looks: a ccusage-like table (a row per day, month, session or block,
a total row, costs in USD), compact on narrow terminals, and what has no price below it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

    from tracesql.commands.usage import UsageGroup, UsageReport

COMPACT_BELOW = 100  # terminal columns under which the cache columns are left out
TOKEN_COLUMNS = (
    ("Input", "input_tokens"),
    ("Output", "output_tokens"),
    ("Cache Create", "cache_write_tokens"),
    ("Cache Read", "cache_read_tokens"),
    ("Total Tokens", "total_tokens"),
)
COMPACT_TOKEN_COLUMNS = (("Input", "input_tokens"), ("Output", "output_tokens"))


def usage_table(report: UsageReport, width: int, breakdown: bool = False) -> Table:
    from rich import box
    from rich.table import Table

    compact = width < COMPACT_BELOW
    tokens = COMPACT_TOKEN_COLUMNS if compact else TOKEN_COLUMNS
    keys = _key_columns(report.report, compact)
    table = Table(box=box.SQUARE, header_style="bold", show_footer=False)
    for title in keys:
        table.add_column(title, no_wrap=title in ("Date", "Month"), overflow="fold")
    if not compact:
        table.add_column("Agents", overflow="fold")
    table.add_column("Models", overflow="fold")
    for title, _ in tokens:
        table.add_column(title, justify="right", no_wrap=True)
    table.add_column("Cost (USD)", justify="right", no_wrap=True)
    for group in report.groups:
        cells = _key_cells(report.report, group, compact)
        if not compact:
            cells.append("\n".join(group.source_kinds))
        cells.append("\n".join(f"- {m}" for m in group.models) or "-")
        cells += [f"{group.sums[key]:,}" for _, key in tokens]
        cells.append(cost_text(group.cost_usd, group.unpriced_tokens))
        table.add_row(*cells)
        if breakdown:
            for row in group.breakdown:
                sub = [""] * len(keys)
                sub[0] = f"  └ {row.get('project_path') or ''}"
                if not compact:
                    sub.append(row["source_kind"])
                sub.append(row["model"] or "(no model)")
                sub += [f"{row[key] or 0:,}" for _, key in tokens]
                sub.append(cost_text(row["cost_usd"] or 0.0, 0 if row["cost_usd"] is not None else 1))
                table.add_row(*sub, style="dim")
    total = ["Total"] + [""] * (len(keys) - 1) + ([""] if not compact else []) + [""]
    total += [f"{report.totals[key]:,}" for _, key in tokens]
    total.append(cost_text(report.totals["cost_usd"], report.totals["unpriced_tokens"]))
    table.add_section()
    table.add_row(*total, style="bold")
    return table


def cost_text(cost: float, unpriced_tokens: int) -> str:
    """$1.23; with a `*` when tokens without a price are not in it."""
    return f"${cost:,.2f}{'*' if unpriced_tokens else ''}"


def _key_columns(report: str, compact: bool) -> list[str]:
    if report == "daily":
        return ["Date"]
    if report == "monthly":
        return ["Month"]
    if report == "session":
        return ["Session", "Last Activity"] if compact else ["Session", "Project", "Last Activity"]
    return ["Block Start", "Status"]


def _key_cells(report: str, group: UsageGroup, compact: bool) -> list[str]:
    key: dict[str, Any] = group.key
    if report == "daily":
        return [str(key["day"] or "(no date)")]
    if report == "monthly":
        return [str(key["month"] or "(no date)")]
    if report == "session":
        last = group.last_at.strftime("%Y-%m-%d %H:%M") if group.last_at else "-"
        session = f"{key['session_id']}\n({key['source_kind']})"
        project = next((r["project_path"] for r in group.breakdown if r.get("project_path")), None) or "-"
        return [session, last] if compact else [session, project, last]
    start = key["block_start"]
    status = "ACTIVE" if key["is_active"] else f"last {key['last_activity']:%H:%M}"
    return [f"{start:%Y-%m-%d %H:%M}\n({key['source_kind']})", status]


def unpriced_lines(report: UsageReport) -> list[str]:
    """What the `*` means: the models without a price and their tokens."""
    if not report.totals.get("unpriced_tokens"):
        return []
    models = ", ".join(
        f"{row['model'] or '(no model)'} ({row['source_kind']}, {row['total_tokens'] or 0:,} tokens)"
        for row in report.unpriced
    )
    return [
        f"* not in the cost: {report.totals['unpriced_tokens']:,} tokens of models without a price: {models}. "
        "Add their prices under usage: prices: in profiles.yml (docs/usage.md)."
    ]
