"""Which session a Codex sub-agent belongs to: the top of its spawn chain.

A sub-agent rollout names only its direct parent
(`session_meta.source.subagent.thread_spawn.parent_thread_id`). When the spawn depth says
the parent is the top-level session (depth 0 or 1) that is the answer. Otherwise (nested
sub-agents, or no depth recorded) the chain is followed through an index of every rollout
under the scanned folder, built once per scan from the first line of each file, so the
answer does not depend on which files a partitioned or limited read selects.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from tracesql.readers.base import ReadContext
from tracesql.readers.discover import walk
from tracesql.readers.files import open_regular
from tracesql.readers.jsonl import first_record

FIRST_LINE_LIMIT = 8 * 1024 * 1024
CHUNK = 64 * 1024
INDEX_KEY = "codex_parent_index"


def root_of(parent: str, depth: Any, ctx: ReadContext) -> str:
    if isinstance(depth, int) and not isinstance(depth, bool) and depth <= 1:
        return parent
    ctx.not_cacheable()  # the answer depends on every rollout under the folder
    index = ctx.shared.get(INDEX_KEY)
    if index is None:
        index = ctx.shared[INDEX_KEY] = build_index(
            ctx.root, ctx.options.recursive, ctx.options.follow_symlinks
        )
    seen = {parent}
    while (up := index.get(parent)) and up not in seen:
        seen.add(up)
        parent = up
    return parent


def parent_of(meta: dict) -> str | None:
    """The direct parent thread named by a session_meta payload, if any."""
    source = meta.get("source")
    sub = source.get("subagent") if isinstance(source, dict) else None
    if isinstance(sub, dict):
        for details in sub.values():
            if isinstance(details, dict) and isinstance(details.get("parent_thread_id"), str):
                return details["parent_thread_id"]
    parent = meta.get("parent_thread_id")
    return parent if isinstance(parent, str) and parent else None


def build_index(root: str, recursive: bool, follow_symlinks: bool = False) -> dict[str, str]:
    """thread id -> parent thread id, for every rollout under root that has a parent."""
    index: dict[str, str] = {}
    for path in _rollout_files(root, recursive, follow_symlinks):
        meta = _first_session_meta(path)
        if meta is None:
            continue
        own, parent = meta.get("id"), parent_of(meta)
        if isinstance(own, str) and parent and parent != own:
            index.setdefault(own, parent)
    return index


def _rollout_files(root: str, recursive: bool, follow_symlinks: bool) -> Iterator[str]:
    if not os.path.isdir(root):
        return
    for entry, _rel in walk(root, recursive, follow_symlinks, "codex", []):
        if entry.name.endswith(".jsonl"):
            yield entry.path


def _first_session_meta(path: str) -> dict | None:
    try:
        with open_regular(path) as fh:
            buf = b""
            while b"\n" not in buf and len(buf) < FIRST_LINE_LIMIT:
                chunk = fh.read(CHUNK)
                if not chunk:
                    break
                buf += chunk
    except OSError:
        return None
    record = first_record(buf)
    if (
        record is not None
        and record.get("type") == "session_meta"
        and isinstance(record.get("payload"), dict)
    ):
        return record["payload"]
    return None
