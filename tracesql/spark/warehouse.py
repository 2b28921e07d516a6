"""Materializations on Spark, and how the tables persist between sessions.

Every model's table is Parquet under the warehouse, one folder per version:

    <warehouse>/<schema>/<name>/v-<time>-<id>/   the rows (Spark's Parquet files)
    <warehouse>/<schema>/<name>/current          the version in use (or `view`)
    <warehouse>/<schema>/<name>/view.sql         a view's Spark SQL

`current` is replaced in one rename, so a reader sees the old version or the new, never a
half-written one. Spark's own catalog lives in the session (no metastore): when a
session opens, every model found in the warehouse is declared again (`CREATE TABLE ...
USING parquet LOCATION`, `CREATE VIEW`), so the tables of the last run are there.

- view: the view's SQL is stored and the view created (a temporary view when it calls
  tracesql's Python functions, which a catalog view cannot).
- table: the query is written once into a new version folder, then the table's location
  is switched to it and the old version removed; a failed build leaves the old table.
- incremental: the new rows are written once into a batch folder (the LLM is called once
  per row), then appended to the current version (`append`), or merged on `unique_key`
  into a new version: the old rows whose key is not in the batch (an anti-join), plus
  the batch (`merge`).
- ephemeral: inlined as a CTE by the compiler, as on DuckDB.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tracesql.errors import ExecutionError
from tracesql.project.nodes import Model, Relation
from tracesql.spark.dialect import spark_name

CURRENT = "current"
VIEW_SQL = "view.sql"
VIEW = "view"
DEFAULT_SCHEMA = "main"


@dataclass
class Built:
    rows: int | None
    message: str


class Warehouse:
    """The folders of one warehouse, and the Spark catalog entries that point at them."""

    def __init__(self, spark: Any, root: str) -> None:
        self.spark = spark
        self.root = root.removeprefix("file://")
        os.makedirs(self.root, exist_ok=True)

    # -- where things are -----------------------------------------------------------------

    def folder(self, relation: Relation) -> str:
        return os.path.join(self.root, relation.schema or DEFAULT_SCHEMA, relation.identifier)

    def current(self, relation: Relation) -> str | None:
        """The version folder in use, `view`, or None (no such model built)."""
        try:
            with open(os.path.join(self.folder(relation), CURRENT), encoding="utf-8") as f:
                return f.read().strip() or None
        except FileNotFoundError:
            return None

    def kind(self, relation: Relation) -> str | None:
        current = self.current(relation)
        return None if current is None else ("view" if current == VIEW else "table")

    def _switch(self, relation: Relation, value: str) -> None:
        folder = self.folder(relation)
        os.makedirs(folder, exist_ok=True)
        temporary = os.path.join(folder, f".{CURRENT}.{uuid.uuid4().hex}")
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(value)
        os.replace(temporary, os.path.join(folder, CURRENT))

    def _new_version(self, relation: Relation) -> str:
        return os.path.join(
            self.folder(relation), f"v-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
        )

    def rows_in(self, folder: str) -> int:
        """The rows of a version folder, from its Parquet footers (no Spark job)."""
        import pyarrow.parquet as pq

        files = [os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".parquet")]
        return sum(pq.ParquetFile(f).metadata.num_rows for f in files)

    def _remove_old_versions(self, relation: Relation, keep: str | None) -> None:
        folder = self.folder(relation)
        for name in os.listdir(folder):
            path = os.path.join(folder, name)
            if (name.startswith("v-") or name.startswith("batch-")) and path != keep:
                shutil.rmtree(path, ignore_errors=True)

    # -- the session's catalog ----------------------------------------------------------

    def declare_all(self, models: list[Model]) -> None:
        """Declare every built model in this session's catalog (tables before views, views
        in the order given: parents first)."""
        views = []
        for model in models:
            kind = self.kind(model.relation)
            if kind == "table":
                self._declare_table(model.relation)
            elif kind == "view":
                views.append(model)
            else:  # not built here: no stale entry of this session's catalog may answer for it
                self._drop_view(spark_name(model.relation))
                self._drop_table(spark_name(model.relation))
        for model in views:
            try:
                self._declare_view(model.relation, model.python_functions != set())
            except Exception:  # noqa: BLE001 - a view over a relation gone: rebuilt by the next run
                continue

    def location(self, relation: Relation) -> str:
        """The folder of the table's version in use."""
        return os.path.join(self.folder(relation), self.current(relation) or "")

    def _declare_table(self, relation: Relation) -> None:
        location = self.location(relation)
        name = spark_name(relation)
        if relation.schema:
            self.spark.sql(f"CREATE DATABASE IF NOT EXISTS `{relation.schema}`")
        self._drop_view(name)
        schema = written_schema(location)
        if schema is not None:  # the columns Spark wrote: no job to infer them, never stale
            self._drop_table(name)
            self.spark.catalog.createTable(name, path=location, source="parquet", schema=schema)
        elif self.spark.catalog.tableExists(name.replace("`", "")):
            self.spark.sql(f"ALTER TABLE {name} SET LOCATION '{_quoted(location)}'")
            self.spark.sql(f"REFRESH TABLE {name}")
        else:
            self.spark.sql(f"CREATE TABLE {name} USING parquet LOCATION '{_quoted(location)}'")

    def _drop_view(self, name: str) -> None:
        with contextlib.suppress(Exception):  # not a view (a table, or nothing)
            self.spark.sql(f"DROP VIEW IF EXISTS {name}")

    def _drop_table(self, name: str) -> None:
        with contextlib.suppress(Exception):  # not a table (a view, or nothing)
            self.spark.sql(f"DROP TABLE IF EXISTS {name}")

    def _declare_view(self, relation: Relation, temporary: bool) -> None:
        with open(os.path.join(self.folder(relation), VIEW_SQL), encoding="utf-8") as f:
            sql = f.read()
        self._create_view(relation, sql, temporary)

    def _create_view(self, relation: Relation, sql: str, temporary: bool) -> None:
        name = spark_name(relation)
        self._drop_table(name)
        if relation.schema:
            self.spark.sql(f"CREATE DATABASE IF NOT EXISTS `{relation.schema}`")
        scope = "TEMPORARY VIEW" if temporary and not relation.schema else "VIEW"
        self.spark.sql(f"CREATE OR REPLACE {scope} {name} AS\n{sql}")

    # -- materializations -----------------------------------------------------------------

    def build_view(self, relation: Relation, sql: str, temporary: bool) -> Built:
        existed = self.kind(relation)
        self._drop_table(spark_name(relation))
        self._create_view(relation, sql, temporary)
        folder = self.folder(relation)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, VIEW_SQL), "w", encoding="utf-8") as f:
            f.write(sql)
        self._switch(relation, VIEW)
        self._remove_old_versions(relation, None)
        return Built(None, "replaced" if existed else "created")

    def build_table(
        self, relation: Relation, frame: Any, before_switch: Callable[[], None] | None = None
    ) -> Built:
        """Write the query's rows into a new version, then switch the table to it
        (`before_switch` may still refuse the new rows by raising)."""
        existed = self.kind(relation)
        version = self._new_version(relation)
        try:
            frame.write.mode("error").parquet(version)
        except BaseException:
            shutil.rmtree(version, ignore_errors=True)
            raise
        try:
            rows = self.rows_in(version)
            if before_switch is not None:
                before_switch()
        except BaseException:
            shutil.rmtree(version, ignore_errors=True)
            raise
        if existed == "view":
            self._drop_view(spark_name(relation))
        self._switch(relation, os.path.basename(version))
        self._declare_table(relation)
        self._remove_old_versions(relation, version)
        return Built(rows, "replaced" if existed else "created")

    def build_increment(
        self, model: Model, frame: Any, *, dry_run: bool, before_switch: Callable[[], None] | None = None
    ) -> Built:
        """Write the new rows once, then append them or merge them on unique_key."""
        relation = model.relation
        batch_dir = os.path.join(self.folder(relation), f"batch-{uuid.uuid4().hex[:8]}")
        frame.write.mode("error").parquet(batch_dir)
        try:
            batch = self.spark.read.parquet(batch_dir)
            rows = self.rows_in(batch_dir)
            if dry_run:
                return Built(rows, f"would add {rows} new rows")
            keys = model.config.unique_keys
            merging = bool(keys) and model.config.strategy == "merge"
            if rows == 0:  # nothing new: the table stays as it is
                return Built(0, "merged 0 rows (0 replaced)" if merging else "inserted 0 rows")
            if before_switch is not None:
                before_switch()
            current = self.location(relation)
            existing = self.spark.read.parquet(current)
            batch = self._conform(model, batch, existing)
            missing = [k for k in keys if k not in batch.columns]
            if missing:
                raise ExecutionError(
                    f"unique_key column {', '.join(missing)} is not among the model's columns"
                )
            schema_changed = set(batch.columns) - set(existing.columns)
            if merging or schema_changed:
                kept = existing.join(batch.select(*keys), on=keys, how="left_anti") if keys else existing
                replaced = existing.count() - kept.count() if keys else 0
                return self._merge(relation, kept, batch, rows, replaced, merged=bool(keys))
            batch.select(*existing.columns).write.mode("append").parquet(current)
            self._declare_table(relation)
            return Built(rows, f"inserted {rows} rows")
        finally:
            shutil.rmtree(batch_dir, ignore_errors=True)

    def _merge(
        self, relation: Relation, kept: Any, batch: Any, rows: int, replaced: int, *, merged: bool
    ) -> Built:
        version = self._new_version(relation)
        try:
            kept.unionByName(batch, allowMissingColumns=True).write.mode("error").parquet(version)
        except BaseException:
            shutil.rmtree(version, ignore_errors=True)
            raise
        self._switch(relation, os.path.basename(version))
        self._declare_table(relation)
        self._remove_old_versions(relation, version)
        if merged:
            return Built(rows, f"merged {rows} rows ({replaced} replaced)")
        return Built(rows, f"inserted {rows} rows")

    def _conform(self, model: Model, batch: Any, existing: Any) -> Any:
        """on_schema_change for the batch's columns the table lacks."""
        new = [c for c in batch.columns if c not in existing.columns]
        policy = model.config.on_schema_change
        if new and policy == "fail":
            raise ExecutionError(
                f"the new rows have columns the existing table lacks ({', '.join(new)}); rebuild with --full-refresh, "
                "or set config(on_schema_change='append_new_columns') or 'ignore'"
            )
        if new and policy == "ignore":
            return batch.select(*[c for c in batch.columns if c in existing.columns])
        return batch


SPARK_SCHEMA_KEY = b"org.apache.spark.sql.parquet.row.metadata"


def written_schema(folder: str) -> Any | None:
    """The Spark schema a version folder's rows were written with (Spark keeps it in each
    Parquet footer), or None (no file, or not written by Spark): declaring a table with it
    spares the job Spark runs to infer the schema from the files."""
    import json

    import pyarrow.parquet as pq
    from pyspark.sql.types import StructType

    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".parquet"))
        if not names:
            return None
        text = (pq.read_metadata(os.path.join(folder, names[0])).metadata or {}).get(SPARK_SCHEMA_KEY)
        return None if text is None else StructType.fromJson(json.loads(text))
    except (OSError, ValueError, KeyError):
        return None


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")
