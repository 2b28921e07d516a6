"""Getting data out: `tracesql export` and `tracesql show --record`.

export(project, "sft_dataset", "parquet", "out/sft.parquet")   # pyarrow, nested types kept
export(project, "sft_chat", "jsonl", "out/sft_chat.jsonl")     # one JSON object a line
record(project, "traces", 3)                                   # one row as a nested dict
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tracesql.errors import ExecutionError, ProjectError
from tracesql.execution.materialize import relation_type
from tracesql.project.project import Project
from tracesql.rows import arrow_rows, decode_json, json_default

EXPORT_FORMATS = ("parquet", "jsonl")


def _built_relation(project: Project, con: Any, name: str) -> str:
    model = project.models.get(name)
    if model is None:
        raise ProjectError(f"no model named '{name}'{project.suggest(name)}")
    if not relation_type(con, model.relation):
        raise ProjectError(f"model '{name}' is not built yet: run `tracesql run -s {name}` first", model=name)
    return str(model.relation)


def export(project: Project, model: str, fmt: str, output: str | None = None) -> tuple[str, int]:
    """Write a built model to Parquet or JSON Lines; returns (path, rows)."""
    if fmt not in EXPORT_FORMATS:
        raise ProjectError(f"unknown export format {fmt!r} (use {' or '.join(EXPORT_FORMATS)})")
    with project.connect_for_reading() as con:
        table, json_columns = arrow_rows(con, _built_relation(project, con, model))
    path = output or str(project.profile.target_dir / "exports" / f"{model}.{fmt}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        pq.write_table(table, path, compression="zstd")
    else:
        write_jsonl(table, path, json_columns)
    return path, table.num_rows


def write_jsonl(table: pa.Table, path: str, json_columns: set[str]) -> None:
    """One JSON object per row; JSON columns are embedded as JSON, not as strings."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        for batch in table.to_batches(max_chunksize=1024):
            for row in batch.to_pylist():
                for name in json_columns:
                    if isinstance(row.get(name), str):
                        row[name] = json.loads(row[name])
                fh.write(json.dumps(row, ensure_ascii=False, default=json_default) + "\n")
    os.replace(tmp, path)


def record(project: Project, model: str, number: int) -> dict[str, Any]:
    """Row `number` (1-based) of a built model, as a dict with nested values."""
    with project.connect_for_reading() as con:
        table, json_columns = arrow_rows(
            con, _built_relation(project, con, model), limit=1, offset=number - 1
        )
    if table.num_rows == 0:
        raise ExecutionError(f"model '{model}' has fewer than {number} rows", model=model)
    return decode_json(table.to_pylist()[0], json_columns)
