"""The one place tracesql prints: run lines, summaries, tables, errors and warnings."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import click
import orjson

from tracesql.rows import json_default

if TYPE_CHECKING:
    from tracesql.project.nodes import DataTest, Model

STATUS_LABELS = {
    "success": ("OK", "green"),
    "pass": ("PASS", "green"),
    "warn": ("WARN", "yellow"),
    "fail": ("FAIL", "red"),
    "error": ("ERROR", "red"),
    "skipped": ("SKIP", "yellow"),
}
LLM_COLUMNS = ("model_alias", "calls", "cache_hits", "errors", "input_tokens", "output_tokens", "cost_usd")
LLM_DRY_RUN_COLUMNS = (
    "model_alias",
    "would_call",
    "cache_hits",
    "est_input_tokens",
    "est_output_tokens",
    "est_tokens",
    "est_cost_usd",
)
CELL_WIDTH = 48


class Console:
    def __init__(self) -> None:
        self._progress: Any = None  # the LLM layer's progress renderer, while a run draws it

    # -- plain lines --------------------------------------------------------------------

    def line(self, text: str = "", *, err: bool = False) -> None:
        click.echo(text, err=err)

    def error(self, message: str) -> None:
        click.echo(click.style("Error: ", fg="red", bold=True) + message, err=True)

    def warning(self, message: str) -> None:
        click.echo(click.style("Warning: ", fg="yellow") + message, err=True)

    def sql(self, text: str) -> None:
        click.echo(text.rstrip() + "\n")

    # -- runs ---------------------------------------------------------------------------

    def run_started(self, total: int, request: Any) -> None:
        if request.dry_run:
            self.line(
                "Dry run: building in a scratch database; nothing is written, LLM calls are counted, not made."
            )
        what = {"run": "model", "test": "data test", "build": "node"}.get(request.command, "node")
        self.line(f"Running {total} {what}{'s' if total != 1 else ''}")

    def node_started(self, index: int, total: int, node: Model | DataTest) -> None:
        """A run line is printed when the node finishes (one line per node)."""

    def node_finished(self, index: int, total: int, result: Any) -> None:
        label, color = STATUS_LABELS.get(result.status, (result.status.upper(), None))
        width = len(str(total))
        kind = result.materialized if result.kind == "model" else "test"
        detail = result.message
        if (
            result.status == "success"
            and result.rows is not None
            and not detail.startswith(("inserted", "merged", "would"))
        ):
            counted = f"{result.rows} row{'s' if result.rows != 1 else ''}"
            detail = counted if detail in ("created", "replaced") else f"{counted}, {detail}"
        if result.status in ("error", "skipped"):
            detail = _one_line(detail, 90)
        self.line(
            f"{index:>{width}} of {total}  {click.style(f'{label:<5}', fg=color)}  {kind or '':<11}  "
            f"{result.name:<32} {detail:<28} {result.seconds:>6.2f}s"
        )

    def run_summary(self, results: Any) -> None:
        self.end_progress()
        counts = [
            (status, results.count(status))
            for status in ("success", "pass", "warn", "fail", "error", "skipped")
        ]
        parts = [f"{n} {STATUS_LABELS[s][0].lower() if s != 'success' else 'ok'}" for s, n in counts if n]
        self.line()
        self.line(f"Finished in {results.elapsed:.2f}s: {', '.join(parts) or 'nothing to do'}.")
        for result in results.results:
            if result.status in ("fail", "warn"):
                self.line()
                label = "Failure" if result.status == "fail" else "Warning"
                self.line(f"{label} in data test {result.name} ({result.path}): {result.message}")
                if result.sample:
                    self.table(result.columns, result.sample)
            elif result.status == "error":
                self.error(str(result.error) if result.error else f"{result.name}: {result.message}")
            elif result.status == "skipped" and result.error is not None:
                self.warning(f"skipped {str(result.error)}")
        self.llm_summary(results.llm, dry_run=results.dry_run)

    def record(self, model: str | None, number: int, values: dict[str, Any]) -> None:
        """One row as an indented record: scalars inline, nested values as indented JSON."""
        self.line(f"-- {model or 'record'}, row {number} " + "-" * 40)
        width = max((len(k) for k in values), default=0)
        for key, value in values.items():
            if isinstance(value, (dict, list)):
                text = json.dumps(value, indent=2, ensure_ascii=False, default=json_default)
                self.line(f"{key}:")
                for line in text.splitlines():
                    self.line("  " + line)
            else:
                self.line(f"{key.ljust(width)} : {_plain(value)}")

    def llm_summary(self, rows: list[dict[str, Any]], *, dry_run: bool) -> None:
        """Per model alias: calls, cache hits, errors, tokens, cost (or, in a dry run, the estimate)."""
        used = [r for r in rows if any(r.get(k) for k in ("calls", "cache_hits", "errors", "would_call"))]
        if used:
            keys = [
                k for k in (LLM_DRY_RUN_COLUMNS if dry_run else LLM_COLUMNS) if any(k in row for row in used)
            ]
            # answers cut off at max_tokens and calls stopped by a budget, when there are any
            keys += [k for k in ("truncated", "budget_skipped") if any(row.get(k) for row in used)]
            self.line()
            self.line("LLM calls (estimate, nothing was called):" if dry_run else "LLM calls:")
            self.table(keys, [tuple(row.get(k) for k in keys) for row in used], footer=False)
        if dry_run:
            for row in rows:
                if row.get("not_configured"):
                    self.warning(f"{row.get('model_alias')}: {row['not_configured']}")

    def progress(self, event: dict[str, Any]) -> None:
        """LLM progress events, drawn on stderr by the LLM layer's renderer (bars on a
        terminal, a line now and then otherwise)."""
        if self._progress is None:
            try:
                from tracesql.llm.progress import ProgressRenderer
            except ImportError:
                return
            self._progress = ProgressRenderer(sys.stderr)
        self._progress(event)

    def end_progress(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None

    # -- tables -------------------------------------------------------------------------

    def rows(
        self, columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str = "table", *, more: bool = False
    ) -> None:
        if fmt == "table":
            self.table(columns, rows, more=more)
        elif fmt == "csv":
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows([[_plain(v) for v in row] for row in rows])
            click.echo(buffer.getvalue(), nl=False)
        elif fmt == "json":
            click.echo(
                orjson.dumps(
                    [dict(zip(columns, row, strict=True)) for row in rows],
                    default=json_default,
                    option=orjson.OPT_INDENT_2,
                ).decode()
            )
        elif fmt == "jsonl":
            for row in rows:
                click.echo(orjson.dumps(dict(zip(columns, row, strict=True)), default=json_default).decode())
        else:
            raise ValueError(f"unknown format {fmt}")

    def table(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        more: bool = False,
        cell_width: int = CELL_WIDTH,
        footer: bool = True,
    ) -> None:
        cells = [[_cell(v, cell_width) for v in row] for row in rows]
        widths = [max([len(str(c))] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
        numeric = [
            bool(rows) and all(isinstance(row[i], int | float | Decimal) or row[i] is None for row in rows)
            for i in range(len(columns))
        ]

        def fmt(values: Sequence[str], align: bool) -> str:
            out = [
                v.rjust(w) if align and numeric[i] else v.ljust(w)
                for i, (v, w) in enumerate(zip(values, widths, strict=True))
            ]
            return "│ " + " │ ".join(out) + " │"

        self.line("┌─" + "─┬─".join("─" * w for w in widths) + "─┐")
        self.line(fmt([str(c) for c in columns], False))
        self.line("├─" + "─┼─".join("─" * w for w in widths) + "─┤")
        for row in cells:
            self.line(fmt(row, True))
        self.line("└─" + "─┴─".join("─" * w for w in widths) + "─┘")
        shown = len(rows)
        if not footer:
            return
        if more:
            self.line(f"first {shown} rows shown; more exist (raise --limit)")
        else:
            self.line(f"{shown} row{'s' if shown != 1 else ''}")


def _one_line(text: str, width: int) -> str:
    """Whitespace folded to single spaces, cut to `width`."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _cell(value: Any, width: int) -> str:
    return _one_line(_plain(value), width) if value is not None else "NULL"


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple):
        return orjson.dumps(value, default=json_default).decode()
    return str(value)
