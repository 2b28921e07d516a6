"""The SQL face of tracesql.secrets, registered in every connection (configure_connection).

    SELECT redact(text) ...                     -- credentials -> [REDACTED:<kind>]
    SELECT anonymize(text) ...                  -- e-mails, home-folder users, IPs -> [KIND:xxxxxxxx]
    SELECT * FROM secret_findings('traces');    -- trace_key, message_index, field, kind, fingerprint

`secret_findings` takes the name of a table or view of normalized trace rows. The fields it
looks at, per message (1-based `message_index`): `text` and `data` (each content block),
`reasoning`, `tool_arguments`; per trace (`message_index` NULL): `source_meta`, `cwd`. Only
the strings DuckDB's RE2 finds a candidate in (`regexp_matches(text, PREFILTER)`) reach
Python. The fingerprint is keyed with the project's salt (keys.py); the value is never
shown.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

try:
    from duckdb.func import ARROW
except ImportError:  # pragma: no cover - DuckDB 1.x
    from duckdb.functional import ARROW  # type: ignore[no-redef]

from tracesql.secrets.keys import fingerprint, project_key
from tracesql.secrets.rules import PREFILTER
from tracesql.sqltext import string_literal

if TYPE_CHECKING:
    import pyarrow as pa

    from tracesql.secrets.columns import Rewrite

SQL_NAMES = frozenset({"redact", "anonymize", "secret_findings"})
FINDINGS_UDF = "__tracesql_secret_findings"
FINDING_TYPE = "STRUCT(kind VARCHAR, fingerprint VARCHAR)[]"

_FIELDS = (
    "list_concat("
    "list_transform(coalesce(m.content, []), lambda b: {'field': 'text', 'text': b.text}), "
    "list_transform(coalesce(m.content, []), lambda b: {'field': 'data', 'text': b.data}), "
    "[{'field': 'reasoning', 'text': m.reasoning_content}], "
    "list_transform(coalesce(m.tool_calls, []), lambda c: {'field': 'tool_arguments', 'text': c.function.arguments}))"
)
FINDINGS_MACRO = f"""
CREATE OR REPLACE TEMP MACRO secret_findings(relation) AS TABLE
WITH texts AS (
    SELECT trace_key, NULL::INTEGER AS message_index, 'source_meta' AS field, source_meta::VARCHAR AS text
    FROM query_table(relation)
    UNION ALL
    SELECT trace_key, NULL::INTEGER, 'cwd', cwd FROM query_table(relation)
    UNION ALL
    SELECT trace_key, message_index, f.field, f.text
    FROM (
        SELECT trace_key, unnest(messages) AS m, generate_subscripts(messages, 1)::INTEGER AS message_index
        FROM query_table(relation)
    ), unnest({_FIELDS}) AS u(f)
)
SELECT trace_key, message_index, field, finding.kind, finding.fingerprint
FROM (
    SELECT trace_key, message_index, field, unnest({FINDINGS_UDF}(text)) AS finding
    FROM texts
    WHERE text IS NOT NULL AND regexp_matches(text, {string_literal(PREFILTER)})
)
ORDER BY trace_key, message_index NULLS FIRST, field
"""


def user_key_dir() -> Path:
    """Where a connection outside any project keeps its salt: the user's cache folder."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tracesql"


def register(con: duckdb.DuckDBPyConnection, target_dir: str | None) -> None:
    """Register redact(), anonymize() and secret_findings() in `con`; the salt is read (or
    made) in `target_dir`, or the user's cache folder, the first time one needs it."""

    @cache
    def key() -> bytes:
        return project_key(Path(target_dir) if target_dir else user_key_dir())

    # The detector (google-re2, pyarrow.compute) is imported at the first call, not here.
    def vectorized(rewrite: Callable[[], Rewrite]) -> Callable[[pa.Array], pa.Array]:
        def apply(array: Any) -> Any:  # pa.Array (DuckDB evaluates a UDF's annotations)
            from tracesql.secrets.columns import redact_array

            return redact_array(array, rewrite())

        return apply

    def redacting() -> Rewrite:
        from tracesql.secrets.columns import REDACT

        return REDACT

    def anonymizer() -> Rewrite:
        from tracesql.secrets.columns import anonymizing

        return anonymizing(key())

    def findings(text: str) -> list[dict[str, str]]:
        from tracesql.secrets.detector import find_secrets

        return [{"kind": f.kind, "fingerprint": fingerprint(f.value, key())} for f in find_secrets(text)]

    varchar = duckdb.sqltype("VARCHAR")
    con.create_function("redact", vectorized(redacting), [varchar], varchar, type=ARROW)
    con.create_function("anonymize", vectorized(anonymizer), [varchar], varchar, type=ARROW)
    con.create_function(FINDINGS_UDF, findings, [varchar], duckdb.sqltype(FINDING_TYPE))
    con.execute(FINDINGS_MACRO)
