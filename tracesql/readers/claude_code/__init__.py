"""The claude_code reader; see reader.py."""

from tracesql.readers.claude_code.reader import ClaudeCodeReader

__all__ = ["ClaudeCodeReader"]
