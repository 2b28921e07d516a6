"""Starting Spark for a `type: spark` target: local mode, a cluster, or Spark Connect.

    targets:
      spark: {type: spark, master: "local[2]", warehouse: target/spark-warehouse,
              conf: {spark.sql.shuffle.partitions: 4}}

`master` is `local[N]` (the default, `local[2]`), `spark://host:port` (a standalone
cluster) or `sc://host:port` (Spark Connect). `conf` is passed to Spark as it is, except
what tracesql needs to keep its guarantees: `spark.speculation` stays off (a speculative
copy of a task would send its LLM requests twice), and the session time zone is UTC (the
normalized rows' timestamps are UTC instants, as on DuckDB).

One session per process: Spark allows one SparkContext, so a second project (or test)
with the same master shares it.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
from typing import Any

from tracesql.errors import ConfigError
from tracesql.project.settings import SparkTarget

INSTALL_HINT = "pip install 'tracesql[spark]'"
FORCED = {"spark.speculation": "false", "spark.sql.session.timeZone": "UTC"}
DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # DuckDB's to_json keeps null fields; Spark's drops them unless told (LLM vars must match)
    "spark.sql.jsonGenerator.ignoreNullFields": "false",
    # Python workers forked from a daemon that has tracesql's modules loaded (daemon.py)
    "spark.python.daemon.module": "tracesql.spark.daemon",
}
_LOCK = threading.Lock()


def require_pyspark() -> Any:
    """The pyspark module, or a ConfigError saying how to install it."""
    try:
        import pyspark
    except ImportError:
        raise ConfigError(f"a `type: spark` target needs Apache Spark: {INSTALL_HINT}") from None
    major, minor = (int(p) for p in pyspark.__version__.split(".")[:2])
    if (major, minor) < (4, 1):
        raise ConfigError(
            f"tracesql needs pyspark 4.1 or newer (found {pyspark.__version__}): {INSTALL_HINT}"
        )
    return pyspark


def spark_conf(target: SparkTarget) -> dict[str, str]:
    """The conf a session starts with: defaults, the target's `conf`, then what tracesql forces."""
    for key, value in FORCED.items():
        given = target.conf.get(key)
        if given is not None and given.lower() != value.lower():
            raise ConfigError(
                f"conf {key}: tracesql needs {value} (speculative tasks would send LLM requests twice; "
                "timestamps are UTC instants)"
            )
    return {**DEFAULTS, "spark.sql.warehouse.dir": target.warehouse, **target.conf, **FORCED}


def start_session(target: SparkTarget, app_name: str = "tracesql") -> Any:
    """The SparkSession of a target (started once per process; later calls share it)."""
    require_pyspark()
    from pyspark.sql import SparkSession

    # executors must run this interpreter (with tracesql installed), not the system python
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if target.master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # local mode needs no network interface
    conf = spark_conf(target)
    if "spark.driver.extraJavaOptions" not in conf and not target.master.startswith(
        "sc://"
    ):  # Spark's log lines are not tracesql's output
        conf["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile={quiet_logging()}"
    with _LOCK:
        builder = SparkSession.builder.appName(app_name)
        if target.master.startswith("sc://"):
            # a Connect server's own settings are its; only a session's SQL settings can be set
            builder = builder.remote(target.master)
            conf = {
                k: v for k, v in conf.items() if k.startswith("spark.sql.") and k != "spark.sql.warehouse.dir"
            }
        else:
            builder = builder.master(target.master)
        for key, value in conf.items():
            builder = builder.config(key, value)
        try:
            session = builder.getOrCreate()
        except Exception as exc:  # Py4J / gRPC errors: one clear line
            raise ConfigError(f"could not start Spark ({target.master}): {first_line(exc)}") from None
    if is_connect(session):
        speculation = str(session.conf.get("spark.speculation", "false")).lower()
        if speculation != "false":
            raise ConfigError(
                f"the Spark Connect server at {target.master} runs with spark.speculation={speculation}: "
                "tracesql needs it off (speculative tasks would send LLM requests twice)"
            )
    else:
        session.sparkContext.setLogLevel("ERROR")
    # pyspark logs every failed query as JSON on stderr; tracesql reports it as its own error
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    return session


def quiet_logging() -> str:
    """A log4j2 configuration that lets only Spark's fatal errors through (its failures come back as tracesql errors) (written once per user)."""
    path = os.path.join(
        tempfile.gettempdir(), f"tracesql-log4j2-v2-{os.getuid() if hasattr(os, 'getuid') else 0}.properties"
    )
    if not os.path.exists(path):
        with open(f"{path}.{os.getpid()}", "w", encoding="utf-8") as f:
            f.write(LOG4J2)
        os.replace(f"{path}.{os.getpid()}", path)
    return path


LOG4J2 = """\
rootLogger.level = fatal
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = Spark %p %c{1}: %m%n%ex
"""


def is_connect(session: Any) -> bool:
    return "connect" in type(session).__module__


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
