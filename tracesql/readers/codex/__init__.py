"""The codex reader; see reader.py."""

from tracesql.readers.codex.reader import CodexReader

__all__ = ["CodexReader"]
