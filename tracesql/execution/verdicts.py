"""What a model's LLM values came to, as the runner judges it.

- Every value failed (and at least one was asked): the model is an error, its new rows
  are refused before anything is committed (the old table stays), its descendants are
  skipped.
- Some failed: the model is a warning with the counts; its rows are written, each failed
  value keeping its previous one where the model allows it (materialize.keep_previous).
- The run exits 1 when a model's share of failed values exceeds `max_error_rate`
  (default 0: any failed value). Values not asked because a budget or deadline was
  reached are not failures: they are counted apart.
"""

from __future__ import annotations

from typing import Literal

from tracesql.errors import LLMError
from tracesql.llm.stats import ModelTally


def refuse_if_all_failed(tally: ModelTally) -> None:
    """Raise when every LLM value of the model failed: nothing of it is written."""
    if tally.failed and tally.answered == 0:
        raise LLMError(
            f"every LLM value failed ({tally.failed} of {tally.failed}; nothing was written, the previous "
            f"rows stay): {tally.first_error}"
        )


def note(tally: ModelTally, kept: int, skipped: int = 0) -> str:
    """The LLM part of a model's run line ("" when every value was answered)."""
    parts = [f"{skipped} skipped (see skip_reason)"] if skipped else []
    if tally.failed:
        asked = tally.answered + tally.failed
        part = f"{tally.failed} of {asked} LLM value{'s' if asked != 1 else ''} failed"
        if kept:
            part += f" ({kept} kept the previous value)"
        parts.append(part)
    if tally.budget_skipped:
        parts.append(f"{tally.budget_skipped} not asked (budget)")
    return "; ".join(parts)


def error_rate(tally: ModelTally) -> float:
    asked = tally.answered + tally.failed
    return tally.failed / asked if asked else 0.0


def over_error_rate(tally: ModelTally, limit: float | Literal["fail"]) -> bool:
    """Does the model's share of failed values exceed the run's max_error_rate?"""
    return bool(tally.failed) and (limit == "fail" or error_rate(tally) > limit)
