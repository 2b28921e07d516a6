"""What one command asks of the LLM layer beyond profiles.yml: RunOptions.

Apart from config.py (pydantic) so that a command that makes no LLM call, such as
`tracesql query "select 1"`, can pass its options without importing pydantic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from tracesql.llm.config import LLMSettings


@dataclass(frozen=True)
class RunOptions:
    """What one command asks of the LLM layer, beyond profiles.yml (the CLI builds it once
    from its flags). A budget of None falls back to profiles.yml's `llm:` settings; 0 is
    a budget of nothing (no call is made)."""

    dry_run: bool = False  # count the calls a real run would make; make none
    refresh_cache: bool = False  # ask again even when the cache has the answer (and store it)
    no_cache: bool = False  # neither read nor write the cache
    max_calls: int | None = None
    max_tokens: int | None = None
    deadline: float | None = None  # seconds from the connection's start; no request starts after it
    max_error_rate: float | Literal["fail"] | None = None  # None: llm.max_error_rate
    progress: Callable[[dict[str, Any]], Any] | None = None  # receives progress events

    def cache_mode(self, settings: LLMSettings) -> str:
        """use | refresh | off: the flags win over llm.cache."""
        return "off" if self.no_cache else "refresh" if self.refresh_cache else settings.cache

    def error_rate(self, settings: LLMSettings) -> float | Literal["fail"]:
        """The share of failed LLM values a model may have before the run exits 1, or
        "fail": the flag, else the setting."""
        return self.max_error_rate if self.max_error_rate is not None else settings.max_error_rate

    def budget(self, settings: LLMSettings) -> tuple[int | None, int | None, float | None]:
        """(max calls, max tokens, deadline seconds) for the run: the flags, else the settings."""
        calls = self.max_calls if self.max_calls is not None else settings.max_calls
        tokens = self.max_tokens if self.max_tokens is not None else settings.max_tokens_total
        deadline = self.deadline if self.deadline is not None else settings.deadline
        return calls, tokens, deadline
