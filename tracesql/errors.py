"""The one exception root of tracesql, and its children.

Library code raises these and never prints or exits; the CLI turns them into a single
``Error: ...`` line. Every error can carry the file, line and model it concerns, and its
``str()`` names them.
"""

from __future__ import annotations


class TracesqlError(Exception):
    """Root of every error tracesql raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        self.model = model

    def location(self) -> str:
        parts = []
        if self.model:
            parts.append(f"model {self.model}")
        if self.path:
            where = str(self.path)
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            parts.append(where)
        return ", ".join(parts)

    def __str__(self) -> str:
        loc = self.location()
        return f"{loc}: {self.message}" if loc else self.message


class ConfigError(TracesqlError):
    """profiles.yml, project settings, vars or command-line options are wrong."""


class ProjectError(TracesqlError):
    """The project's files (models, macros, YAML) cannot be loaded."""


class CompileError(TracesqlError):
    """A model does not render or does not parse as SQL."""


class GraphError(TracesqlError):
    """A cycle, a missing ref or a bad selector in the model graph."""


class ExecutionError(TracesqlError):
    """DuckDB rejected a statement while a model or query ran."""


class DatabaseLocked(ExecutionError):
    """Another process holds the DuckDB file: a writer blocks everyone, a reader blocks writers."""


class ReaderError(TracesqlError):
    """A trace folder or file cannot be read (or strict mode met a diagnostic)."""


class LLMError(TracesqlError):
    """An LLM call failed and the configuration says failures are fatal."""


class LLMNotConfigured(LLMError):
    """An LLM column cannot run here: no model configured, or its API key variable is unset.

    Raised before any HTTP request, so the runner can report the model as skipped; the
    message names the profiles.yml entry or environment variable to set."""


class LLMStoreError(LLMError):
    """The LLM cache or call-log file cannot be used (garbled, not writable, from a newer
    release, deleted during the run). Raised before any request when the file is opened,
    so nothing is paid for an answer that could not be kept."""


class RunInterrupted(TracesqlError):
    """The run was stopped by SIGINT or SIGTERM: no new LLM request was started after it."""

    def __init__(self, message: str, *, reason: str = "SIGINT") -> None:
        super().__init__(message)
        self.reason = reason  # the signal's name
