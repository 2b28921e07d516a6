"""The hermes_agent reader; see reader.py."""

from tracesql.readers.hermes_agent.reader import HermesAgentReader

__all__ = ["HermesAgentReader"]
