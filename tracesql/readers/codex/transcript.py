"""Turning Codex rollout items into chat messages, in order.

A Codex rollout writes the model's Responses-API items (`response_item`) and UI events
(`event_msg`) side by side, and several of them say the same thing twice. This module
owns the rules that make one clean transcript out of them:

- Reasoning is written twice (a `reasoning` item and an `agent_reasoning` event): it is
  kept once, from the item when there is one.
- Reasoning attaches to the next assistant-side message (text or tool call). Reasoning
  followed by a user or system message (an interrupted turn) becomes an assistant
  message of its own that has only `reasoning_content`; it is never dropped.
- Consecutive assistant-side items of one response (a commentary message and the calls
  after it, parallel calls) are one assistant message with several tool calls. A tool
  output, a user message or a new reasoning item ends that message.
- Every call-like item is a tool call: `function_call`, `custom_tool_call`,
  `local_shell_call`, `web_search_call`, `tool_search_call`, `image_generation_call`, and
  any future `*_call`.
- `input_text`/`output_text` blocks become plain `text` blocks; other blocks keep their
  payload as JSON in `data`. Object-valued tool output is JSON text, never repr.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tracesql.readers import messages as msgs

TEXT_BLOCK_TYPES = ("input_text", "output_text", "text")  # a tuple: `in` must not hash odd values
# Call-like items that carry no name of their own: the tool they stand for.
BUILTIN_TOOL_NAMES = {
    "local_shell_call": "local_shell",
    "web_search_call": "web_search",
    "tool_search_call": "tool_search",
    "image_generation_call": "image_generation",
}
OUTPUT_TYPES = frozenset(
    (
        "function_call_output",
        "custom_tool_call_output",
        "apply_patch_call_output",
        "local_shell_call_output",
        "tool_search_output",
        "tool_result",
    )
)
# Items that are not conversation: recorded in source_meta, no message, no warning.
SILENT_ITEM_TYPES = frozenset(
    (
        "ghost_snapshot",
        "compaction",
        "compaction_summary",
        "context_compaction",
        "compaction_trigger",
        "additional_tools",
    )
)
ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system", "tool": "tool"}


def codex_block(raw: Any) -> dict:
    """One Codex content element as a normalized block (`input_text`/`output_text` -> `text`)."""
    if isinstance(raw, dict) and raw.get("type") in TEXT_BLOCK_TYPES:
        text = raw.get("text")
        extra = any(k != "type" and k != "text" and v not in (None, "", [], {}) for k, v in raw.items())
        return {
            "type": "text",
            "text": text if isinstance(text, str) else ("" if text is None else msgs.scalar_text(text)),
            "data": msgs.dumps(raw) if extra else None,
        }
    return msgs.block(raw)


def codex_blocks(content: Any) -> list[dict]:
    if content is None:
        return []
    if isinstance(content, list):
        return [codex_block(item) for item in content]
    if isinstance(content, dict) and "type" in content:
        return [codex_block(content)]
    return msgs.blocks(content)


def output_blocks(output: Any) -> tuple[list[dict], bool | None]:
    """Tool output as blocks, and whether it says it failed (None: it does not say)."""
    if isinstance(output, dict) and "type" not in output and "content" in output:
        success = output.get("success")
        blocks, _ = output_blocks(output["content"])
        return blocks, (not success) if isinstance(success, bool) else None
    return codex_blocks(output), None


class Transcript:
    """Accumulates messages from rollout items in file order (see module docstring)."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.item_reasoning: list[str] = []  # pending, from `reasoning` items
        self.event_reasoning: list[str] = []  # pending, from `agent_reasoning` events
        self.saw_reasoning_item = False
        self.item_texts: set[str] = set()  # this turn's reasoning items: to drop event copies
        self.attached_from_events: set[str] = set()
        self.open_assistant: dict | None = None  # can still take tool calls of its response
        self.unanswered_calls: list[str] = []  # call ids without an output yet, oldest first
        self.synthetic_ids = 0

    # reasoning -------------------------------------------------------------------

    def reasoning_item(self, item: dict) -> None:
        self.open_assistant = None  # a reasoning item starts a new model step
        self.saw_reasoning_item = True
        summaries, contents = reasoning_parts(item, "summary"), reasoning_parts(item, "content")
        self.item_texts.update(summaries)
        self.item_texts.update(contents)
        self.item_reasoning.extend(t for t in summaries or contents if t not in self.attached_from_events)

    def reasoning_event(self, text: str) -> None:
        if text and text not in self.item_texts:
            self.event_reasoning.append(text)

    def take_reasoning(self) -> str | None:
        if self.item_reasoning:
            parts = self.item_reasoning
        else:
            parts = self.event_reasoning
            self.attached_from_events.update(parts)
        self.item_reasoning, self.event_reasoning = [], []
        self.saw_reasoning_item = False
        return "\n\n".join(parts) if parts else None

    def pending_reasoning(self) -> list[str]:
        return self.item_reasoning or self.event_reasoning

    # messages --------------------------------------------------------------------

    def add(self, role: str, blocks: list[dict], timestamp: datetime | None, **fields: Any) -> dict:
        msg = msgs.message(role, content_blocks=blocks, timestamp=timestamp, **fields)
        self.messages.append(msg)
        return msg

    def non_assistant(self, role: str, blocks: list[dict], timestamp: datetime | None, **fields: Any) -> dict:
        """A user or system message: pending reasoning first becomes its own message."""
        if role != "tool" and self.pending_reasoning():
            self.add("assistant", [], timestamp, reasoning_content=self.take_reasoning())
        self.open_assistant = None
        if role == "user":
            self.item_texts.clear()
            self.attached_from_events.clear()
        return self.add(role, blocks, timestamp, **fields)

    def assistant_text(self, blocks: list[dict], timestamp: datetime | None) -> None:
        self.open_assistant = self.add(
            "assistant", blocks, timestamp, reasoning_content=self.take_reasoning()
        )

    def tool_call(self, call_id: str | None, name: Any, arguments: str, timestamp: datetime | None) -> None:
        if call_id is None:
            self.synthetic_ids += 1
            call_id = f"codex_call_{self.synthetic_ids}"
        call = {
            "id": call_id,
            "type": "function",
            "function": {"name": msgs.scalar_text(name), "arguments": arguments},
        }
        self.unanswered_calls.append(call_id)
        target = self.open_assistant
        if target is not None and not self.pending_reasoning() and not self.saw_reasoning_item:
            if target["tool_calls"] is None:
                target["tool_calls"] = [call]
            else:
                target["tool_calls"].append(call)
            return
        self.open_assistant = self.add(
            "assistant",
            [msgs.text_block("")],
            timestamp,
            reasoning_content=self.take_reasoning(),
            tool_calls=[call],
        )

    def tool_output(
        self, call_id: str | None, blocks: list[dict], is_error: bool | None, timestamp: datetime | None
    ) -> dict:
        if call_id is None and self.unanswered_calls:
            call_id = self.unanswered_calls[0]
        if call_id in self.unanswered_calls:
            self.unanswered_calls.remove(call_id)
        # Reasoning pending here belongs to the next step: it stays pending, so a tool
        # output always follows the message that made the call.
        return self.non_assistant("tool", blocks, timestamp, tool_call_id=call_id, is_error=is_error)

    # response items --------------------------------------------------------------

    def response_item(self, item: dict, itype: str, timestamp: datetime | None) -> str | None:
        """Add one response item; return a warning reason if it could not be used."""
        if itype == "message":
            return self.message_item(item, timestamp)
        if itype == "reasoning":
            self.reasoning_item(item)
            return None
        if itype in OUTPUT_TYPES or itype.endswith("_output"):
            output = item["output"] if "output" in item else item.get("result", item.get("tools"))
            if itype == "tool_search_output" and not isinstance(output, str) and output is not None:
                blocks, failed = [msgs.text_block(msgs.dumps(output))], None
            else:
                blocks, failed = output_blocks(output)
            call_id = item.get("call_id")
            self.tool_output(
                msgs.scalar_text(call_id) if call_id not in (None, "") else None, blocks, failed, timestamp
            )
            return None
        if itype.endswith("_call") or itype == "tool_call":
            self.call_item(item, itype, timestamp)
            return None
        if itype == "agent_message":  # a message from another agent, addressed to this one
            self.non_assistant("user", codex_blocks(item.get("content")), timestamp)
            return None
        if itype in SILENT_ITEM_TYPES:
            return None
        return f"unrecognized Codex response_item type {itype!r}; skipped"

    def message_item(self, item: dict, timestamp: datetime | None) -> str | None:
        raw_role = item.get("role")
        role = ROLES.get(raw_role) if isinstance(raw_role, str) else None
        if role is None:
            return f"unsupported message role {raw_role!r}; message skipped"
        blocks = codex_blocks(item.get("content"))
        if role == "assistant":
            self.assistant_text(blocks, timestamp)
        else:
            self.non_assistant(role, blocks, timestamp)
        return None

    def call_item(self, item: dict, itype: str, timestamp: datetime | None) -> None:
        function = item.get("function")
        name = item.get("name")
        if name is None and isinstance(function, dict):
            name = function.get("name")
        if name is None:
            name = BUILTIN_TOOL_NAMES.get(itype, itype[: -len("_call")] if itype.endswith("_call") else itype)
        if "arguments" in item:
            arguments = msgs.stringify_json_value(item["arguments"])
        elif "input" in item:
            value = item["input"]
            arguments = value if isinstance(value, str) else msgs.stringify_json_value(value)
        elif "action" in item:
            arguments = msgs.stringify_json_value(item["action"])
        elif itype == "image_generation_call":
            arguments = msgs.dumps({"revised_prompt": item.get("revised_prompt")})
        else:
            arguments = ""
        call_id = item.get("call_id") or item.get("id")
        call_id = msgs.scalar_text(call_id) if call_id not in (None, "") else None
        self.tool_call(call_id, name, arguments, timestamp)
        if itype == "image_generation_call" and item.get("result"):
            # The generated image is part of the call item itself: keep it as the output.
            image = {"type": "image_generation_result", "text": None, "data": msgs.dumps(item)}
            self.tool_output(self.unanswered_calls[-1], [image], None, timestamp)


def reasoning_parts(item: dict, key: str) -> list[str]:
    """Readable texts of a `reasoning` item's `summary` or raw `content` list."""
    parts = item.get(key)
    if not isinstance(parts, list):
        return []
    return [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str) and p["text"]]
