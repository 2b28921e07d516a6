"""The Python daemon of tracesql's Spark workers: PySpark's own, with tracesql loaded once.

Spark starts one daemon per kind of Python worker (`python -m <daemon> <worker module>`)
and forks it for every worker process it needs: a task runs one worker per Python UDF
stage of its query (two for a model whose `redact()` calls feed its `llm()` call:
the redactions, those lifted out of lambdas with them, then the LLM call). With PySpark's
daemon each fork then imports what its UDF needs on its own (the `openai` client, the
LLM runtime, sqlglot, the secret rules: about a second of CPU per worker, several under
load) and builds the secret rules' RE2 automaton on its first text. This daemon does
both before it forks, so every worker starts with them loaded
(`spark.python.daemon.module`, set by session.py).

Only modules whose import starts no thread are loaded here: a forked child keeps only the
thread that forked, so a pool or allocator thread started before the fork would be gone
in the workers (PySpark's daemon loads nothing for that reason). pyarrow and numpy start
threads when imported; the workers import them after the fork, as before
(tests/spark/test_daemon.py checks that the daemon is still single-threaded after preload).
"""

from __future__ import annotations

import importlib
import sys

# What the LLM and text UDFs and the trace reader import, less pyarrow and numpy and what
# imports them (tracesql.secrets.columns, tracesql.readers.scan, tracesql.spark.functions).
PRELOADED = (
    "pyspark.worker",
    "openai",
    "tracesql.llm.runtime",
    "tracesql.spark.budget",
    "tracesql.spark.dialect",
    "tracesql.secrets.keys",
    "tracesql.secrets.detector",
    "tracesql.secrets.anonymize",
    "tracesql.readers.registry",
)
# a text with what the rules look for, so the automaton's states are built before the fork
SAMPLE = (
    b"export OPENAI_API_KEY=sk-proj-0123456789abcdefghijklmnopqrstuvwxyzABCD password: 'hunter22' "
    b"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl ghp_0123456789abcdefghij"
    b"klmnopqrstuvwxyz0123 AKIAIOSFODNN7EXAMPLE user@example.com 10.0.0.1 plain text, nothing secret"
)


def preload(modules: tuple[str, ...] = PRELOADED) -> list[str]:
    """Import the modules the workers need and warm the secret rules; the names that failed
    (a worker imports them itself, and reports the error where it has one)."""
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - never stop the daemon: the worker's own import decides
            failed.append(name)
    try:
        from tracesql.secrets import detector

        detector.redact_bytes(SAMPLE * 4)
        detector.candidate_spans(SAMPLE * 4)
    except Exception:  # noqa: BLE001 - the workers build the automaton themselves
        failed.append("tracesql.secrets.detector (warm-up)")
    return failed


def main() -> None:
    from pyspark import daemon

    if len(sys.argv) < 2 or sys.argv[1] == "pyspark.worker":  # not the query planners' daemons
        preload()
    daemon.manager()


if __name__ == "__main__":
    main()
