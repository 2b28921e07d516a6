"""Secrets never leave the machine: finding credentials, redacting and anonymizing text.

redact(text)            credentials -> [REDACTED:<kind>]
find_secrets(text)      what redact() replaces, with kinds and offsets
anonymize(text, key)    e-mails, home-folder user names, IP addresses -> keyed placeholders
fingerprint(value, key) a short keyed hash of a value, for audits (never the value)

Loaded lazily (module `__getattr__`): the SQL side (sql.py) is registered in every
connection, and compiles no pattern until a function is called.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracesql.secrets.detector import PATTERN, Finding, find_secrets, placeholder, redact
    from tracesql.secrets.rules import PREFILTER

__all__ = ["PATTERN", "PREFILTER", "Finding", "find_secrets", "placeholder", "redact"]
_HOMES = {name: "tracesql.secrets.detector" for name in __all__} | {"PREFILTER": "tracesql.secrets.rules"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tracesql.secrets' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
