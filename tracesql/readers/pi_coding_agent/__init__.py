"""The pi_coding_agent reader; see reader.py."""

from tracesql.readers.pi_coding_agent.reader import PiCodingAgentReader

__all__ = ["PiCodingAgentReader"]
