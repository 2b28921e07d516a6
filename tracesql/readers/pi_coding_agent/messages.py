"""Pi session entries → normalized chat messages (used by pi_coding_agent).

As the reference does: user/assistant/toolResult messages map one to one; thinking blocks
become `reasoning_content`, toolCall blocks tool calls; compaction and branch summaries
become system messages where they sit on the path; `model_change` and assistant `model`
fill `models_used`. Better than the reference:

- assistant content keeps its blocks in order, images included (the reference joins the
  text into one block and drops everything else);
- a user-run `!command` (bashExecution) is the user message Pi actually sent to the model
  ("Ran `cmd`" + output), not an invented assistant tool call;
- extension messages (`custom`, `custom_message`) are in the model's context whether or
  not the TUI displays them, so they are kept either way;
- `isError` of tool results, message timestamps, token usage and provider/model names
  are kept;
- an assistant turn that ended in an error or was aborted (`stopReason`) is marked
  `is_error` and carries a block of that type with the `errorMessage`, instead of passing
  for an empty or cut-off answer; `models` lists only models that answered.
"""

from __future__ import annotations

from typing import Any

from tracesql.readers import messages as msgs
from tracesql.readers.base import ReadContext, Trace
from tracesql.readers.timestamps import parse_timestamp
from tracesql.readers.usage import file_scoped_id

SUMMARY_ROLES = ("compactionSummary", "branchSummary")
CUSTOM_ROLES = ("custom", "hookMessage")  # hookMessage: the v2 name of custom
FAILED_STOPS = ("error", "aborted")


def bash_execution_text(m: dict) -> str:
    """What Pi sends to the model for a user-run command (its bashExecutionToText)."""
    text = f"Ran `{msgs.scalar_text(m.get('command')) or ''}`\n"
    output = m.get("output")
    text += f"```\n{output}\n```" if output else "(no output)"
    code = m.get("exitCode")
    if m.get("cancelled"):
        text += "\n\n(command cancelled)"
    elif code is not None and code != 0:
        text += f"\n\nCommand exited with code {code}"
    if m.get("truncated") and m.get("fullOutputPath"):
        text += f"\n\n[Output truncated. Full output: {m['fullOutputPath']}]"
    return text


def content_blocks(content: Any) -> list[dict]:
    """User/tool/custom content: null is one empty text block, as the reference has it."""
    return msgs.blocks("" if content is None else content)


class EntryMapper:
    """Maps the entries of a session path, in order, onto messages and metadata."""

    def __init__(self, trace: Trace, ctx: ReadContext) -> None:
        self.trace = trace
        self.ctx = ctx
        self.messages: list[dict] = []
        self.entry_types: set[str] = set()
        self.stop_reasons: list[str] = []
        self.models_used: list[str] = []
        self.bash_execution_count = 0
        self.failed_turns = 0
        self.compactions: list[dict] = []
        self.session_name: str | None = None
        self.message_of: dict[int, dict] = {}  # id(entry) -> the assistant message it became

    def map_entries(self, path: list[tuple[int, dict]], linear: bool) -> None:
        first_message_at: list[int] = []  # per path position: index of its first message
        kept_refs: list[tuple[dict, Any]] = []
        for lineno, entry in path:
            first_message_at.append(len(self.messages))
            etype = entry.get("type")
            etype = etype if isinstance(etype, str) and etype else "unknown"
            self.entry_types.add(etype)
            if etype == "message":
                self.message_entry(entry, lineno)
            elif etype == "model_change":
                self.model_change(entry.get("provider"), entry.get("modelId"))
            elif etype == "compaction":
                record = self.summary(entry, "compaction")
                ref = entry.get("firstKeptEntryId", entry.get("firstKeptEntryIndex"))
                kept_refs.append((record, ref))
            elif etype == "branch_summary":
                self.summary(entry, "branch_summary")
            elif etype == "custom_message":
                self.add("system", content_blocks(entry.get("content")), entry)
            elif etype == "session_info" and isinstance(entry.get("name"), str):
                self.session_name = entry["name"]
        self.resolve_kept(path, first_message_at, kept_refs, linear)

    def resolve_kept(
        self,
        path: list[tuple[Any, dict]],
        first_message_at: list[int],
        kept_refs: list[tuple[dict, Any]],
        linear: bool,
    ) -> None:
        """1-based position (SQL list index) of the first message kept by each compaction."""
        position_by_id = {e.get("id"): pos for pos, (_, e) in enumerate(path) if isinstance(e.get("id"), str)}
        for record, ref in kept_refs:
            pos = None
            if isinstance(ref, str):
                pos = position_by_id.get(ref)
            elif linear and isinstance(ref, int) and not isinstance(ref, bool) and 1 <= ref <= len(path):
                pos = ref - 1  # v1: an index into the file's records, the header being 0
            if pos is not None and first_message_at[pos] < len(self.messages):
                record["first_kept_message"] = first_message_at[pos] + 1
            self.compactions.append(record)

    def add(
        self, role: str, blocks: list[dict], entry: dict, message: dict | None = None, **fields: Any
    ) -> dict:
        when = None
        if message is not None:
            when = parse_timestamp(message.get("timestamp"))
        if when is None:
            when = parse_timestamp(entry.get("timestamp"))
        msg = msgs.message(role, content_blocks=blocks, timestamp=when, **fields)
        self.messages.append(msg)
        return msg

    def summary(self, entry: dict, kind: str) -> dict:
        record: dict[str, Any] = {"kind": kind, "entry_id": entry.get("id")}
        summary = entry.get("summary")
        if isinstance(summary, str) and summary:
            self.add("system", [msgs.text_block(summary)], entry)
            record["summary_message"] = len(self.messages)
        if isinstance(entry.get("tokensBefore"), int):
            record["tokens_before"] = entry["tokensBefore"]
        return record

    def model_change(self, provider: Any, model_id: Any) -> None:
        """A `model_change` entry: the reference's `models_used`, not the row's `models`,
        which lists only models that answered (a switch nothing used is no model of the trace)."""
        if isinstance(model_id, str) and model_id and model_id not in self.models_used:
            self.models_used.append(model_id)

    def message_entry(self, entry: dict, lineno: int) -> None:
        m = entry.get("message")
        if not isinstance(m, dict):
            self.ctx.warn("message entry has no message object; skipped", line=lineno)
            return
        role = m.get("role")
        if role == "user":
            self.add("user", content_blocks(m.get("content")), entry, m)
        elif role == "assistant":
            self.assistant(m, entry)
        elif role == "toolResult":
            call_id = m.get("toolCallId")
            if not isinstance(call_id, str) or not call_id:
                self.ctx.warn("toolResult message has no toolCallId; kept without one", line=lineno)
            is_error = m.get("isError")
            self.add(
                "tool",
                content_blocks(m.get("content")),
                entry,
                m,
                tool_call_id=msgs.scalar_text(call_id) or None,
                is_error=is_error if isinstance(is_error, bool) else None,
            )
        elif role == "bashExecution":
            self.bash_execution_count += 1
            if not m.get("excludeFromContext"):
                self.add("user", [msgs.text_block(bash_execution_text(m))], entry, m)
        elif role in CUSTOM_ROLES:
            self.add("system", content_blocks(m.get("content")), entry, m)
        elif role in SUMMARY_ROLES:
            summary = m.get("summary")
            if isinstance(summary, str) and summary:
                self.add("system", [msgs.text_block(summary)], entry, m)

    def assistant(self, m: dict, entry: dict) -> None:
        content = m.get("content")
        blocks: list[dict] = []
        reasoning: list[str] = []
        calls: list[dict] = []
        if isinstance(content, str):
            if content:
                blocks.append(msgs.text_block(content))
        elif isinstance(content, list):
            for raw in content:
                if isinstance(raw, str):
                    if raw:
                        blocks.append(msgs.text_block(raw))
                    continue
                if not isinstance(raw, dict):
                    continue
                btype = raw.get("type")
                if btype == "text":
                    if isinstance(raw.get("text"), str) and raw["text"]:
                        blocks.append(msgs.block(raw))
                elif btype == "thinking":
                    if isinstance(raw.get("thinking"), str) and raw["thinking"]:
                        reasoning.append(raw["thinking"])
                elif btype == "toolCall":
                    calls.append(msgs.tool_call(raw.get("id", ""), raw.get("name", ""), raw.get("arguments")))
                else:
                    blocks.append(msgs.block(raw))  # images, and block kinds added later
        elif content is not None:
            blocks = msgs.blocks(content)
        stop = m.get("stopReason")
        failed = stop in FAILED_STOPS
        if failed:
            # what ended the turn, as a block with no text: an error or aborted turn is never
            # an empty (or cut-off) answer that passes for a real one
            stopped: dict[str, Any] = {"type": stop, "stopReason": stop}
            if isinstance(m.get("errorMessage"), str):
                stopped["errorMessage"] = m["errorMessage"]
            blocks.append({"type": stop, "text": None, "data": msgs.payload(stopped)})
            self.failed_turns += 1
        self.message_of[id(entry)] = self.add(
            "assistant",
            blocks or [msgs.text_block("")],
            entry,
            m,
            reasoning_content="\n\n".join(reasoning) or None,
            tool_calls=calls or None,
            is_error=True if failed else None,
            model=model_name(m),
        )
        if isinstance(stop, str) and stop not in self.stop_reasons:
            self.stop_reasons.append(stop)
        model = m.get("model")
        if isinstance(model, str) and model and model not in self.models_used:
            self.models_used.append(model)
        if isinstance(model, str) and model:
            self.trace.add_model(model_name(m))


def model_name(m: dict) -> str | None:
    """An assistant message's model as the row's `models` spell it: `provider/model`."""
    model, provider = m.get("model"), m.get("provider")
    if not isinstance(model, str) or not model:
        return None
    return f"{provider}/{model}" if isinstance(provider, str) and provider else model


def add_usage(trace: Trace, entries: list[tuple[int, dict]], message_of: dict[int, dict]) -> int:
    """A usage entry for every assistant message of the file that records usage, on the
    active path or not (an abandoned branch was paid for too); returns how many counts
    were rejected. The id is the message's `responseId`, else the entry's id and time (a
    forked session copies both), else the line (v1 entries have no id)."""
    rejected = 0
    for lineno, entry in entries:
        m = entry.get("message")
        if not isinstance(m, dict) or m.get("role") != "assistant" or not isinstance(m.get("usage"), dict):
            continue
        usage = m["usage"]
        response, eid = m.get("responseId"), entry.get("id")
        if isinstance(response, str) and response:
            name = f"pi:{response}"
        elif isinstance(eid, str) and eid:
            name = f"pi:{eid}:{msgs.scalar_text(m.get('timestamp') or entry.get('timestamp'))}"
        else:
            name = file_scoped_id(trace.source_path, f"line-{lineno}")
        when = parse_timestamp(m.get("timestamp")) or parse_timestamp(entry.get("timestamp"))
        cost = usage.get("cost")
        rejected += trace.add_usage(
            name,
            when,
            model_name(m),
            input=usage.get("input"),
            output=usage.get("output"),
            cache_read=usage.get("cacheRead"),
            cache_write=usage.get("cacheWrite"),
            cost_usd=cost.get("total") if isinstance(cost, dict) else None,
            message=message_of.get(id(entry)),
        )
    return rejected
