"""Claude Code records -> normalized chat messages.

One API response is written as several `assistant` lines that share `message.id` (one
content block each, with tool results of parallel calls in between): they become ONE
assistant message (text blocks, reasoning and tool calls in order) placed where the first
line was. Tool results stay in source order and keep `is_error`. Content blocks follow
the reference otherwise: `thinking` becomes reasoning, `tool_use` a tool call, text-like
blocks plain text, every other block (images, redacted thinking, server tool use,
tool_reference...) is kept whole.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from tracesql.readers import messages as msgs
from tracesql.readers.base import ReadContext

_TEXT_TYPES = frozenset(("text", "input_text", "output_text"))


class MessageBuilder:
    """Turns the selected records of one trace, in order, into messages."""

    def __init__(self, ctx: ReadContext) -> None:
        self.ctx = ctx
        self.messages: list[dict] = []
        # message.id -> (assistant message, its tool-call ids, its reasoning parts), for
        # merging the lines of one API response; reset when a new user prompt starts a turn.
        self.open: dict[str, tuple[dict, set, list]] = {}
        # response key (claude_code_usage) -> the assistant message it is part of
        self.response_messages: dict[str, dict] = {}

    def add(
        self, rec: dict, rtype: str, line: int, timestamp: datetime | None, key: str | None = None
    ) -> None:
        """Add a record; `key` names the API response an assistant record is part of."""
        message = rec.get("message")
        if not isinstance(message, dict):  # reported by the record scan
            return
        if rtype == "assistant":
            msg = self._assistant(message, line, timestamp)
            if key is not None and msg is not None:
                self.response_messages.setdefault(key, msg)
        else:
            self._user(message.get("content"), line, timestamp)

    def _assistant(self, message: dict, line: int, timestamp: datetime | None) -> dict | None:
        """Add an assistant record's blocks (to the message of its API response, if one is
        open); returns that message (None when the record added no message)."""
        content = message.get("content")
        if content is None:
            items: list = []
        elif isinstance(content, list):
            items = content
        elif isinstance(content, dict):
            items = [content]
        else:
            items = [msgs.text_block(content)]
        blocks: list[dict] = []
        reasoning: list[str] = []
        calls: list[dict] = []
        results: list[dict] = []
        for item in items:
            btype = item.get("type") if isinstance(item, dict) else None
            if btype == "thinking":
                part = item.get("thinking") or item.get("text")
                if part:
                    reasoning.append(part if isinstance(part, str) else msgs.dumps(part))
            elif btype == "tool_use":
                calls.append(self._tool_call(item, line))
            elif btype == "tool_result":
                results.append(self._tool_message(item, line, timestamp))
            else:
                blocks.append(content_block(item))
        mid = message.get("id")
        mid = mid if isinstance(mid, str) and mid else None
        target = self.open.get(mid) if mid else None
        msg: dict | None = None
        if target is not None:
            _merge(target, blocks, reasoning, calls)
            msg = target[0]
        elif blocks or reasoning or calls:
            model = message.get("model")
            msg = msgs.message(
                "assistant",
                content_blocks=blocks,
                reasoning_content="\n\n".join(reasoning),
                tool_calls=calls,
                timestamp=timestamp,
                model=model if isinstance(model, str) and model else None,
            )
            self.messages.append(msg)
            if mid:
                self.open[mid] = (msg, {c["id"] for c in calls}, reasoning)
        self.messages.extend(results)
        return msg

    def _user(self, content: Any, line: int, timestamp: datetime | None) -> None:
        if isinstance(content, dict) and content.get("type") == "tool_result":
            content = [content]
        elif not isinstance(content, list):
            self._prompt(msgs.blocks(content), timestamp)
            return
        pending: list[dict] = []
        for item in content:
            if isinstance(item, dict) and item.get("type") == "tool_result":
                if pending:
                    self._prompt(pending, timestamp)
                    pending = []
                self.messages.append(self._tool_message(item, line, timestamp))
            else:
                pending.append(content_block(item))
        if pending:
            self._prompt(pending, timestamp)

    def _prompt(self, blocks: list[dict], timestamp: datetime | None) -> None:
        self.open.clear()
        self.messages.append(msgs.message("user", content_blocks=blocks, timestamp=timestamp))

    def _tool_call(self, item: dict, line: int) -> dict:
        call_id, name = item.get("id"), item.get("name")
        if call_id is None or call_id == "":
            self.ctx.warn("tool_use block without an id; kept with a NULL id", line=line)
            call_id = None
        if name is None or name == "":
            self.ctx.warn("tool_use block without a name; kept with a NULL name", line=line)
            name = None
        return msgs.tool_call(call_id, name, item.get("input"))

    def _tool_message(self, item: dict, line: int, timestamp: datetime | None) -> dict:
        tool_id = item.get("tool_use_id")
        if tool_id is None or tool_id == "":
            self.ctx.warn("tool_result block without a tool_use_id; kept with a NULL tool_call_id", line=line)
            tool_id = None
        elif type(tool_id) is not str:
            tool_id = msgs.scalar_text(tool_id)
        content = item["content"] if "content" in item else item.get("text")
        is_error = item.get("is_error")
        return msgs.message(
            "tool",
            content_blocks=raw_blocks(content),
            tool_call_id=tool_id,
            is_error=is_error if isinstance(is_error, bool) else None,
            timestamp=timestamp,
        )


def content_block(item: Any) -> dict:
    """A non-thinking, non-tool content element of a message as a normalized block.
    Text-like blocks become plain text (the reference drops `citations: null` and similar
    empty keys); a text block whose other keys carry values keeps its payload in `data`."""
    if isinstance(item, dict):
        btype = item.get("type")
        if type(btype) is str and btype in _TEXT_TYPES and "text" in item:
            text = item["text"]
            text = "" if text is None else text if isinstance(text, str) else msgs.scalar_text(text)
            if len(item) == 2 or all(v is None for k, v in item.items() if k not in ("type", "text")):
                return msgs.text_block(text)
            return {"type": "text", "text": text, "data": block_data(item)}
    return raw_block(item)


def raw_block(item: Any) -> dict:
    """`messages.block`, with the payload written by orjson: base64 images make this the
    costliest step of a read otherwise."""
    if isinstance(item, dict):
        btype = item.get("type")
        text = item.get("text")
        if btype is None or (btype == "text" and len(item) <= 2 and (text is None or isinstance(text, str))):
            return msgs.block(item)
        return {"type": str(btype), "text": text if isinstance(text, str) else None, "data": block_data(item)}
    if isinstance(item, str):
        return msgs.text_block(item)
    return msgs.text_block(msgs.dumps(item))


def raw_blocks(content: Any) -> list[dict]:
    """`messages.blocks` (tool-result content as the reference keeps it), via raw_block."""
    if content is None:
        return []
    if isinstance(content, list):
        return [raw_block(item) for item in content]
    if isinstance(content, str):
        return [msgs.text_block(content)]
    return [msgs.text_block(msgs.dumps(content))]


def block_data(item: dict) -> str:
    try:
        return orjson.dumps(item, option=orjson.OPT_SORT_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):  # integers beyond 64 bits
        return msgs.dumps(item)


def _merge(
    target: tuple[dict, set, list], blocks: list[dict], reasoning: list[str], calls: list[dict]
) -> None:
    """Add one more line of an API response to its message. A tool call whose id the
    message already has (a replayed line) is not added twice."""
    msg, call_ids, parts = target
    msg["content"].extend(blocks)
    if reasoning:
        parts.extend(reasoning)
        msg["reasoning_content"] = "\n\n".join(parts)
    for call in calls:
        if call["id"] is not None and call["id"] in call_ids:
            continue
        call_ids.add(call["id"])
        if msg["tool_calls"] is None:
            msg["tool_calls"] = [call]
        else:
            msg["tool_calls"].append(call)
