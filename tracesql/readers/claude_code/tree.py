"""Which records of a Claude Code session make up the active conversation.

A session file is a tree over `uuid`/`parentUuid`, not a list: rewinds and edits fork it,
resumes replay records, `/compact` writes a `compact_boundary` with `parentUuid: null` and
a `logicalParentUuid`, and Claude Code itself sometimes writes a `parentUuid` that names a
record it never saved. The active conversation is the path from the last chat record back
to the root, plus the pieces of the same turns that the recorder hung beside that path
(parallel tool calls, split API responses, late tool results). Selected records are
returned in file order, which is the order they were written.

Rules, in the order they apply:

* A record is a node if it has a string `uuid` or is a `user`/`assistant` record.
* A repeated uuid whose record is the same (type, timestamp and message) is a resume
  duplicate: dropped. A repeated uuid with different content is kept as its own node.
* A `parentUuid` resolves to the latest earlier node with that uuid (a later one if the
  child was written first). A record with no `parentUuid` key at all (old or synthetic
  files) hangs under the previous node in file order, so such files read in file order.
* `parentUuid: null` with a `logicalParentUuid` (compaction) follows the logical parent.
* `parentUuid: null` on a compaction that names no logical parent (Claude Code 1.0.x:
  `isCompactSummary: true`, or the summary's fixed opening words before that flag; a
  `compact_boundary` without `logicalParentUuid`) hangs under the previous node of the
  same kind in file order: the conversation before the compaction stays on the path.
* A parent that is not in the file, or a cycle, is bridged to the previous node of the
  same kind (main or sidechain) in file order, and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CHAT_TYPES = frozenset(("user", "assistant"))


@dataclass(slots=True)
class Node:
    index: int  # position among nodes (file order)
    pos: int  # position among the file's records
    record: dict
    rtype: str | None
    sidechain: bool
    parent: int | None = None


@dataclass
class Tree:
    nodes: list[Node] = field(default_factory=list)
    duplicates: int = 0  # resume duplicates dropped
    uuid_collisions: int = 0  # same uuid, different record: both kept
    broken_links: int = 0  # dangling parents and cycles, bridged to the previous node
    compactions: int = 0
    uuids: dict[str, int] = field(default_factory=dict)  # uuid -> its latest node


def build_tree(records: list[dict]) -> Tree:
    """Nodes (in file order) with resolved parent indexes."""
    tree = Tree()
    nodes = tree.nodes
    by_uuid: dict[str, int] = {}
    pending: list[tuple[int, str]] = []  # (node, parent uuid) not seen yet when the child was read
    for pos, rec in enumerate(records):
        rtype = rec.get("type")
        if type(rtype) is not str:
            rtype = None
        uuid = rec.get("uuid")
        if not isinstance(uuid, str):
            if rtype not in CHAT_TYPES:
                continue
            uuid = None
        elif uuid in by_uuid:
            if _same_record(nodes[by_uuid[uuid]].record, rec):
                tree.duplicates += 1
                continue
            tree.uuid_collisions += 1
        index = len(nodes)
        node = Node(index, pos, rec, rtype, bool(rec.get("isSidechain")))
        if "parentUuid" not in rec:
            node.parent = index - 1 if index else None
        else:
            parent_uuid = rec.get("parentUuid")
            if parent_uuid is None:
                logical = rec.get("logicalParentUuid")
                if isinstance(logical, str) and logical:
                    tree.compactions += 1
                    parent_uuid = logical
                elif index and is_restart(rec, rtype):
                    # a 1.0.x compaction: no logical parent; it continues the conversation
                    # written before it
                    tree.compactions += 1
                    node.parent = _previous_of_kind_at(nodes, index, node.sidechain)
            if parent_uuid is not None:
                found = by_uuid.get(parent_uuid) if isinstance(parent_uuid, str) else None
                if found is not None:
                    node.parent = found
                else:
                    pending.append((index, parent_uuid))
        nodes.append(node)
        if uuid is not None:
            by_uuid[uuid] = index
    for index, parent_uuid in pending:
        found = by_uuid.get(parent_uuid) if isinstance(parent_uuid, str) else None
        if found is not None and found != index:
            nodes[index].parent = found
        else:
            nodes[index].parent = _previous_of_kind(nodes, index)
            if nodes[index].parent is not None:
                tree.broken_links += 1
    tree.uuids = by_uuid
    return tree


_IDENTITY_KEYS = ("type", "subtype", "timestamp", "message", "content", "attachment", "data")


def _same_record(first: dict, other: dict) -> bool:
    """A resume replay of the same record (its sessionId may differ), not a collision."""
    return all(first.get(key) == other.get(key) for key in _IDENTITY_KEYS)


def _previous_of_kind(nodes: list[Node], index: int) -> int | None:
    return _previous_of_kind_at(nodes, index, nodes[index].sidechain)


def _previous_of_kind_at(nodes: list[Node], index: int, side: bool) -> int | None:
    for i in range(index - 1, -1, -1):
        if nodes[i].sidechain == side:
            return i
    return None


CONTINUATION = "This session is being continued from a previous conversation"


def is_restart(rec: dict, rtype: str | None) -> bool:
    """A root record that continues the conversation before it rather than starting one:
    the compaction of Claude Code 1.0.x (`isCompactSummary: true`, or, in builds before
    that flag, the summary's fixed opening words) and a `compact_boundary` that names no
    logical parent. A session's first record is never one (callers check)."""
    if rec.get("isCompactSummary") is True:
        return True
    if rtype == "system":
        return rec.get("subtype") == "compact_boundary"
    if rtype != "user":
        return False
    message = rec.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list) and content and isinstance(content[0], dict):
        content = content[0].get("text")
    return isinstance(content, str) and content.startswith(CONTINUATION)


def active_path(tree: Tree, members: list[int]) -> list[int]:
    """Node indexes on the path from the last chat node among `members` back to a root,
    in file order. Parents outside `members` are walked through but not returned."""
    nodes = tree.nodes
    leaf = next((i for i in reversed(members) if nodes[i].rtype in CHAT_TYPES), None)
    if leaf is None:
        return []
    wanted = set(members)
    visited: set[int] = set()
    path: list[int] = []
    current: int | None = leaf
    while current is not None:
        visited.add(current)
        if current in wanted:
            path.append(current)
        parent = nodes[current].parent
        if parent is not None and parent in visited:
            tree.broken_links += 1
            parent = _previous_unvisited(nodes, current, visited)
        current = parent
    path.sort()
    return path


def _previous_unvisited(nodes: list[Node], index: int, visited: set[int]) -> int | None:
    side = nodes[index].sidechain
    for i in range(index - 1, -1, -1):
        if i not in visited and nodes[i].sidechain == side:
            return i
    return None


def with_turn_pieces(tree: Tree, members: list[int], path: list[int]) -> list[int]:
    """The path plus off-path pieces of the same turns: assistant records of an API
    response already on the path, and tool results answering its open tool calls, when
    they hang off the path (directly or through non-chat records). Real branches (a
    re-typed prompt, another response) stay out."""
    nodes = tree.nodes
    on_path = set(path)
    if len(on_path) == len(members):
        return path
    selected_ids: set[str] = set()
    called: set[str] = set()
    answered: set[str] = set()
    for i in path:
        _note_turn(nodes[i].record, nodes[i].rtype, selected_ids, called, answered)
    reach = set(on_path)
    pulled: list[int] = []
    for i in members:
        node = nodes[i]
        if i in on_path or node.parent not in reach:
            continue
        rec = node.record
        if node.rtype == "assistant":
            mid = _message_id(rec)
            if mid is None or mid not in selected_ids:
                continue
        elif node.rtype == "user":
            ids = tool_result_ids(rec)
            if not ids or not all(t in called and t not in answered for t in ids):
                continue
        reach.add(i)
        if node.rtype in CHAT_TYPES:
            pulled.append(i)
            _note_turn(rec, node.rtype, selected_ids, called, answered)
    if not pulled:
        return path
    return sorted(on_path.union(pulled))


def _message_id(rec: dict) -> str | None:
    message = rec.get("message")
    if isinstance(message, dict):
        mid = message.get("id")
        if isinstance(mid, str) and mid:
            return mid
    return None


def _note_turn(rec: dict, rtype: str | None, selected_ids: set, called: set, answered: set) -> None:
    message = rec.get("message")
    if not isinstance(message, dict):
        return
    content = message.get("content")
    if rtype == "assistant":
        mid = message.get("id")
        if isinstance(mid, str) and mid:
            selected_ids.add(mid)
        if isinstance(content, list):
            for block in content:
                if (
                    isinstance(block, dict)
                    and block.get("type") == "tool_use"
                    and isinstance(block.get("id"), str)
                ):
                    called.add(block["id"])
    elif rtype == "user":
        answered.update(tool_result_ids(rec) or ())


def tool_result_ids(rec: dict) -> list[str] | None:
    """The tool_use ids a user record answers, if it holds only tool results."""
    message = rec.get("message")
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list) or not content:
        return None
    ids = []
    for block in content:
        if not isinstance(block, dict) or block.get("type") != "tool_result":
            return None
        tool_id = block.get("tool_use_id")
        if not isinstance(tool_id, str):
            return None
        ids.append(tool_id)
    return ids


def inline_sidechain_runs(tree: Tree) -> dict[int, list[int]]:
    """Sub-agent runs written inline into a session (1.0.x Task sub-agents, newer
    `parentToolUseId` records): root node index -> member node indexes. A run is a tree of
    `isSidechain` records with at least one chat record that the main conversation does
    not continue from (a sidechain record that main records descend from is part of the
    main conversation, whatever its flag says)."""
    nodes = tree.nodes
    root_of: dict[int, int] = {}
    groups: dict[int, list[int]] = {}
    for node in nodes:
        if not node.sidechain:
            continue
        chain = []
        current = node.index
        seen: set[int] = set()
        while True:
            if current in root_of:
                root = root_of[current]
                break
            seen.add(current)
            chain.append(current)
            parent = nodes[current].parent
            if parent is None or not nodes[parent].sidechain or parent in seen:
                root = current
                break
            current = parent
        for i in chain:
            root_of[i] = root
        groups.setdefault(root, []).append(node.index)
    continued = {root_of[n.parent] for n in nodes if not n.sidechain and n.parent in root_of}
    return {
        root: members
        for root, members in groups.items()
        if root not in continued and any(nodes[i].rtype in CHAT_TYPES for i in members)
    }
