"""Console: what the CLI prints (see tracesql/console/__init__.py).

rich is imported on first output, so `tracesql --help` does not load it.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import threading
from collections.abc import Sequence
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

import orjson

from tracesql.console.layout import cell, escape_controls, fit_widths, one_line, plain, run_line
from tracesql.console.progress import LLMProgress
from tracesql.rows import json_default

if TYPE_CHECKING:
    from rich.console import Console as RichConsole
    from rich.console import RenderableType

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
UNBOUNDED = 1_000_000  # the width of output that is not a terminal: lines as long as they are


def rich_console(stream: IO[str]) -> RichConsole:
    """A rich console on `stream`: colours and the terminal's width on a terminal, plain
    text of unbounded width elsewhere. rich's environment variables apply (NO_COLOR,
    FORCE_COLOR, TTY_COMPATIBLE, TTY_INTERACTIVE, COLUMNS)."""
    from rich.console import Console as RichConsole

    console = RichConsole(file=stream, markup=False, highlight=False, emoji=False)
    if not console.is_terminal:
        console.width = UNBOUNDED
    return console


class Console:
    """Prints to stdout and stderr (those of the moment, or the streams given)."""

    def __init__(self, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> None:
        self._streams = (stdout, stderr)
        self._consoles: dict[bool, RichConsole] = {}
        self._progress: LLMProgress | None = None  # while LLM progress is drawn
        self._lock = threading.Lock()

    def terminal(self, err: bool = False) -> RichConsole:
        """The rich console of stdout (or stderr), made again when the stream changed."""
        stream = self._streams[err] or (sys.stderr if err else sys.stdout)
        console = self._consoles.get(err)
        if console is None or console.file is not stream:
            console = self._consoles[err] = rich_console(stream)
        return console

    def _print(self, renderable: RenderableType, *, err: bool = False, soft_wrap: bool = False) -> None:
        console = self.terminal(err)
        if not err and self._progress is not None and self._progress.live and console.is_terminal:
            console = self.terminal(err=True)  # the live bars' console prints above them
        console.print(renderable, soft_wrap=soft_wrap)

    def _write(self, text: str) -> None:
        """Data (CSV, JSON) to stdout exactly as it is: never wrapped, styled or cut."""
        self.end_progress()
        stream = self.terminal().file
        stream.write(text)
        stream.flush()

    # -- plain lines --------------------------------------------------------------------

    def line(self, text: str = "", *, err: bool = False) -> None:
        """A message; on a terminal, wrapped at its width by words."""
        self._print(text, err=err)

    def error(self, message: str) -> None:
        self._labelled("Error: ", "bold red", message)

    def warning(self, message: str) -> None:
        self._labelled("Warning: ", "yellow", message)

    def _labelled(self, label: str, style: str, message: str) -> None:
        from rich.text import Text

        self._print(Text.assemble((label, style), message), err=True)

    def sql(self, text: str) -> None:
        self._print(text.rstrip() + "\n", soft_wrap=True)  # never broken by a wrap: it may be copied

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
        """One line per node, fitted to the terminal (on one line, so nothing is left behind
        by the progress bars' redraws)."""
        from rich.text import Text

        label, color = STATUS_LABELS.get(result.status, (result.status.upper(), None))
        kind = result.materialized if result.kind == "model" else "test"
        detail = result.message
        if (
            (result.status == "success" or (result.status == "warn" and result.kind == "model"))
            and result.rows is not None
            and not detail.startswith(("inserted", "merged", "would"))
        ):
            counted = f"{result.rows} row{'s' if result.rows != 1 else ''}"
            detail = counted if detail in ("created", "replaced") else f"{counted}, {detail}"
        if result.status in ("error", "skipped"):
            detail = one_line(detail, 90)
        self.end_progress()
        console = self.terminal()
        width = console.width if console.is_terminal else None
        head, status, rest = run_line(
            index, total, label, kind or "", result.name, detail, result.seconds, width
        )
        self._print(Text.assemble(head, (status, color or ""), rest), soft_wrap=True)

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
            if result.status == "warn" and result.kind == "model":
                self.warning(f"model {result.name} ({result.path}): {result.message}")
            elif result.status in ("fail", "warn"):
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
        over = [r for r in results.results if r.over_error_rate]
        if over:
            failed = ", ".join(f"{r.name} {r.llm_failed}/{r.llm_values}" for r in over)
            self.error(
                f"failed LLM values over max_error_rate ({failed}): exit status 1. Rows were written; "
                "a failed value kept its previous one where the model has one, and the next run retries it."
            )

    def interrupted(self, reason: str, answers: int) -> None:
        """The one line of a run stopped by SIGINT or SIGTERM."""
        self.end_progress()
        self.line(
            f"Interrupted ({reason}): no LLM request was started after it; {answers} "
            f"answer{'s' * (answers != 1)} received are in the cache; run the same command again to resume."
        )

    def record(self, model: str | None, number: int, values: dict[str, Any]) -> None:
        """One row as an indented record: scalars inline (NULL for a null), nested values as
        indented JSON; control characters from the data are spelled out, never sent."""
        lines = [f"-- {model or 'record'}, row {number} " + "-" * 40]
        width = max((len(k) for k in values), default=0)
        for key, value in values.items():
            if isinstance(value, (dict, list)):
                text = json.dumps(value, indent=2, ensure_ascii=False, default=json_default)
                lines.append(f"{key}:")
                lines += ["  " + line for line in text.splitlines()]
            else:
                lines.append(f"{key.ljust(width)} : {'NULL' if value is None else plain(value)}")
        text = escape_controls("\n".join(lines), keep="\n\t")
        self._print(text, soft_wrap=True)  # values as they are, long lines unbroken

    def export_summary(self, model: str, result: Any) -> None:
        """`tracesql export`: the files written with their rows, what was left out, and why
        nothing was written when nothing was."""
        total = result.rows
        files = result.files
        if len(files) == 1 and files[0][0] is None:
            self.line(f"Wrote {total} row{'s' * (total != 1)} of {model} to {files[0][1]}")
        else:
            self.line(f"Wrote {total} row{'s' * (total != 1)} of {model}:")
            for split, path, rows in files:
                self.line(f"  {split:<10} {rows:>7} rows  {path}")
        dropped = [
            f"{n} {what}"
            for n, what in (
                (result.unkept, "not kept (--kept)"),
                (result.incomplete, "without an instruction or a response (--chat)"),
                (result.duplicates, "duplicate pairs (--dedupe)"),
            )
            if n
        ]
        if dropped:
            self.line(f"Left out of {result.model_rows}: {', '.join(dropped)}")
        if result.hint:
            self.warning(f"nothing was written: {result.hint}")

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
            self.table(keys, [tuple(_llm_cell(row, k) for k in keys) for row in used], footer=False)
        if dry_run:
            for row in rows:
                if row.get("not_configured"):
                    self.warning(f"{row.get('model_alias')}: {row['not_configured']}")
        for row in rows:  # per alias: how many values failed, and the first reason
            if row.get("errors"):
                count = row["errors"]
                self.warning(
                    f"{row['model_alias']}: {count} LLM value{'s' * (count != 1)} failed; the first: {row.get('first_error')}"
                )

    def progress(self, event: dict[str, Any]) -> None:
        """An LLM progress event (from any thread), drawn on stderr: bars on a terminal, a
        line now and then otherwise (console/progress.py)."""
        with self._lock:
            if self._progress is None:
                self._progress = LLMProgress(self.terminal(err=True))
            progress = self._progress
        progress(event)

    def end_progress(self) -> None:
        with self._lock:
            progress, self._progress = self._progress, None
        if progress is not None:
            progress.close()

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
            writer.writerows([[plain(v) for v in row] for row in rows])
            self._write(buffer.getvalue())
        elif fmt == "json":
            records = [dict(zip(columns, row, strict=True)) for row in rows]
            self._write(
                orjson.dumps(records, default=json_default, option=orjson.OPT_INDENT_2).decode() + "\n"
            )
        elif fmt == "jsonl":
            self._write(
                "".join(
                    orjson.dumps(dict(zip(columns, row, strict=True)), default=json_default).decode() + "\n"
                    for row in rows
                )
            )
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
        """A boxed table; on a terminal, cells are cut (…) so it fits the width."""
        from rich import box
        from rich.table import Table
        from rich.text import Text

        self.end_progress()
        numeric = [
            bool(rows) and all(isinstance(row[i], int | float | Decimal) or row[i] is None for row in rows)
            for i in range(len(columns))
        ]
        cells = [[cell(v, cell_width) for v in row] for row in rows]
        natural = [max([len(str(c))] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
        widths = fit_widths(natural, self.terminal().width - 3 * len(columns) - 1)  # less the rules
        table = Table(box=box.SQUARE, header_style="bold")
        for name, right, width in zip(columns, numeric, widths, strict=True):
            header = Text(str(name), justify="left")
            table.add_column(
                header, justify="right" if right else "left", width=width, no_wrap=True, overflow="ellipsis"
            )
        for row in cells:
            table.add_row(*map(Text, row))
        self._print(table)
        shown = len(rows)
        if not footer:
            return
        if more:
            self.line(f"first {shown} rows shown; more exist (raise --limit)")
        else:
            self.line(f"{shown} row{'s' if shown != 1 else ''}")

    def usage_report(self, report: Any, *, json_output: bool = False, breakdown: bool = False) -> None:
        """`tracesql usage`: the report as a table (or JSON), what has no price, and (on
        stderr) what was read."""
        from tracesql.console.usage import unpriced_lines, usage_table

        if json_output:
            data = orjson.dumps(report.to_json(), default=json_default, option=orjson.OPT_INDENT_2)
            self._write(data.decode() + "\n")
            return
        title = {"daily": "daily", "monthly": "monthly", "session": "by session", "blocks": "by 5-hour block"}
        self.line(f"Token usage and cost, {title[report.report]} (time zone {report.timezone})")
        self._print(usage_table(report, self.terminal().width, breakdown))
        for line in unpriced_lines(report):
            self.line(line)
        self.line(
            f"{report.files:,} files ({report.parsed:,} read, {report.cached:,} from the usage cache)"
            f"{f', {len(report.problems):,} skipped or with warnings' if report.problems else ''}; "
            f"prices of {report.prices_as_of}",
            err=True,
        )


def _llm_cell(row: dict[str, Any], key: str) -> Any:
    """A cell of the LLM summary: a cost without prices for the alias says so."""
    value = row.get(key)
    return "price unknown" if value is None and key in ("cost_usd", "est_cost_usd") else value
