"""What an export writes, as SQL: the rows people train on.

    request = ExportRequest("out/sft.jsonl", split="train=0.9,validation=0.1", dedupe=True, chat=True)
    sql = rows_query(plan, relation, columns, split="train")   # the SELECT one output file gets

The model's YAML `meta: {dataset: {...}}` names the columns an export (and `tracesql
report`) uses; every key is optional:

    instruction / response   the pair: chat records' user and assistant turns, the de-duplication key
    trace                    the column a split keeps together (default: trace_key, else trace_id)
    keep                     the keep flag (`--kept` writes the rows where it is true)
    drop_reason, source, scores, score_range, duration, tokens, request_hashes, samples:
                             for `tracesql report` (commands/report.py)

A split is seeded and by trace: the distinct trace values are ordered by md5(seed:value)
and cut at the fractions, so every row of a trace lands in one file and the same seed gives
the same files. De-duplication is exact on the instruction and response with whitespace
runs folded and ends trimmed; the first row by trace, then instruction and response, is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tracesql.errors import ConfigError
from tracesql.project.nodes import Model
from tracesql.sqltext import quote, string_literal

FORMATS = {".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
SPLIT_NAMES = ("train", "validation", "test")


@dataclass(frozen=True)
class DatasetColumns:
    """`meta: {dataset: ...}` of a model: which column is what (None: not declared)."""

    instruction: str | None = None
    response: str | None = None
    trace: str | None = None
    keep: str | None = None
    drop_reason: str | None = None
    source: str | None = None
    scores: tuple[str, ...] = ()
    score_range: tuple[float, float] | None = None
    duration: str | None = None  # seconds a trace took (the report's slowest traces)
    tokens: str | None = None  # tokens a trace used
    request_hashes: tuple[str, ...] = ()  # the row's LLM request hashes: its cost in llm_calls
    samples: tuple[str, ...] = ()

    @classmethod
    def of(cls, model: Model) -> DatasetColumns:
        meta = model.meta.get("dataset") or {}
        if not isinstance(meta, dict):
            raise ConfigError(f"meta.dataset of model '{model.name}' must be a mapping", model=model.name)
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(meta) - known)
        if unknown:
            raise ConfigError(
                f"meta.dataset of model '{model.name}': unknown key '{unknown[0]}' (known: {', '.join(sorted(known))})",
                model=model.name,
            )
        values: dict[str, Any] = dict(meta)
        for key in ("scores", "samples", "request_hashes"):
            if key in values:
                values[key] = tuple([values[key]] if isinstance(values[key], str) else values[key])
        if "score_range" in values:
            values["score_range"] = tuple(values["score_range"])
        return cls(**values)


@dataclass(frozen=True)
class ExportRequest:
    """What `tracesql export` was asked for, as given."""

    output: str | None = None  # the file; its extension sets the format
    fmt: str | None = None  # --format: must agree with the extension; alone, names the default file's
    split: str | None = None  # "train=0.9,validation=0.1"
    seed: int = 0
    dedupe: bool = False
    kept: bool = False
    chat: bool = False
    system: str | None = None
    metadata: tuple[str, ...] = ()
    anonymize: bool | None = None  # None: the project's secrets settings

    @property
    def shapes_rows(self) -> bool:
        """Anything beyond writing the model as it is."""
        return bool(self.split or self.dedupe or self.kept or self.chat)


@dataclass(frozen=True)
class ExportPlan:
    """A request resolved against its model: the format, the file, the splits, the columns."""

    model: str
    fmt: str
    path: Path
    request: ExportRequest = field(default_factory=ExportRequest)
    splits: dict[str, float] = field(default_factory=dict)  # name -> fraction; {} = one file
    columns: DatasetColumns = field(default_factory=DatasetColumns)

    def only(self, *, chat: bool = True, dedupe: bool = True) -> ExportPlan:
        """The same plan without a split, and without --chat or --dedupe when they are False
        here: to count what each step leaves out."""
        request = replace(
            self.request, chat=self.request.chat and chat, dedupe=self.request.dedupe and dedupe
        )
        return replace(self, request=request, splits={})

    def output(self, split: str | None) -> Path:
        """The file a split goes to: out/sft.jsonl -> out/sft.train.jsonl."""
        if split is None:
            return self.path
        return self.path.with_name(f"{self.path.stem}.{split}{self.path.suffix}")


def export_format(output: str | None, fmt: str | None) -> str:
    """The format: from the output's extension (which must be known, and agree with
    --format when both are given), else --format, else Parquet."""
    if output is None:
        return fmt or "parquet"
    suffix = Path(output).suffix.lower()
    found = FORMATS.get(suffix)
    if found is None:
        names = ", ".join(FORMATS)
        raise ConfigError(f"{output}: the file name must end in {names} (the extension sets the format)")
    if fmt is not None and fmt != found:
        raise ConfigError(f"{output}: a {suffix} file is {found}, but --format says {fmt}")
    return found


def parse_split(text: str | None) -> dict[str, float]:
    """'train=0.9,validation=0.1' -> {'train': 0.9, 'validation': 0.1}; fractions add up to 1."""
    if not text:
        return {}
    splits: dict[str, float] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in SPLIT_NAMES or name in splits:
            raise ConfigError(f"--split: '{name}' is not one of {', '.join(SPLIT_NAMES)} (each once)")
        try:
            fraction = float(value)
        except ValueError:
            raise ConfigError(f"--split: {part.strip()!r} is not NAME=FRACTION") from None
        if not 0 < fraction < 1:
            raise ConfigError(f"--split: the fraction of {name} must be between 0 and 1, got {value}")
        splits[name] = fraction
    if len(splits) < 2 or not math.isclose(sum(splits.values()), 1.0, abs_tol=1e-9):
        raise ConfigError(f"--split: give two or three splits whose fractions add up to 1, got {text!r}")
    return splits


def rows_query(plan: ExportPlan, relation: str, columns: list[str], split: str | None = None) -> str:
    """The SELECT giving the rows one output file gets (all of them when `split` is None):
    --kept, chat completeness, de-duplication and the split, then the chat projection."""
    meta = plan.columns
    conditions = []
    if plan.request.kept:
        conditions.append(f"{quote(_required(meta.keep, 'keep', '--kept', plan))} IS TRUE")
    if plan.request.chat or plan.request.dedupe:
        instruction, response = pair_columns(plan, columns)
        if plan.request.chat:
            conditions += [f"nullif(trim({quote(c)}), '') IS NOT NULL" for c in (instruction, response)]
    body = f"SELECT * FROM {relation}" + (f" WHERE {' AND '.join(conditions)}" if conditions else "")
    order = _order(plan, columns)
    if plan.request.dedupe:
        key = " || chr(0) || ".join(_folded(c) for c in pair_columns(plan, columns))
        body = (
            f"SELECT * EXCLUDE (__dup) FROM (SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY {order})"
            f" AS __dup FROM ({body})) WHERE __dup = 1"
        )
    if split is not None:
        trace = quote(trace_column(plan, columns))
        body = (
            f"SELECT rows.* FROM ({body}) AS rows JOIN ({split_assignment(plan, body, trace)}) AS assigned"
            f" ON rows.{trace} IS NOT DISTINCT FROM assigned.__trace WHERE assigned.__split = {string_literal(split)}"
        )
    if order:
        body += f" ORDER BY {order}"
    return chat_projection(plan, columns, body) if plan.request.chat else body


def split_assignment(plan: ExportPlan, rows: str, trace: str) -> str:
    """(__trace, __split) for each distinct trace value of `rows`: seeded order, cut at the fractions."""
    ranked = (
        f"SELECT __trace, row_number() OVER (ORDER BY md5({string_literal(f'{plan.request.seed}:')} || coalesce(__trace::VARCHAR, '')),"
        f" __trace) - 1 AS __rank, count(*) OVER () AS __n FROM (SELECT DISTINCT {trace} AS __trace FROM ({rows}))"
    )
    cases, total = [], 0.0
    for name, fraction in plan.splits.items():
        total += fraction
        cases.append(f"WHEN __rank < round(__n * {total!r}) THEN {string_literal(name)}")
    last = string_literal(list(plan.splits)[-1])
    return f"SELECT __trace, CASE {' '.join(cases)} ELSE {last} END AS __split FROM ({ranked})"


def chat_projection(plan: ExportPlan, columns: list[str], rows: str) -> str:
    """{"messages": [system?, user, assistant], "metadata": {...}} from the pair columns."""
    instruction, response = pair_columns(plan, columns)
    messages = [
        f"{{'role': 'user', 'content': {quote(instruction)}::VARCHAR}}",
        f"{{'role': 'assistant', 'content': {quote(response)}::VARCHAR}}",
    ]
    if plan.request.system:
        messages.insert(0, f"{{'role': 'system', 'content': {string_literal(plan.request.system)}}}")
    select = f"[{', '.join(messages)}] AS messages"
    if plan.request.metadata:
        missing = [c for c in plan.request.metadata if c not in columns]
        if missing:
            raise ConfigError(
                f"--metadata: model '{plan.model}' has no column '{missing[0]}' (columns: {', '.join(columns)})",
                model=plan.model,
            )
        fields = ", ".join(f"{string_literal(c)}, {quote(c)}" for c in plan.request.metadata)
        # a JSON merge patch drops the keys whose value is null: a record has no null field
        select += f", json_merge_patch('{{}}', json_object({fields})) AS metadata"
    return f"SELECT {select} FROM ({rows})"


def pair_columns(plan: ExportPlan, columns: list[str]) -> tuple[str, str]:
    meta = plan.columns
    pair = (meta.instruction or "instruction", meta.response or "response")
    missing = [c for c in pair if c not in columns]
    if missing:
        raise ConfigError(
            f"model '{plan.model}' has no column '{missing[0]}': --chat and --dedupe need the instruction and "
            "response columns, named in the model's YAML (meta: {dataset: {instruction: COL, response: COL}}) "
            "or called instruction and response",
            model=plan.model,
        )
    return pair


def trace_column(plan: ExportPlan, columns: list[str]) -> str:
    declared = plan.columns.trace
    for name in (declared,) if declared else ("trace_key", "trace_id"):
        if name in columns:
            return name
    raise ConfigError(
        f"--split keeps each trace in one split, but model '{plan.model}' has no "
        f"{'column ' + repr(declared) if declared else 'trace_key or trace_id column'}: name one in its YAML "
        "(meta: {dataset: {trace: COL}})",
        model=plan.model,
    )


def _order(plan: ExportPlan, columns: list[str]) -> str:
    """The rows' order: by the trace column, then the pair (when there are such columns)."""
    names = [c for c in (plan.columns.trace, "trace_key", "trace_id") if c and c in columns][:1]
    if plan.request.chat or plan.request.dedupe:
        names += pair_columns(plan, columns)
    return ", ".join(quote(c) for c in names)


def _folded(column: str) -> str:
    return f"coalesce(regexp_replace(trim({quote(column)}::VARCHAR), '\\s+', ' ', 'g'), '')"


def _required(value: str | None, key: str, option: str, plan: ExportPlan) -> str:
    if value is None:
        raise ConfigError(
            f"{option} needs the model's {key} column, named in its YAML (meta: {{dataset: {{{key}: COL}}}})",
            model=plan.model,
        )
    return value
