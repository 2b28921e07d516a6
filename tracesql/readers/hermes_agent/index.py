"""The Hermes gateway's session index, `sessions.json`: session_key -> session id or an
entry with `session_id`, created/updated times, platform, token counts. Transcripts look
it up in their own folder and its ancestors up to the read's root (nearest wins)."""

from __future__ import annotations

import os

import orjson

from tracesql.readers.base import ReadContext
from tracesql.readers.files import read_small
from tracesql.readers.jsonl import strip_bom

INDEX_NAME = "sessions.json"


def load_index_data(data: bytes) -> tuple[dict[str, dict], str | None]:
    """Entries by session id, or an error saying why the index is malformed."""
    try:
        doc = orjson.loads(strip_bom(data))
    except orjson.JSONDecodeError as exc:
        return {}, f"invalid JSON: {exc}"
    if not isinstance(doc, dict):
        return {}, f"the top level is {type(doc).__name__}, not an object"
    entries: dict[str, dict] = {}
    for key, value in doc.items():
        if isinstance(value, str) and value:
            entries[value] = {"session_key": key}
        elif isinstance(value, dict) and value.get("session_id"):
            entry = dict(value)
            entry.setdefault("session_key", key)
            entries[str(value["session_id"])] = entry
    return entries, None


def index_entry(folder: str, session_id: str, ctx: ReadContext) -> dict:
    """The session's entry from `sessions.json` in its folder or an ancestor up to the
    read's root (the nearest index wins). Indexes are loaded once per read."""
    cache = ctx.shared.setdefault("hermes_indexes", {})
    root = ctx.root.rstrip(os.sep) or os.sep
    folders = [folder]
    while folders[-1] != root and folders[-1].startswith(root + os.sep):
        folders.append(os.path.dirname(folders[-1]))
    for current in folders:
        index_path = os.path.join(current, INDEX_NAME)
        ctx.depend(index_path)
        if index_path not in cache:
            cache[index_path] = load_index_file(index_path)
        entries, error = cache[index_path]
        if error:
            ctx.warn(f"sessions index {index_path} is malformed ({error}); its metadata is not applied")
        elif session_id in entries:
            return entries[session_id]
    return {}


def load_index_file(index_path: str) -> tuple[dict[str, dict], str | None]:
    try:
        return load_index_data(read_small(index_path))
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        return {}, f"cannot read: {exc.strerror or exc}"
