"""The `tracesql` command: click commands only. They parse options, call the library and
print through the Console; every error becomes one `Error: ...` line (--debug re-raises).

Importing this module loads neither DuckDB nor pyarrow nor the OpenAI client (`--help`
and `--version` stay fast): each command imports what it uses.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click

from tracesql.console import Console
from tracesql.errors import RunInterrupted, TracesqlError
from tracesql.llm.interrupts import EXIT_CODES, stop_on_signals
from tracesql.version import __version__

F = TypeVar("F", bound=Callable[..., Any])  # a click command being decorated

if TYPE_CHECKING:
    from tracesql.llm.options import RunOptions
    from tracesql.project.project import Project

# DuckDB loads numpy for Python UDFs. The CLI does no linear algebra, and starting
# OpenBLAS's thread pool is ~40 ms of CPU at every start (bench/startup.py); a value the
# user set is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

console = Console()
FORMATS = click.Choice(["table", "csv", "json", "jsonl"])


def handle_errors(command: Callable[..., None]) -> Callable[..., None]:
    """One error handler for every command: `Error: ...` and exit code 1, or the traceback with --debug."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        ctx = click.get_current_context()
        debug = kwargs.get("debug") or (ctx.obj or {}).get("debug")
        try:
            return command(*args, **kwargs)
        except RunInterrupted as exc:  # a query or show stopped by SIGINT/SIGTERM
            console.line(f"{exc.message[:1].upper()}{exc.message[1:]}; run the command again to resume.")
            exit_now(EXIT_CODES.get(exc.reason, 130))
        except TracesqlError as exc:
            if debug:
                raise
            console.error(str(exc))
        except Exception as exc:
            if debug:
                raise
            if _is_duckdb_error(exc):
                console.error(str(exc).splitlines()[0])
            elif isinstance(exc, OSError | ValueError | RuntimeError):
                console.error(f"{type(exc).__name__}: {exc} (run with --debug for the traceback)")
            else:
                raise
        sys.exit(1)

    return wrapper


def exit_now(code: int) -> None:
    """Exit at once, after an interrupt: HTTP threads cut short are not waited for (every
    answer received is already committed to the cache)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _is_duckdb_error(exc: BaseException) -> bool:
    duckdb = sys.modules.get("duckdb")  # not imported: the error cannot be DuckDB's
    return duckdb is not None and isinstance(exc, duckdb.Error)


def llm_run_options(flags: dict[str, Any]) -> RunOptions:
    """The LLM layer's options from the command's flags (--dry-run, --refresh-cache,
    --no-cache, --max-calls, --max-tokens, those it has), progress drawn by the console."""
    from tracesql.llm.options import RunOptions

    return RunOptions(
        dry_run=bool(flags.get("dry_run")),
        refresh_cache=bool(flags.get("refresh_cache")),
        no_cache=bool(flags.get("no_cache")),
        max_calls=flags.get("max_calls"),
        max_tokens=flags.get("max_tokens"),
        deadline=flags.get("deadline"),
        max_error_rate=flags.get("max_error_rate"),
        progress=console.progress,
    )


def project_options(command: F) -> F:
    """--project-dir, --profiles-dir, --target, --vars, --debug: on every project command."""
    options = [
        click.option(
            "--project-dir",
            type=click.Path(file_okay=False),
            envvar="TRACESQL_PROJECT_DIR",
            help="Project folder (has models/); default: the current folder.",
        ),
        click.option(
            "--profiles-dir",
            type=click.Path(file_okay=False),
            envvar="TRACESQL_PROFILES_DIR",
            help="Folder holding profiles.yml; default: the project folder.",
        ),
        click.option("-t", "--target", help="Target in profiles.yml to use instead of its default."),
        click.option(
            "--vars",
            "vars_text",
            metavar="YAML",
            help="Vars overriding profiles.yml, e.g. '{trace_path: ~/x}'.",
        ),
        click.option("--debug", is_flag=True, help="Show the full traceback when something fails."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def selection_options(command: F) -> F:
    command = click.option(
        "--exclude", multiple=True, metavar="SELECTOR", help="Leave these out (same syntax as --select)."
    )(command)
    return click.option(
        "-s",
        "--select",
        multiple=True,
        metavar="SELECTOR",
        help="Models to use: name, +name (with ancestors), name+ (with descendants), tag:x, path:models/dir, source:traces.",
    )(command)


class ErrorRate(click.ParamType):
    """--max-error-rate: a share between 0 and 1, or 'fail'."""

    name = "rate"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float | str:
        if value == "fail":
            return "fail"
        try:
            rate = float(value)
        except (TypeError, ValueError):
            rate = -1.0
        if not 0 <= rate <= 1:
            self.fail(f"{value!r} is neither a share between 0 and 1 nor 'fail'", param, ctx)
        return rate


def build_options(command: F) -> F:
    """The options of `run` and `build`: LLM budget and cache, --dry-run, --full-refresh, --fail-fast."""
    options = [
        click.option(
            "--dry-run",
            is_flag=True,
            help="Build in a scratch database and estimate LLM calls without making any.",
        ),
        click.option(
            "--refresh-cache",
            is_flag=True,
            help="Call the LLM again even for cached prompts (and update the cache).",
        ),
        click.option("--no-cache", is_flag=True, help="Neither read nor write the LLM cache."),
        click.option(
            "--max-calls",
            type=click.IntRange(min=0),
            metavar="N",
            help="Stop making LLM calls after N (later ones give NULL).",
        ),
        click.option(
            "--max-tokens",
            type=click.IntRange(min=0),
            metavar="N",
            help="Stop making LLM calls after N tokens in total.",
        ),
        click.option(
            "--deadline",
            type=click.FloatRange(min=0, min_open=True),
            metavar="SECONDS",
            help="Start no LLM request after this many seconds (later values are NULL, retried next run).",
        ),
        click.option(
            "--max-error-rate",
            type=ErrorRate(),
            metavar="RATE|fail",
            help="Share of a model's LLM values that may fail before the run exits 1 (default 0: any); "
            "'fail' stops a model at its first failed value.",
        ),
        click.option(
            "--require-llm",
            is_flag=True,
            help="A model whose LLM has no API key (or no model configured) is an error, not a skip.",
        ),
        click.option("--full-refresh", is_flag=True, help="Rebuild incremental models from scratch."),
        click.option("-x", "--fail-fast", is_flag=True, help="Stop at the first failure."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def load(
    project_dir: str | None,
    profiles_dir: str | None,
    target: str | None,
    vars_text: str | None,
    *,
    require_models: bool = True,
    optional: bool = False,
) -> Project | None:
    """The project of --project-dir, else the nearest one from the working folder up (see
    project/locate.py). None when there is none and `optional` (query, show: in-memory)."""
    from tracesql.errors import ProjectError
    from tracesql.project.locate import find_project_dir, no_project_message

    folder = project_dir or find_project_dir()
    if folder is None:
        if optional:
            return None
        raise ProjectError(no_project_message())
    from tracesql.compile.loading import load_project  # pydantic, jinja2, sqlglot: only for a project
    from tracesql.project.settings import parse_cli_vars

    project = load_project(
        folder,
        profiles_dir=profiles_dir,
        target=target,
        vars=parse_cli_vars(vars_text),
        require_models=require_models,
    )
    for warning in project.warnings:
        console.warning(warning)
    return project


def load_required(
    project_dir: str | None,
    profiles_dir: str | None,
    target: str | None,
    vars_text: str | None,
    **kwargs: Any,
) -> Project:
    project = load(project_dir, profiles_dir, target, vars_text, **kwargs)
    assert project is not None
    return project


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="tracesql")
@click.option("--debug", is_flag=True, help="Show the full traceback when something fails.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """tracesql: SQL models over coding-agent traces, built into a DuckDB file.

    A project is a folder with models/*.sql (Jinja + SQL), optional macros/, and an
    optional profiles.yml. `tracesql run` builds the models in dependency order.
    """
    ctx.obj = {"debug": debug}


@main.command()
@project_options
@selection_options
@build_options
@click.option(
    "--preview",
    type=click.IntRange(min=1),
    metavar="N",
    help="Compute N rows end to end in a scratch database, print one record, write no model table.",
)
@click.option(
    "--preview-model",
    metavar="MODEL",
    help="With --preview: the model whose record is printed (default: the last built).",
)
@handle_errors
def run(
    project_dir: str | None,
    profiles_dir: str | None,
    target: str | None,
    vars_text: str | None,
    debug: bool,
    select: tuple[str, ...],
    exclude: tuple[str, ...],
    preview: int | None,
    preview_model: str | None,
    **options: Any,
) -> None:
    """Build the selected models (views, tables, incremental models) in dependency order."""
    run_options = llm_run_options(options)
    if preview:
        _preview_command(locals(), run_options)
        return
    _run_command("run", locals(), run_options, models=True, tests=False)


def _preview_command(args: dict[str, Any], run_options: RunOptions) -> None:
    from tracesql.execution.preview import preview

    project = load_required(args["project_dir"], args["profiles_dir"], args["target"], args["vars_text"])
    with stop_on_signals():
        result = preview(
            project,
            args["preview"],
            select=args["select"],
            exclude=args["exclude"],
            model=args["preview_model"],
            run_options=run_options,
            reporter=console,
        )
    if result.results.interrupted:
        console.interrupted(result.results.interrupted, result.results.answers_received)
        exit_now(EXIT_CODES[result.results.interrupted])
    console.run_summary(result.results)
    console.line()
    console.line(
        f"Preview on at most {args['preview']} rows per model; nothing was written to the database. "
        f"Rows: {', '.join(f'{k} {v}' for k, v in result.rows.items()) or 'none'}."
    )
    if result.record is not None:
        console.record(result.model, 1, result.record)
    if result.results.failed:
        sys.exit(1)


@main.command()
@project_options
@selection_options
@build_options
@handle_errors
def build(
    project_dir: str | None,
    profiles_dir: str | None,
    target: str | None,
    vars_text: str | None,
    debug: bool,
    select: tuple[str, ...],
    exclude: tuple[str, ...],
    **options: Any,
) -> None:
    """Build the selected models and run their data tests; a failed test skips what depends on its model."""
    _run_command("build", locals(), llm_run_options(options), models=True, tests=True)


@main.command()
@project_options
@selection_options
@click.option("-x", "--fail-fast", is_flag=True, help="Stop at the first failure.")
@handle_errors
def test(
    project_dir: str | None,
    profiles_dir: str | None,
    target: str | None,
    vars_text: str | None,
    debug: bool,
    select: tuple[str, ...],
    exclude: tuple[str, ...],
    fail_fast: bool,
) -> None:
    """Run the data tests of the selected models against the built database."""
    _run_command("test", locals(), llm_run_options({}), models=False, tests=True)


def _run_command(
    command: str, args: dict[str, Any], run_options: RunOptions, *, models: bool, tests: bool
) -> None:
    from tracesql.execution.runner import RunRequest, run

    project = load_required(args["project_dir"], args["profiles_dir"], args["target"], args["vars_text"])
    flags = {**args.get("options", {}), **({"fail_fast": args["fail_fast"]} if "fail_fast" in args else {})}
    request = RunRequest(
        select=args["select"],
        exclude=args["exclude"],
        models=models,
        tests=tests,
        full_refresh=bool(flags.get("full_refresh")),
        fail_fast=bool(flags.get("fail_fast")),
        require_llm=bool(flags.get("require_llm")),
        run_options=run_options,
        command=command,
    )
    with stop_on_signals():
        results = run(project, request, console)
    if results.interrupted:
        console.interrupted(results.interrupted, results.answers_received)
        exit_now(EXIT_CODES[results.interrupted])
    console.run_summary(results)
    if results.failed:
        sys.exit(1)


@main.command(name="compile")
@project_options
@selection_options
@handle_errors
def compile_command(
    project_dir: str | None,
    profiles_dir: str | None,
    target: str | None,
    vars_text: str | None,
    debug: bool,
    select: tuple[str, ...],
    exclude: tuple[str, ...],
) -> None:
    """Render the selected models to target/compiled/ (prints the SQL when one model is selected)."""
    from tracesql.execution.runner import compile_selection

    project = load_required(project_dir, profiles_dir, target, vars_text)
    compiled = compile_selection(project, select, exclude)
    models = [c for c in compiled if c.node.kind == "model"]
    if select and len(models) == 1:
        console.sql(models[0].sql)
    tests = len(compiled) - len(models)
    folder = os.path.join(project.profile.settings.target_path, "compiled")
    console.line(
        f"Compiled {len(models)} model{'s' * (len(models) != 1)} and {tests} data test{'s' * (tests != 1)} to {folder}/",
        err=True,
    )


@main.command(name="ls")
@project_options
@selection_options
@click.option(
    "--resource-type",
    type=click.Choice(["model", "test", "source", "all"]),
    default="model",
    show_default=True,
    help="What to list.",
)
@click.option(
    "--output", "-o", type=click.Choice(["table", "name", "path", "json"]), default="table", show_default=True
)
@handle_errors
def ls_command(
    project_dir: str | None,
    profiles_dir: str | None,
    target: str | None,
    vars_text: str | None,
    debug: bool,
    select: tuple[str, ...],
    exclude: tuple[str, ...],
    resource_type: str,
    output: str,
) -> None:
    """List models with their materialization, tags and parents (or data tests, sources)."""
    from tracesql.commands.listing import list_nodes

    project = load_required(project_dir, profiles_dir, target, vars_text)
    columns, rows = list_nodes(project, select, exclude, resource_type)
    if output == "table":
        console.table(columns, rows)
    elif output == "json":
        console.rows(columns, rows, "jsonl")
    else:
        for row in rows:
            console.line(str(row[columns.index(output)]))


@main.command()
@click.argument("model_or_sql")
@project_options
@click.option(
    "--limit", "-n", type=click.IntRange(min=0), default=10, show_default=True, help="Rows to show."
)
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option(
    "--record",
    "record_number",
    type=click.IntRange(min=1),
    metavar="N",
    help="Print row N of a built model as one readable record (nested fields indented).",
)
@handle_errors
def show(
    model_or_sql: str,
    project_dir: str | None,
    profiles_dir: str | None,
    target: str | None,
    vars_text: str | None,
    debug: bool,
    limit: int,
    fmt: str,
    record_number: int | None,
) -> None:
    """Show the first rows of a model, or of a SELECT (which may use ref() and macros)."""
    from tracesql.commands import query as querying

    project = load(project_dir, profiles_dir, target, vars_text, require_models=False, optional=True)
    if record_number is not None:
        from tracesql.commands.export import record

        if project is None:
            from tracesql.project.locate import no_project_message

            raise click.UsageError(f"--record needs a built model: {no_project_message()}")

        console.record(model_or_sql, record_number, record(project, model_or_sql, record_number))
        return
    with stop_on_signals():
        result = querying.show(project, model_or_sql, limit, llm_run_options({}))
    console.rows(result.columns, result.rows, fmt, more=result.more)


@main.command()
@click.argument("sql", required=False)
@project_options
@click.option(
    "--file", "-f", "sql_file", type=click.File("r"), help="Read the SQL from a file ('-' for stdin)."
)
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=0),
    default=None,
    help="Rows to print (default: 100 as a table, all in other formats; 0 = all).",
)
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@handle_errors
def query(
    sql: str | None,
    project_dir: str | None,
    profiles_dir: str | None,
    target: str | None,
    vars_text: str | None,
    debug: bool,
    sql_file: IO[str] | None,
    limit: int | None,
    fmt: str,
) -> None:
    """Run ad-hoc SQL with the trace readers and LLM functions registered: on the project's
    DuckDB file (read-only unless the SQL writes), or in memory outside a project.

    Jinja (ref(), var(), macros) is rendered outside string literals only: a per-row
    prompt such as llm('Summarize: {{ text }}', vars := {'text': t}) is kept for llm()."""
    from tracesql.commands import query as querying

    if sql_file is not None:
        sql = sql_file.read()
    if not sql:
        raise click.UsageError("give the SQL as an argument, or --file FILE")
    limit = (100 if fmt == "table" else None) if limit is None else (limit or None)
    project = load(project_dir, profiles_dir, target, vars_text, require_models=False, optional=True)
    with stop_on_signals():
        result = querying.query(project, sql, limit, llm_run_options({}))
    if result is None:
        console.line("OK", err=True)
        return
    console.rows(result.columns, result.rows, fmt, more=result.more)


@main.command()
@click.argument("model")
@project_options
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    help="File to write; its extension (.parquet, .jsonl, .csv) sets the format. Default: target/exports/MODEL.parquet.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "jsonl", "csv"]),
    help="The format when there is no -o (with -o, it must match the extension).",
)
@click.option(
    "--split",
    metavar="NAME=FRACTION,...",
    help="Seeded split by trace into FILE's siblings, e.g. train=0.9,validation=0.1 (or with test=).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="The split's seed.")
@click.option(
    "--dedupe", is_flag=True, help="Drop exact duplicate instruction/response pairs (whitespace folded)."
)
@click.option(
    "--kept", is_flag=True, help="Only rows whose keep flag (the model's meta.dataset.keep) is true."
)
@click.option(
    "--chat",
    is_flag=True,
    help='Chat records {"messages": [...], "metadata": {...}} from the instruction and response columns.',
)
@click.option("--system", metavar="TEXT", help="With --chat: a system message first in every record.")
@click.option(
    "--metadata",
    metavar="COL,...",
    help="With --chat: these columns under the record's `metadata` key (null values left out).",
)
@click.option(
    "--anonymize",
    is_flag=True,
    default=None,
    help="Also replace e-mails, home-folder user names and IP addresses by keyed placeholders.",
)
@handle_errors
def export(
    model: str,
    project_dir: str | None,
    profiles_dir: str | None,
    target: str | None,
    vars_text: str | None,
    debug: bool,
    output: str | None,
    fmt: str | None,
    split: str | None,
    seed: int,
    dedupe: bool,
    kept: bool,
    chat: bool,
    system: str | None,
    metadata: str | None,
    anonymize: bool | None,
) -> None:
    """Write a built model to Parquet, JSON Lines or CSV (streamed by DuckDB), for training.

    `tracesql export sft_dataset -o sft.jsonl --chat --kept --dedupe --split train=0.9,validation=0.1`
    writes sft.train.jsonl and sft.validation.jsonl: {"messages": [{"role": "user", ...},
    {"role": "assistant", ...}]} per line. Credentials in any string become
    [REDACTED:<kind>] (profiles.yml `secrets: {redact: false}` turns this off)."""
    from tracesql.commands.export import ExportRequest
    from tracesql.commands.export import export as export_model

    project = load_required(project_dir, profiles_dir, target, vars_text)
    request = ExportRequest(
        output=output,
        fmt=fmt,
        split=split,
        seed=seed,
        dedupe=dedupe,
        kept=kept,
        chat=chat,
        system=system,
        metadata=tuple(c.strip() for c in metadata.split(",") if c.strip()) if metadata else (),
        anonymize=anonymize,
    )
    result = export_model(project, model, request)
    console.export_summary(model, result)


@main.command()
@click.argument("model")
@project_options
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    help="The HTML file to write (default: target/reports/MODEL.html).",
)
@handle_errors
def report(
    model: str,
    project_dir: str | None,
    profiles_dir: str | None,
    target: str | None,
    vars_text: str | None,
    debug: bool,
    output: str | None,
) -> None:
    """Write a self-contained HTML report of a built dataset and print its headline numbers.

    Rows by source, the judge's score distributions, the keep rate and why rows were
    dropped, LLM tokens and cost per model alias, the slowest and most expensive traces and
    sample records; which columns are what is declared in the model's YAML (meta: dataset:)."""
    from tracesql.commands.report_html import write_report

    project = load_required(project_dir, profiles_dir, target, vars_text)
    path, data = write_report(project, model, output)
    console.table(["", model], data.headline(), cell_width=400, footer=False)
    console.line(f"Report: {path}")


class DateParam(click.ParamType):
    """A day: YYYYMMDD (as ccusage takes it) or YYYY-MM-DD."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        import datetime as dt

        if isinstance(value, dt.date):
            return value
        text = str(value).strip()
        for pattern in ("%Y%m%d", "%Y-%m-%d"):
            try:
                return dt.datetime.strptime(text, pattern).date()
            except ValueError:
                continue
        self.fail(f"{value!r} is not a date (YYYYMMDD or YYYY-MM-DD)", param, ctx)


@main.command()
@click.argument("report", type=click.Choice(["daily", "monthly", "session", "blocks"]), default="daily")
@click.option(
    "--since", type=DateParam(), help="Only responses on or after this day (YYYYMMDD or YYYY-MM-DD)."
)
@click.option("--until", type=DateParam(), help="Only responses on or before this day.")
@click.option("--json", "json_output", is_flag=True, help="Print the report as JSON.")
@click.option("--breakdown", is_flag=True, help="A line per project, agent and model under each row.")
@click.option(
    "--timezone",
    "-z",
    metavar="ZONE",
    help="Time zone of day boundaries, e.g. Europe/Paris (default: profiles.yml's usage.timezone, else this machine's).",
)
@click.option(
    "--path",
    "paths",
    multiple=True,
    type=click.Path(exists=True),
    help="Read this folder or file (any agent format, detected per file) instead of the agents' default folders.",
)
@click.option(
    "--no-cache", is_flag=True, help="Read every file again (the usage cache is neither read nor written)."
)
@click.option(
    "--project-dir",
    type=click.Path(file_okay=False),
    envvar="TRACESQL_PROJECT_DIR",
    help="Take prices and the time zone from this project's profiles.yml (default: the project here, if any).",
)
@click.option("--debug", is_flag=True, help="Show the full traceback when something fails.")
@handle_errors
def usage(
    report: str,
    since: Any,
    until: Any,
    json_output: bool,
    breakdown: bool,
    timezone: str | None,
    paths: tuple[str, ...],
    no_cache: bool,
    project_dir: str | None,
    debug: bool,
) -> None:
    """Token use and cost of every coding agent's sessions on this machine, like ccusage:
    per day, month, session or 5-hour block, by model, project and agent.

    Reads the default folders of every installed agent (Claude Code, Codex, Pi, Hermes; no
    project needed), counts each API response once, prices it with the bundled price
    table (profiles.yml's usage: prices: when run in a project) and says which models have
    no price. The SQL is that of the example project's models/usage/."""
    from tracesql.commands.usage import UsageRequest, usage_report
    from tracesql.project.locate import find_project_dir
    from tracesql.project.settings import load_profile
    from tracesql.readers.storage import usage_cache_folder

    folder = project_dir or find_project_dir()
    settings = load_profile(folder).usage if folder else None
    request = UsageRequest(
        report=report,
        since=since,
        until=until,
        paths=paths,
        timezone=timezone,
        settings=settings,
        cache_dir=None if no_cache else usage_cache_folder(),
    )
    console.usage_report(usage_report(request), json_output=json_output, breakdown=breakdown)


@main.command()
@project_options
@click.option(
    "--probe", is_flag=True, help="Also send each model alias a 1-token completion (settles key and model)."
)
@handle_errors
def debug(
    project_dir: str | None,
    profiles_dir: str | None,
    target: str | None,
    vars_text: str | None,
    debug: bool,
    probe: bool,
) -> None:
    """Show the resolved project, target, database and vars, and check each LLM model alias:
    provider reachable, key accepted, model known (yes, no or not verified; never the keys).

    Exits 1 when a check says no. An alias whose key variable is unset gets no request."""
    import duckdb

    from tracesql.commands.providers import COLUMNS, check_aliases
    from tracesql.project.locate import find_project_dir
    from tracesql.project.settings import load_profile, parse_cli_vars, provider_status

    profile = load_profile(
        project_dir or find_project_dir() or ".",
        profiles_dir=profiles_dir,
        target=target,
        cli_vars=parse_cli_vars(vars_text),
    )
    settings = profile.settings
    exists = profile.database == ":memory:" or os.path.exists(profile.database)
    rows = [
        ("tracesql", __version__),
        ("duckdb", duckdb.__version__),
        ("python", sys.version.split()[0]),
        ("project", f"{profile.name} ({profile.project_dir})"),
        ("profiles.yml", str(profile.profiles_path or "none (defaults)")),
        ("target", f"{profile.target_name} (targets: {', '.join(profile.target_names)})"),
        ("database", f"{profile.database}{'' if exists else ' (not built yet)'}"),
        ("storage version", f"{profile.storage_version or 'latest'} (for a database file created anew)"),
        (
            "model paths",
            ", ".join(
                f"{p}{'' if (profile.project_dir / p).is_dir() else ' (missing)'}"
                for p in settings.model_paths
            ),
        ),
        ("vars", ", ".join(f"{k}={v!r}" for k, v in profile.vars.items()) or "none"),
        (
            "LLM models",
            ", ".join(f"{alias} -> {m.provider}/{m.model}" for alias, m in profile.llm.models.items())
            or "none",
        ),
        ("LLM cache", profile.llm.settings.cache_path or f"{settings.target_path}/llm_cache.sqlite"),
    ]
    console.table(["setting", "value"], rows, cell_width=400, footer=False)
    console.table(["provider", "base_url", "key variable", "key"], provider_status(profile.llm), footer=False)
    checks = check_aliases(profile.llm, probe=probe)
    if checks:
        console.table(COLUMNS, [check.row() for check in checks], cell_width=200, footer=False)
    failed = [check.alias for check in checks if check.failed]
    if failed:
        console.error(
            f"model alias{'es' * (len(failed) > 1)} {', '.join(failed)} cannot be used as configured"
        )
        sys.exit(1)


@main.command()
@project_options
@handle_errors
def clean(
    project_dir: str | None, profiles_dir: str | None, target: str | None, vars_text: str | None, debug: bool
) -> None:
    """Delete target/ (compiled SQL, run artifacts, exports), keeping the LLM cache. The database file stays."""
    from tracesql.commands.scaffold import clean as clean_target
    from tracesql.errors import ProjectError
    from tracesql.project.locate import find_project_dir, no_project_message
    from tracesql.project.settings import load_profile

    folder = project_dir or find_project_dir()
    if folder is None:
        raise ProjectError(no_project_message())
    profile = load_profile(folder, profiles_dir=profiles_dir, target=target)
    removed = clean_target(profile.project_dir, profile.target_dir)
    console.line(
        f"Removed {removed}" if removed else f"Nothing to clean: {profile.target_dir} does not exist"
    )


@main.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--debug", is_flag=True, help="Show the full traceback when something fails.")
@handle_errors
def init(directory: str, debug: bool) -> None:
    """Create a starter project (profiles.yml, models/, macros/) in DIRECTORY."""
    from tracesql.commands.scaffold import init_project

    written = init_project(directory)
    for path in written:
        console.line(f"created {os.path.relpath(path)}")
    console.line(
        f"Next: cd {directory} && tracesql run" if Path(directory) != Path(".") else "Next: tracesql run"
    )


if __name__ == "__main__":  # pragma: no cover
    main()
