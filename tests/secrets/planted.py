"""A corpus with planted credentials, written in three trace formats (Claude Code, Codex,
Pi): every kind of tests/secrets/vectors.py, each in a user message, in assistant text, in
a tool call's arguments and in a tool result, beside benign look-alikes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.secrets.vectors import credentials, leaks

KINDS_PER_SESSION = 4
LOOK_ALIKES = (
    "commit 3f786850e387550fdab836ed7e6dc881de23001b",
    "session 9b2d7c1e-4f3a-4d5e-8a6b-1c2d3e4f5a6b",
    "OPENAI_API_KEY=sk-... and API_KEY=your_key_here",
    "task-management",
    "TELEGRAM_BOT_TOKEN=123456:ABC-DEF...",
)


PERSONAL = ("alice.doe@corp.example.com", "10.20.30.40", "/Users/alice/")  # for --anonymize


def sessions(seed: int = 0) -> list[dict[str, str]]:
    """Groups of credentials, KINDS_PER_SESSION to a session: {vector name: value}."""
    items = list(credentials(seed).items())
    return [dict(items[i : i + KINDS_PER_SESSION]) for i in range(0, len(items), KINDS_PER_SESSION)]


def texts(group: dict[str, str]) -> dict[str, str]:
    """The four places a session carries its credentials."""

    def joined(index: int) -> str:
        return "\n".join(leaks(name, value)[index % len(leaks(name, value))] for name, value in group.items())

    return {
        "user": "My setup is below, why does the deploy fail?\n"
        + joined(0)
        + "\n"
        + "\n".join(LOOK_ALIKES)
        + "\nI am alice.doe@corp.example.com, on 10.20.30.40, in /Users/alice/src/app",
        "assistant": "I can see these settings in your message:\n" + joined(1),
        "command": "cat .env && env | sort\n" + joined(2),
        "output": "$ env\n" + joined(3),
    }


def write_claude_code(folder: Path, sid: str, t: dict[str, str]) -> None:
    base = {"sessionId": sid, "cwd": "/repo", "gitBranch": "main", "version": "2.1.0"}
    usage = {
        "input_tokens": 5,
        "output_tokens": 5,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }

    def line(kind: str, uuid: str, parent: str | None, second: int, message: dict) -> str:
        stamp = f"2025-08-01T10:00:{second:02d}.000Z"
        return json.dumps(
            {"type": kind, "uuid": uuid, "parentUuid": parent, "timestamp": stamp, **base, "message": message}
        )

    def assistant(mid: str, content: list) -> dict:
        return {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": content,
            "usage": usage,
        }

    lines = [
        line("user", "u1", None, 0, {"role": "user", "content": t["user"]}),
        line(
            "assistant",
            "a1",
            "u1",
            1,
            assistant(
                "msg_1",
                [
                    {"type": "text", "text": t["assistant"]},
                    {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": t["command"]}},
                ],
            ),
        ),
        line(
            "user",
            "r1",
            "a1",
            2,
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": t["output"]}],
            },
        ),
        line(
            "assistant", "a2", "r1", 3, assistant("msg_2", [{"type": "text", "text": "Rotate these keys."}])
        ),
    ]
    (folder / "claude").mkdir(parents=True, exist_ok=True)
    (folder / "claude" / f"{sid}.jsonl").write_text("\n".join(lines) + "\n")


def write_codex(folder: Path, sid: str, t: dict[str, str]) -> None:
    def item(second: int, kind: str, payload: dict) -> str:
        return json.dumps(
            {"timestamp": f"2026-03-10T09:00:{second:02d}.000Z", "type": kind, "payload": payload}
        )

    lines = [
        item(
            0,
            "session_meta",
            {
                "id": sid,
                "timestamp": "2026-03-10T09:00:00.000Z",
                "cwd": "/work/app",
                "cli_version": "0.120.0",
            },
        ),
        item(
            1,
            "response_item",
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": t["user"]}]},
        ),
        item(
            2,
            "response_item",
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": t["assistant"]}],
            },
        ),
        item(
            3,
            "response_item",
            {
                "type": "function_call",
                "name": "shell",
                "arguments": json.dumps({"command": t["command"]}),
                "call_id": "c1",
            },
        ),
        item(4, "response_item", {"type": "function_call_output", "call_id": "c1", "output": t["output"]}),
        item(
            5,
            "response_item",
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Rotate these keys."}],
            },
        ),
    ]
    day = folder / "codex" / "2026" / "03" / "10"
    day.mkdir(parents=True, exist_ok=True)
    (day / f"rollout-2026-03-10T09-00-00-{sid}.jsonl").write_text("\n".join(lines) + "\n")


def write_pi(folder: Path, sid: str, t: dict[str, str]) -> None:
    def message(second: int, body: dict) -> str:
        return json.dumps(
            {"type": "message", "timestamp": f"2025-11-01T10:00:{second:02d}.000Z", "message": body}
        )

    usage = {"input": 1, "output": 1, "cacheRead": 0, "cacheWrite": 0, "totalTokens": 2, "cost": {"total": 0}}
    lines = [
        json.dumps(
            {
                "type": "session",
                "id": sid,
                "timestamp": "2025-11-01T10:00:00.000Z",
                "cwd": "/work/app",
                "provider": "anthropic",
                "modelId": "claude-sonnet-4-5",
            }
        ),
        message(
            1, {"role": "user", "content": [{"type": "text", "text": t["user"]}], "timestamp": 1761991201000}
        ),
        message(
            2,
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": t["assistant"]},
                    {"type": "toolCall", "id": "tc1", "name": "bash", "arguments": {"command": t["command"]}},
                ],
                "provider": "anthropic",
                "model": "claude-sonnet-4-5",
                "usage": usage,
                "stopReason": "toolUse",
                "timestamp": 1761991202000,
            },
        ),
        message(
            3,
            {
                "role": "toolResult",
                "toolCallId": "tc1",
                "toolName": "bash",
                "content": [{"type": "text", "text": t["output"]}],
                "isError": False,
                "timestamp": 1761991203000,
            },
        ),
        message(
            4,
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "Rotate these keys."}],
                "provider": "anthropic",
                "model": "claude-sonnet-4-5",
                "usage": usage,
                "stopReason": "stop",
                "timestamp": 1761991204000,
            },
        ),
    ]
    project = folder / "pi" / "--work-app--"
    project.mkdir(parents=True, exist_ok=True)
    (project / f"2025-11-01T10-00-00-000Z_{sid}.jsonl").write_text("\n".join(lines) + "\n")


WRITERS = {"claude_code": write_claude_code, "codex": write_codex, "pi_coding_agent": write_pi}


def write_corpus(folder: Path, seed: int = 0) -> list[str]:
    """Write the planted corpus under `folder`; returns every planted value."""
    planted: list[str] = []
    for i, group in enumerate(sessions(seed)):
        t = texts(group)
        for fmt, write in WRITERS.items():
            write(folder, f"planted-{fmt}-{i:02d}", t)
        planted.extend(group.values())
    return planted
