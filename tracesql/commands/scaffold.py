"""`tracesql init`: the smallest project that runs, and `tracesql clean`."""

from __future__ import annotations

import shutil
from pathlib import Path

from tracesql.errors import ProjectError
from tracesql.secrets.keys import SALT_FILE

PROFILES = """\
# Where tracesql builds, and with what. See `tracesql debug` for the resolved values.
target: dev
targets:
  dev:
    database: tracesql.duckdb
vars:
  trace_path: ~/.claude/projects
# providers:      # LLM providers besides the built-in nvidia and openai
#   local: {base_url: "http://127.0.0.1:8000/v1", api_key_env: LOCAL_LLM_KEY}
# models:         # LLM model aliases used by llm(...)
#   default: {provider: nvidia, model: "meta/llama-3.3-70b-instruct"}
"""

SESSIONS_SQL = """\
-- One row per Claude Code trace. Reads Python-backed readers, so it is a table.
select
    trace_key,
    trace_id,
    source_kind,
    project_path,
    started_at,
    message_count,
    tool_call_count,
    final_assistant_message
from {{ source('traces', 'claude_code', path=var('trace_path')) }}
"""

DAILY_SQL = """\
-- A plain view over the table above: opens in the duckdb CLI too.
select date_trunc('day', started_at) as day, count(*) as traces, sum(tool_call_count) as tool_calls
from {{ ref('sessions') }}
group by all
order by day
"""

SCHEMA_YML = """\
version: 2
models:
  - name: sessions
    description: One row per trace.
    columns:
      - name: trace_key
        data_tests: [not_null, unique]
  - name: daily_activity
    description: Traces and tool calls per day.
"""

GITIGNORE = "target/\n*.duckdb\n*.duckdb.wal\n"

FILES = {
    "profiles.yml": PROFILES,
    "models/sessions.sql": SESSIONS_SQL,
    "models/daily_activity.sql": DAILY_SQL,
    "models/schema.yml": SCHEMA_YML,
    "macros/.gitkeep": "",
    ".gitignore": GITIGNORE,
}


def init_project(directory: str | Path) -> list[Path]:
    """Write the starter files that do not exist yet; return the ones written."""
    root = Path(directory).expanduser().resolve()
    if (root / "models").is_dir() and any((root / "models").iterdir()):
        raise ProjectError(f"{root} already has a models/ folder; not overwriting a project")
    written = []
    for rel, text in FILES.items():
        path = root / rel
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def clean(project_dir: Path, target_dir: Path) -> Path | None:
    """Empty target/ (never anything outside the project), keeping the LLM cache and call log
    (llm_cache.sqlite*, llm_calls.sqlite*): clearing the cache would make the next run pay
    again; and the secrets salt (secrets.salt): a new one would change every fingerprint and
    anonymized placeholder. Returns target/ if it existed."""
    target_dir = target_dir.resolve()
    if project_dir.resolve() not in target_dir.parents:
        raise ProjectError(f"refusing to delete {target_dir}: it is not inside the project {project_dir}")
    if not target_dir.exists():
        return None
    for entry in target_dir.iterdir():
        if entry.name.startswith(KEEP_ON_CLEAN):
            continue  # paid-for LLM answers, what they cost, the salt that keeps placeholders stable
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    if not any(target_dir.iterdir()):
        target_dir.rmdir()
    return target_dir


KEEP_ON_CLEAN = ("llm_cache.sqlite", "llm_calls.sqlite", SALT_FILE)
