"""ATIF steps as normalized messages: one message per step, a tool message per
observation result with content, and the step-level facts the row needs (copied-context
steps, sub-agent references, models, token metrics). Rule breaches go to a RuleLog."""

from __future__ import annotations

import math
from typing import Any

from tracesql.readers import messages as msgs
from tracesql.readers import usage
from tracesql.readers.atif.rules import RuleLog
from tracesql.readers.base import Trace
from tracesql.readers.usage import file_scoped_id

ROLES = {"agent": "assistant", "user": "user", "system": "system"}
AGENT_ONLY = ("reasoning_content", "tool_calls", "observation")


class StepReader:
    """Turns steps into messages, collecting metadata and rule breaches on the way."""

    def __init__(self, trace: Trace, log: RuleLog, model: Any = None) -> None:
        self.trace = trace
        self.log = log
        self.model = model if isinstance(model, str) and model else None  # agent.model_name
        self.rejected = 0  # token counts left out (not whole numbers in 0..2^48)
        self.copied_ids: list[Any] = []
        self.subagent_refs: list[dict] = []
        self.metrics_seen = False
        self.cached_seen = False

    def read(self, index: int, step: Any) -> None:
        where = f"step {index + 1}"
        if not isinstance(step, dict):
            self.log.breach("step_object", where, f"is {type(step).__name__}; skipped", index)
            return
        step_id = step.get("step_id")
        if type(step_id) is not int or step_id != index + 1:
            self.log.breach("step_id", where, f"has step_id {step_id!r}", index)
        copied = step.get("is_copied_context") is True
        if copied:
            self.copied_ids.append(step_id)
        when = self.trace.times.add(step["timestamp"]) if step.get("timestamp") is not None else None
        if "message" not in step:
            self.log.breach("message", where, "has no message key", index)
        source = step.get("source")
        role = ROLES.get(source) if isinstance(source, str) else None
        if role is None:
            self.log.breach("source", where, f"has source {source!r}; read as a user message", index)
            role = "user"
        if source != "agent":
            present = [k for k in AGENT_ONLY if step.get(k) is not None]
            if present:
                self.log.breach("agent_only", where, f"is a {source!r} step with {', '.join(present)}", index)
        calls = self.tool_calls(step.get("tool_calls"), where, index)
        self.trace.add_model(step.get("model_name"))
        model = step.get("model_name") if isinstance(step.get("model_name"), str) else None
        reasoning = step.get("reasoning_content")
        message = msgs.message(
            role,
            content_blocks=self.content(step.get("message"), "message_type", f"{where} message", index),
            reasoning_content=msgs.scalar_text(reasoning) if reasoning is not None else None,
            tool_calls=calls,
            timestamp=when,
            model=(model or self.model) if role == "assistant" else None,
        )
        self.trace.messages.append(message)
        if not copied:
            self.add_metrics(step.get("metrics"), index, when, model or self.model, message)
        if step.get("observation") is not None:
            self.observation(step["observation"], step_id, calls or [], where, index, when)

    def content(self, value: Any, rule: str, where: str, index: int) -> list[dict]:
        if value is not None and not isinstance(value, (str, list)):
            self.log.breach(rule, where, f"is {type(value).__name__}; kept as JSON text", index)
        return msgs.blocks(value)

    def tool_calls(self, raw: Any, where: str, index: int) -> list[dict] | None:
        if raw is None:
            return None
        if not isinstance(raw, list):
            self.log.breach(
                "tool_calls", where, f"has tool_calls of type {type(raw).__name__}; ignored", index
            )
            return None
        calls = []
        for n, call in enumerate(raw, start=1):
            if not isinstance(call, dict):
                self.log.breach("tool_calls", f"{where} tool call {n}", "is not an object; skipped", index)
                continue
            call_id, name = call.get("tool_call_id"), call.get("function_name")
            if not (isinstance(call_id, str) and call_id and isinstance(name, str) and name):
                self.log.breach(
                    "tool_calls", f"{where} tool call {n}", f"has id {call_id!r}, name {name!r}", index
                )
            calls.append(msgs.tool_call(call_id, name, call.get("arguments")))
        return calls

    def observation(
        self, obs: Any, step_id: Any, calls: list[dict], where: str, index: int, when: Any
    ) -> None:
        results = obs.get("results") if isinstance(obs, dict) else None
        if not isinstance(results, list):
            self.log.breach(
                "observation", where, f"has observation {type(obs).__name__} without a results list", index
            )
            return
        call_ids = {c["id"] for c in calls}
        unlinked = [
            r
            for r in results
            if isinstance(r, dict) and r.get("content") is not None and r.get("source_call_id") is None
        ]
        only_call = calls[0]["id"] if len(calls) == 1 and len(unlinked) == 1 else None
        for n, result in enumerate(results, start=1):
            here = f"{where} observation result {n}"
            if not isinstance(result, dict):
                self.log.breach("observation", here, f"is {type(result).__name__}; skipped", index)
                continue
            call_id = result.get("source_call_id")
            if call_id is not None and (not isinstance(call_id, str) or call_id not in call_ids):
                self.log.breach(
                    "source_call_id", here, f"names {call_id!r}, not a tool call of this step", index
                )
            self.refs(result.get("subagent_trajectory_ref"), step_id, here, index)
            if result.get("content") is None:
                continue
            if call_id is None:
                linked = f"linked to the step's only tool call {only_call}" if only_call else "kept unlinked"
                self.log.breach(
                    "content_without_call", here, f"has content but no source_call_id; {linked}", index
                )
                call_id = only_call
            content = self.content(result["content"], "content_type", f"{here} content", index)
            tool_call_id = msgs.scalar_text(call_id)
            self.trace.messages.append(
                msgs.message(
                    "tool",
                    content_blocks=content,
                    tool_call_id=tool_call_id,
                    is_error=failed(result),
                    timestamp=when,
                )
            )

    def refs(self, raw: Any, step_id: Any, where: str, index: int) -> None:
        if raw is None:
            return
        if not isinstance(raw, list):
            self.log.breach(
                "subagent_ref", where, f"has subagent_trajectory_ref of type {type(raw).__name__}", index
            )
            raw = [raw] if isinstance(raw, dict) else []
        refs = []
        for ref in raw:
            if not isinstance(ref, dict):
                self.log.breach(
                    "subagent_ref", where, "has a subagent_trajectory_ref entry that is not an object", index
                )
                continue
            session_id = ref.get("session_id")
            if not (isinstance(session_id, str) and session_id):
                self.log.breach(
                    "subagent_ref",
                    where,
                    f"has a subagent_trajectory_ref with session_id {session_id!r}",
                    index,
                )
            out: dict[str, Any] = {"session_id": msgs.scalar_text(session_id)}
            for key in ("trajectory_id", "trajectory_path"):
                if ref.get(key):
                    out[key] = msgs.scalar_text(ref[key])
            if isinstance(ref.get("extra"), dict) and ref["extra"]:
                out["extra"] = ref["extra"]
            refs.append(out)
        if refs:
            self.subagent_refs.append({"step_id": step_id, "refs": refs})

    def add_metrics(self, metrics: Any, index: int, when: Any, model: str | None, message: dict) -> None:
        """A step's metrics as a usage entry of its message: `prompt_tokens` include the
        cached ones, so the entry's input is the difference."""
        if not isinstance(metrics, dict):
            return
        prompt, cached = number(metrics.get("prompt_tokens")), number(metrics.get("cached_tokens"))
        completion = number(metrics.get("completion_tokens"))
        if prompt is None and completion is None and cached is None:
            return
        self.metrics_seen = True
        self.cached_seen = self.cached_seen or cached is not None
        self.rejected += self.trace.add_usage(
            file_scoped_id(self.trace.source_path, f"{self.trace.trace_id}:step-{index + 1}"),
            when,
            model,
            input=None if prompt is None else prompt - (cached or 0),
            output=completion,
            cache_read=cached,
            cost_usd=metrics.get("cost_usd"),
            message=message,
        )


def apply_usage(trace: Trace, reader: StepReader, final_metrics: Any) -> None:
    """`final_metrics` when no step has metrics (one entry: the trajectory's totals); when
    steps have metrics but never say how many tokens were cached, the final total of
    cached tokens (0 included) is the cache reads, taken out of the input tokens (prompt
    tokens include cached ones): 0 is every step's, a positive total one correcting
    entry (input -N, cache read +N) since it cannot be told apart by step."""
    if not isinstance(final_metrics, dict):
        return
    prompt, cached = (
        number(final_metrics.get("total_prompt_tokens")),
        number(final_metrics.get("total_cached_tokens")),
    )
    entry_id = file_scoped_id(trace.source_path, f"{trace.trace_id}:final_metrics")
    if reader.metrics_seen:
        if reader.cached_seen or cached is None:
            return
        if cached == 0:
            for item in trace.usage:
                item["cache_read_tokens"] = 0
        elif 0 < cached < usage.MAX_TOKENS:
            at = trace.usage[-1]["timestamp"] if trace.usage else None
            counts = {"input_tokens": -cached, "cache_read_tokens": cached}
            trace.usage.append(usage.entry(entry_id, at, reader.model, counts))
        return
    reader.rejected += trace.add_usage(
        entry_id,
        trace.times.end,
        reader.model if reader.model else (trace.models[0] if len(trace.models) == 1 else None),
        input=None if prompt is None else prompt - (cached or 0),
        output=number(final_metrics.get("total_completion_tokens")),
        cache_read=cached,
        cost_usd=final_metrics.get("total_cost_usd"),
    )


def failed(result: dict) -> bool | None:
    """An observation result that says it failed: `passed: false` on the result or inside
    its object content (OpenAgents' command results), or `is_error`."""
    content = result.get("content")
    for where in (result, content if isinstance(content, dict) else {}):
        if isinstance(where.get("is_error"), bool):
            return where["is_error"]
        if isinstance(where.get("passed"), bool):
            return not where["passed"]
    return None


def number(value: Any) -> int | None:
    """A token count: ints and finite floats (NaN and Infinity parse from JSON too)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if math.isfinite(value) else None
