"""`master: sc://...`: the project through a local Spark Connect server (the
start-connect-server.sh that ships with pyspark), readers and LLM columns included. A
process can hold a classic session or a Connect one, not both: the CLI runs in its own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_extra
from tests.llm.fake_server import FakeLLMServer
from tests.spark.test_example_project import copy_project
from tests.test_example_project import generous


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_extra("pyspark")
    import pyspark

    home = Path(pyspark.__file__).parent
    logs = tmp_path_factory.mktemp("connect")
    port = free_port()
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOG_DIR": str(logs),
        "SPARK_PID_DIR": str(logs),
        "SPARK_IDENT_STRING": f"tracesql-test-{port}",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    conf = ["--master", "local[2]", "--conf", f"spark.connect.grpc.binding.port={port}"]
    conf += ["--conf", "spark.ui.enabled=false", "--conf", "spark.sql.session.timeZone=UTC"]
    subprocess.run(["bash", str(home / "sbin" / "start-connect-server.sh"), *conf], env=env, check=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        else:
            pytest.fail(f"the Spark Connect server did not start: see {logs}")
        yield f"sc://127.0.0.1:{port}"
    finally:
        subprocess.run(["bash", str(home / "sbin" / "stop-connect-server.sh")], env=env, check=False)


@pytest.mark.slow
def test_a_project_runs_through_spark_connect(connect_server, tmp_path):
    project = copy_project(tmp_path / "project")
    profiles = project / "profiles.yml"
    profiles.write_text(
        profiles.read_text().replace(
            "targets:\n", f'targets:\n  connect: {{type: spark, master: "{connect_server}"}}\n', 1
        )
    )
    tracesql = str(Path(sys.executable).parent / "tracesql")
    with FakeLLMServer(default=generous) as server:
        env = {
            **os.environ,
            "TRACESQL_LLM_BASE_URL": server.url,
            "TRACESQL_LLM_API_KEY": "test-key-not-a-secret",
        }

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [tracesql, *args, "--target", "connect", "--project-dir", str(project)],
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )

        built = run("run", "--vars", "{llm_model: local}", "-s", "+trace_digests")
        assert built.returncode == 0, built.stdout + built.stderr
        assert "2 ok" in built.stdout
        assert len(server.requests) == 15  # a digest per trace
        counted = run(
            "query", "SELECT count(*) AS n, count(trace_digest) AS d FROM trace_digests", "--format", "csv"
        )
        assert counted.returncode == 0, counted.stdout + counted.stderr
        assert counted.stdout.strip().splitlines()[-1] == "15,15"
