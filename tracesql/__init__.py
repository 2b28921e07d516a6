"""tracesql: SQL over coding-agent traces.

    import tracesql
    con = tracesql.connect("tracesql.duckdb")
    con.sql("SELECT source_kind, count(*) FROM traces('~/.claude/projects') GROUP BY ALL").show()

The API is loaded lazily (module `__getattr__`): `import tracesql` imports neither duckdb
nor openai until a function that needs them is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracesql.errors import TracesqlError
from tracesql.version import __version__

if TYPE_CHECKING:
    from tracesql.commands.api import connect, load_project, run
    from tracesql.connection import Connection
    from tracesql.llm.config import LLMConfig, RunOptions

_LAZY = {
    "connect": "tracesql.commands.api",
    "load_project": "tracesql.commands.api",
    "run": "tracesql.commands.api",
    "Connection": "tracesql.connection",
    "LLMConfig": "tracesql.llm.config",
    "RunOptions": "tracesql.llm.config",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tracesql' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Connection",
    "LLMConfig",
    "RunOptions",
    "TracesqlError",
    "__version__",
    "connect",
    "load_project",
    "run",
]
