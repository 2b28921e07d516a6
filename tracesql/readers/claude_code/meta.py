"""Claude Code metadata: the per-trace record scan (ids, times, versions, models, API
responses), the session index (`sessions-index.json`), sub-agent sidecars (`agent-<id>.meta.json`)
and telling transcripts from the other JSONL files Claude Code and its tools write."""

from __future__ import annotations

import os
from collections.abc import Iterable

import orjson

from tracesql.readers import messages as msgs
from tracesql.readers.base import ReadContext
from tracesql.readers.claude_code.usage import SYNTHETIC_MODEL, Responses, parse_time
from tracesql.readers.discover import walk
from tracesql.readers.files import plain_name, read_small
from tracesql.readers.jsonl import head_lines, strip_bom
from tracesql.readers.messages import scalar_text
from tracesql.readers.timestamps import TimeRange

# Record types only Claude Code transcripts have (a record with one of them, or with a
# sessionId / uuid / message object, marks the file as a transcript).
TRANSCRIPT_TYPES = frozenset(
    (
        "user",
        "assistant",
        "system",
        "summary",
        "file-history-snapshot",
        "queue-operation",
        "progress",
        "attachment",
        "permission-mode",
        "last-prompt",
        "custom-title",
        "ai-title",
    )
)
CLAUDE_ONLY_TYPES = TRANSCRIPT_TYPES - {"user", "assistant", "system"}
INDEX_FILE = "\0index_file"  # in a loaded index entry: the file it came from
INDEX_KEY = "claude_code_session_index"  # ctx.shared: sessionId -> index entry, for the read


class TraceScan:
    """One pass over the records of a trace, collecting everything but the messages."""

    def __init__(self) -> None:
        self.count = 0
        self.types: set[str] = set()
        self.times = TimeRange()
        self.session_id: str | None = None
        self.session_ids: set[str] = set()
        self.agent_id: str | None = None
        self.cwd: str | None = None
        self.git_branch: str | None = None
        self.versions: set[str] = set()
        self.models: list[str] = []
        self.responses = Responses()
        self.api_errors = 0
        self.titles: dict[str, str] = {}
        self.summaries: list[tuple[object, str]] = []  # (leafUuid, summary) of summary records
        self.bad_messages: list[int] = []  # positions of user/assistant records without a message object

    def run(
        self, records: list[dict], positions: Iterable[int], stamps: list, keys: list[str | None]
    ) -> None:
        """Scan the records at `positions`; `keys` are the file's response keys by position."""
        types, versions, session_ids = self.types, self.versions, self.session_ids
        start = end = None
        start_raw = end_raw = None
        last_version = None
        for pos in positions:
            rec = records[pos]
            self.count += 1
            rtype = rec.get("type", "unknown")
            types.add(rtype if type(rtype) is str else "None" if rtype is None else msgs.dumps(rtype))
            stamp = rec.get("timestamp")
            if stamp:
                at = parse_time(stamp)
                if at is not None:
                    stamps[pos] = at
                    if start is None or at < start:
                        start, start_raw = at, stamp
                    if end is None or at > end:
                        end, end_raw = at, stamp
            sid = rec.get("sessionId")
            if sid:
                if self.session_id is None:
                    self.session_id = scalar_text(sid)
                if type(sid) is str:
                    session_ids.add(sid)
            version = rec.get("version")
            if version and version != last_version:
                last_version = version
                versions.add(version if type(version) is str else str(version))
            if self.cwd is None and rec.get("cwd"):
                self.cwd = scalar_text(rec["cwd"])
            if self.git_branch is None and rec.get("gitBranch"):
                self.git_branch = scalar_text(rec["gitBranch"])
            if self.agent_id is None and rec.get("agentId") and rec.get("isSidechain"):
                self.agent_id = scalar_text(rec["agentId"])
            if rtype == "assistant" or rtype == "user":
                if type(rec.get("message")) is not dict:
                    self.bad_messages.append(pos)
                elif rtype == "assistant":
                    self._response(rec, keys[pos])
            elif rtype == "unknown" and "type" not in rec:
                self._response(rec, keys[pos])
            elif rtype == "custom-title" or rtype == "ai-title":
                self._title(rec, rtype)
            elif rtype == "summary" and isinstance(rec.get("summary"), str):
                self.summaries.append((rec.get("leafUuid"), rec["summary"]))
        times = self.times
        times.start, times.start_raw, times.end, times.end_raw = start, start_raw, end, end_raw

    def _response(self, rec: dict, key: str | None) -> None:
        message = rec.get("message")
        if not isinstance(message, dict) or (rec.get("type") is None and message.get("role") != "assistant"):
            return
        if rec.get("isApiErrorMessage"):
            self.api_errors += 1
        model = message.get("model")
        if isinstance(model, str) and model and model != SYNTHETIC_MODEL and model not in self.models:
            self.models.append(model)
        if key is not None:
            self.responses.add(key, rec)

    def _title(self, rec: dict, rtype: str) -> None:
        key = "customTitle" if rtype == "custom-title" else "aiTitle"
        value = rec.get(key)
        if isinstance(value, str) and value:
            self.titles[rtype.replace("-", "_")] = value

    def source_meta(self, uuids: dict) -> dict:
        """The reference's keys, then ours. `uuids` are the file's record uuids: summary
        records title this conversation when their leafUuid is one of them."""
        meta: dict = {"record_count": self.count, "record_types": sorted(self.types)}
        if self.versions:
            meta["claude_versions"] = sorted(self.versions)
        if len(self.session_ids) > 1:
            meta["session_ids"] = sorted(self.session_ids)
        if self.api_errors:
            meta["api_error_messages"] = self.api_errors
        meta.update(self.titles)
        titles = [text for leaf, text in self.summaries if isinstance(leaf, str) and leaf in uuids]
        if titles:
            meta["summaries"] = list(dict.fromkeys(titles))
        return meta


def agent_sidecar(path: str, ctx: ReadContext) -> dict:
    """source_meta keys from `agent-<id>.meta.json` beside a sub-agent transcript."""
    path = plain_name(path)
    sidecar = (path[:-6] if path.endswith(".jsonl") else path) + ".meta.json"
    ctx.depend(sidecar)
    try:
        data = read_small(sidecar)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        ctx.warn(f"cannot read sub-agent sidecar {os.path.basename(sidecar)}: {exc.strerror or exc}")
        return {}
    try:
        value = orjson.loads(strip_bom(data))
    except orjson.JSONDecodeError as exc:
        ctx.warn(f"sub-agent sidecar {os.path.basename(sidecar)} is not valid JSON ({exc}); ignored")
        return {}
    if not isinstance(value, dict):
        ctx.warn(f"sub-agent sidecar {os.path.basename(sidecar)} is not a JSON object; ignored")
        return {}
    meta: dict = {"agent_meta": value}
    for key, name in (("agentType", "agent_type"), ("description", "agent_description")):
        if isinstance(value.get(key), str) and value[key]:
            meta[name] = value[key]
    return meta


def index_entry(index: dict, session_id: str, path: str, ctx: ReadContext) -> dict:
    """A session's entry of the session index (or {}); the file's rows depend on the index
    that has it, or on the one beside the file."""
    entry = index.get(session_id) or {}
    ctx.depend(entry.get(INDEX_FILE) or os.path.join(os.path.dirname(path), "sessions-index.json"))
    return entry


class SessionName:
    """What a transcript's path says: its stem, and for a sub-agent under
    `<session>/subagents/[workflows/<run>/]` the parent session and workflow run."""

    def __init__(self, path: str) -> None:
        parts = plain_name(path).split(os.sep)
        self.stem = parts[-1][:-6] if parts[-1].endswith(".jsonl") else os.path.splitext(parts[-1])[0]
        self.parent_session: str | None = None
        self.workflow_run: str | None = None
        if "subagents" in parts[:-1]:
            k = len(parts) - 2 - parts[-2::-1].index("subagents")
            self.parent_session = parts[k - 1] if k > 0 else None
            if parts[k + 1 : k + 2] == ["workflows"] and len(parts) > k + 3:
                self.workflow_run = parts[k + 2]

    def root(self, session_id: str | None, sidechain: bool) -> str:
        """The trace's root session: its sessionId (else the file's stem); a sub-agent's
        is the session its folder is under."""
        root = session_id or self.stem
        if sidechain and self.parent_session and root != self.parent_session:
            return self.parent_session
        return root


def load_session_index(root: str, recursive: bool, ctx: ReadContext) -> dict[str, dict]:
    """sessionId -> entry of every `sessions-index.json` under root (later files win).
    A malformed index is a warning naming the file, never an error."""
    found: list[str] = []
    if os.path.isdir(root):
        for entry, _rel in walk(root, recursive, ctx.options.follow_symlinks, "claude_code", []):
            if entry.name == "sessions-index.json":
                found.append(entry.path)
    index: dict[str, dict] = {}
    for path in sorted(found):
        ctx.for_file(path)
        try:
            value = orjson.loads(strip_bom(read_small(path)))
        except OSError as exc:
            ctx.warn(f"cannot read sessions index: {exc.strerror or exc}; ignored")
            continue
        except orjson.JSONDecodeError as exc:
            ctx.warn(f"sessions index is not valid JSON ({exc}); ignored")
            continue
        entries = value.get("entries") if isinstance(value, dict) else None
        if not isinstance(entries, list):
            got = (
                "an object without an 'entries' list" if isinstance(value, dict) else f"a JSON {_kind(value)}"
            )
            ctx.warn(f"sessions index is {got}, expected an object with an 'entries' list; ignored")
            continue
        for entry in entries:
            if isinstance(entry, dict) and entry.get("sessionId"):
                index[str(entry["sessionId"])] = {**entry, INDEX_FILE: path}
    ctx.for_file("")
    return index


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    return "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else "literal"


def not_a_transcript(records: list[dict]) -> str | None:
    """Why a JSONL file of objects is not a Claude Code session transcript, or None."""
    first = records[0]
    if "loglines" in first:
        return "a claude.ai / Claude Code web export ({loglines: [...]}), not a session transcript"
    if is_stream_json_init(first):
        return "a `claude -p --output-format stream-json` log, not a session transcript"
    if any(_looks_like_transcript(rec) for rec in records):
        return None
    if all(rec.get("type") in ("started", "result") and "key" in rec for rec in records):
        return "a workflow journal (started/result records), not a transcript"
    return "no Claude Code records (no sessionId, uuid, message or transcript record type)"


def is_stream_json_init(rec: dict) -> bool:
    if rec.get("type") != "system":
        return False
    message = rec.get("message")
    subtype = rec.get("subtype") or (message.get("subtype") if isinstance(message, dict) else None)
    return subtype == "init" or "claude_code_version" in rec


def _record_type(rec: dict) -> str | None:
    rtype = rec.get("type")
    return rtype if type(rtype) is str else None


def _looks_like_transcript(rec: dict) -> bool:
    if "payload" in rec:  # Codex rollouts wrap records in a payload
        return False
    return (
        "sessionId" in rec
        or "uuid" in rec
        or "leafUuid" in rec
        or isinstance(rec.get("message"), dict)
        or _record_type(rec) in TRANSCRIPT_TYPES
    )


def sniff_head(head: bytes) -> bool:
    """Whether the first bytes of a .jsonl file look like a Claude Code transcript:
    a record with a sessionId / parentUuid / leafUuid, or only record types no other
    format writes (a snapshot-only session), before anything else."""
    claude_only = False
    for line in head_lines(head, 8):
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            # a first line longer than the head (pasted images): judge by its keys
            return b'"parentUuid"' in line or (b'"sessionId"' in line and b'"payload"' not in line)
        if not isinstance(rec, dict) or "loglines" in rec or "payload" in rec or is_stream_json_init(rec):
            return False
        if "sessionId" in rec or "parentUuid" in rec or "leafUuid" in rec:
            return True
        if _record_type(rec) not in CLAUDE_ONLY_TYPES:
            return False
        claude_only = True
    return claude_only
