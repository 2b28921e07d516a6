"""The README's claim that the plain duckdb CLI opens the database tracesql builds: the
file is written in the storage format of the target's `storage_version` (v1.4.0 unless
profiles.yml says otherwise), which every duckdb CLI from 1.4 on reads."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import duckdb

from tests.conftest import invoke, require_extra, write_files
from tests.test_example_project import cli, project, rows  # noqa: F401  (project is a fixture)

README = Path(__file__).resolve().parents[1] / "README.md"


def storage_version(database: Path) -> str:
    con = duckdb.connect(str(database), read_only=True)
    try:
        return con.execute(
            "SELECT tags['storage_version'] FROM duckdb_databases() WHERE NOT internal AND path IS NOT NULL"
        ).fetchone()[0]
    finally:
        con.close()


def test_the_readme_duckdb_line_runs_in_the_plain_cli(project):  # noqa: F811
    binary = require_extra("duckdb-cli")
    line = next(
        line.split("#")[0].strip()
        for line in README.read_text().splitlines()
        if line.startswith("duckdb tracesql.duckdb")
    )
    built = cli(project, "run", "-s", "traces")
    assert built.exit_code == 0, built.output
    assert storage_version(project / "tracesql.duckdb") == "v1.4.0+"
    (count,) = rows(project, "SELECT count(*) FROM traces")[0]
    argv = shlex.split(line)
    done = subprocess.run(
        [binary, *argv[1:], "-csv"], cwd=project, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["count_star()", str(count)]
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60).stdout
    assert re.match(r"v1\.(\d+)\.", version) and int(version.split(".")[1]) >= 4


def test_storage_version_is_a_profile_setting(tmp_path):
    root = write_files(
        tmp_path / "p",
        {
            "profiles.yml": """
                targets:
                  dev: {database: new.duckdb, storage_version: null}
                  old: {database: old.duckdb}
            """,
            "models/one.sql": "{{ config(materialized='table') }} select 1 as x",
        },
    )
    assert invoke(root, "run").exit_code == 0
    assert storage_version(root / "new.duckdb") == "v2.0.0+"
    assert invoke(root, "run", "--target", "old").exit_code == 0
    assert storage_version(root / "old.duckdb") == "v1.4.0+"
    write_files(root, {"profiles.yml": "targets: {dev: {storage_version: '1.4'}}"})
    bad = invoke(root, "run")
    assert (
        bad.exit_code == 1 and "targets.dev.storage_version" in bad.stderr and "profiles.yml:1" in bad.stderr
    )
