"""The atif reader; see reader.py."""

from tracesql.readers.atif.reader import AtifReader

__all__ = ["AtifReader"]
