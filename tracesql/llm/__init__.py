"""LLM columns: the llm() SQL functions, their HTTP client, cache and call log.

- config.py      providers, model aliases and settings (profiles.yml); RunOptions
- names.py       the SQL functions' names
- functions.py   the SQL functions and the connection hook
- runtime.py     per-connection state: chunks of rows to answers (cache lookups, dry runs)
- fetching.py    the network side: in-flight sharing, re-asks, the call-log row deciding each value
- jobs.py        one row's request (resolved alias, rendered prompt, schema) and its value
- lanes.py       the event loop thread and one lane per alias: retries, concurrency, stops
- budget.py      max calls / tokens / deadline, the dry run's estimates, per-alias rate limits
- interrupts.py  SIGINT/SIGTERM: stop spending in every open connection (the CLI installs it)
- stats.py       per-alias totals and the call-log rows of a run
- client.py      one HTTP attempt through the `openai` client (body, deadline, parsing)
- cache.py       the persistent response cache and call log (two SQLite files)
- sqlitedb.py    opening and verifying those files before any request
- calls.py       call-log rows and the `llm_calls` table
- columns.py     table rows declared once (DuckDB types, the cache's SQLite DDL, migration)
- structured.py  JSON schema <-> DuckDB type, validation of answers
- judge.py       score definitions to a judge schema and prompt
- prompts.py     sandboxed per-row prompt templates
- jinja.py       compile-time helpers (prompt_file, llm_judge, ...)
- progress.py    progress events and their rendering
"""

from __future__ import annotations

from typing import Any


def jinja_globals(project_dir: Any) -> dict[str, Any]:
    """Jinja globals for models at compile time (prompt_file, llm_judge, sql_literal, json_literal)."""
    from tracesql.llm.jinja import jinja_globals as build

    return build(project_dir)


def warm_up() -> None:
    """Start importing the `openai` client on a background thread (it takes about a second).
    Connections with LLM models configured do this when they open; a command that knows
    early that it will call an LLM (e.g. `tracesql run` right after reading profiles.yml)
    can call it sooner so the import overlaps more of its other work."""
    from tracesql.llm.client import prefetch_openai

    prefetch_openai()


__all__ = ["jinja_globals", "warm_up"]
