"""`tracesql run --preview N`: the selection end to end on N rows, in a scratch database."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from tracesql.errors import ProjectError
from tracesql.execution.runner import RunRequest, execute, open_for_run
from tracesql.llm.config import RunOptions
from tracesql.project.project import Project
from tracesql.rows import arrow_rows, decode_json


@dataclass
class Preview:
    results: Any  # RunResults
    model: str | None  # the model the sample record comes from
    record: dict[str, Any] | None
    rows: dict[str, int]  # rows per built model


def preview(
    project: Project,
    limit: int,
    *,
    select: tuple = (),
    exclude: tuple = (),
    model: str | None = None,
    run_options: RunOptions | None = None,
    reporter: Any = None,
) -> Preview:
    """Build the selection end to end on at most `limit` traces (and rows per model) in a
    scratch in-memory database: nothing is written to the project database or target/.
    LLM answers still go to the cache and its call log, so the full run does not pay again."""
    if limit < 1:
        raise ProjectError("--preview needs a number of rows of at least 1")
    # full_refresh: in the scratch database an incremental model starts empty (its rows from
    # the project database would otherwise be merged into a read-only mirror)
    request = RunRequest(
        select=select,
        exclude=exclude,
        scratch=True,
        row_limit=limit,
        full_refresh=True,
        # a preview builds its rows for real (in scratch): it makes its LLM calls, dry_run or not
        run_options=replace(run_options or RunOptions(), dry_run=False),
        command="preview",
    )
    with open_for_run(project, request) as con:
        results = execute(project, request, con, reporter)
        built = [r.name for r in results.results if r.status == "success" and r.kind == "model"]
        rows = {
            name: con.execute(f"SELECT count(*) FROM {project.models[name].relation}").fetchone()[0]
            for name in built
        }
        chosen = model if model else next((name for name in reversed(built) if rows.get(name)), None)
        if chosen is not None and chosen not in rows:
            raise ProjectError(f"--preview-model {chosen}: that model was not built in this preview")
        sample = None
        if chosen is not None and rows.get(chosen):
            table, json_columns = arrow_rows(con, str(project.models[chosen].relation), limit=1)
            sample = decode_json(table.to_pylist()[0], json_columns)
        return Preview(results, chosen, sample, rows)
