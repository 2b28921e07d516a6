"""Running a project on Apache Spark (`type: spark` targets; docs/spark.md).

- session.py     starting Spark from a target (local mode, a cluster, Spark Connect)
- dialect.py     DuckDB SQL to Spark SQL: sqlglot plus tracesql's rewrites
- spread.py      an LLM call's rows spread over the tasks, its inputs computed before the shuffle
- lint.py        what Spark cannot run, named before anything runs
- builtins.py    Spark's function names, for the lint
- datasource.py  the trace readers as a Python Data Source
- functions.py   redact(), anonymize(), llm_render() and the LLM calls as Arrow UDFs
- warehouse.py   materializations, tables as versioned Parquet folders
- engine.py      SparkConnection: what the runner and the commands use

Only the Spark-facing functions import pyspark (the `spark` extra), when they run.
"""
