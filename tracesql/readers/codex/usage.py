"""Codex token usage: `token_count` events turned into one usage entry per model turn.

Codex writes an `event_msg` of type `token_count` after each model response; the rules
(docs/usage.md):

- `info.total_token_usage` is cumulative over the session: a turn's usage is its
  difference from the previous event's totals. An event that repeats the totals (Codex
  writes one per rate-limit update) adds nothing; totals that go down (a session
  restarted from zero) start over: the new totals are that turn's usage.
- without totals, `info.last_token_usage` is the turn's own usage; so is the flat shape
  of early builds (`{type: token_count, input_tokens, output_tokens, ...}` on the event)
  and `info: {prompt, completion}` (0.50-era builds).
- Codex's `input_tokens` include the cached ones: an entry's `input_tokens` is
  `input_tokens - cached_input_tokens`, its `cache_read_tokens` the cached ones;
  `reasoning_output_tokens` (part of `output_tokens`) is `reasoning_tokens`.
- the model is the event's `info.model`, else the latest `turn_context` model.
- an entry's id is the event's timestamp and counts, so a forked rollout that replays its
  parent's events gives the same ids (counted once across files).
"""

from __future__ import annotations

from typing import Any

FLAT_USAGE_KEYS = ("input_tokens", "output_tokens", "total_tokens")
COUNT_KEYS = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
    "cache_write_input_tokens",
)


def _counts(usage: Any) -> dict[str, int]:
    """The whole-number counts of a Codex usage object (others left out)."""
    if not isinstance(usage, dict):
        return {}
    return {
        key: usage[key]
        for key in COUNT_KEYS
        if isinstance(usage.get(key), int) and not isinstance(usage[key], bool) and usage[key] >= 0
    }


class TokenCounts:
    """Turns the token_count events of one rollout, in order, into per-turn counts."""

    def __init__(self) -> None:
        self.totals: dict[str, int] | None = None  # the previous cumulative totals

    def turn(self, event: dict) -> tuple[dict[str, int], str] | None:
        """(the turn's counts, what names the event) for one token_count event; None when
        it adds nothing (no usage, repeated totals)."""
        info = event.get("info")
        if "info" not in event and any(k in event for k in FLAT_USAGE_KEYS):
            counts = _counts(event)  # early builds: one turn's usage, flat on the event
        elif not isinstance(info, dict):
            return None
        elif isinstance(info.get("total_token_usage"), dict):
            totals = _counts(info["total_token_usage"])
            previous, self.totals = self.totals, totals
            if previous is None or any(totals.get(k, 0) < previous.get(k, 0) for k in COUNT_KEYS):
                counts = totals
            else:
                counts = {k: v - previous.get(k, 0) for k, v in totals.items()}
            if any(counts.values()):
                return counts, _named(totals)
            return None
        elif isinstance(info.get("last_token_usage"), dict):
            counts = _counts(info["last_token_usage"])
        elif "prompt" in info or "completion" in info:
            counts = _counts({"input_tokens": info.get("prompt"), "output_tokens": info.get("completion")})
        else:
            return None
        return (counts, _named(counts)) if any(counts.values()) else None


def _named(counts: dict[str, int]) -> str:
    return ",".join(f"{k}={counts[k]}" for k in sorted(counts))


def entry_counts(counts: dict[str, int]) -> dict[str, int | None]:
    """A turn's Codex counts as usage entry counts (input without the cached part)."""
    prompt = counts.get("input_tokens")
    cached = counts.get("cached_input_tokens")
    return {
        "input": None if prompt is None else max(prompt - (cached or 0), 0),
        "output": counts.get("output_tokens"),
        "cache_read": cached,
        "cache_write": counts.get("cache_write_input_tokens"),
        "reasoning": counts.get("reasoning_output_tokens"),
    }
