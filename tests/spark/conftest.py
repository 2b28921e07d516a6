"""Spark tests share one local session (Spark allows one per process; starting it takes
seconds). Without the `spark` extra they skip with the reason; under TRACESQL_CI=1 (set by
.ci/run, which installs it) they fail instead."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_extra
from tracesql.project.settings import SparkTarget


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require_extra("pyspark")
    from tracesql.spark.session import start_session

    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    session = start_session(SparkTarget("local[2]", str(warehouse), {}), app_name="tracesql tests")
    yield session


@pytest.fixture
def duck() -> Iterator[Any]:
    import duckdb

    con = duckdb.connect()
    yield con
    con.close()


def warehouse_dir(tmp_path: Path) -> str:
    return str(tmp_path / "warehouse")
