"""The graph of models and data tests: edges from `ref()`, missing refs, cycles, order."""

from __future__ import annotations

import difflib
import heapq
from collections.abc import Iterable

from tracesql.errors import GraphError
from tracesql.project.nodes import DataTest, Model

Node = Model | DataTest


def suggestion(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def describe(node: Node) -> str:
    where = node.rel_path if isinstance(node, Model) or node.line is None else f"{node.rel_path}:{node.line}"
    kind = "model" if isinstance(node, Model) else "data test"
    return f"{kind} '{node.name}' ({where})"


class Graph:
    """Nodes by unique id, with parent and child edges. Building it checks refs and cycles."""

    def __init__(
        self, models: dict[str, Model], tests: dict[str, DataTest], disabled: Iterable[str] = ()
    ) -> None:
        self.nodes: dict[str, Node] = {m.unique_id: m for m in models.values()}
        self.nodes.update({t.unique_id: t for t in tests.values()})
        self.parents: dict[str, list[str]] = {uid: [] for uid in self.nodes}
        self.children: dict[str, list[str]] = {uid: [] for uid in self.nodes}
        disabled = set(disabled)
        for uid, node in self.nodes.items():
            for name in node.refs:
                if name not in models:
                    if name in disabled:
                        raise GraphError(
                            f"{describe(node)} refs '{name}', which is disabled (enabled: false)"
                        )
                    raise GraphError(
                        f"{describe(node)} refs '{name}', which is not a model{suggestion(name, models)}"
                    )
                parent = models[name].unique_id
                if parent not in self.parents[uid]:
                    self.parents[uid].append(parent)
                    self.children[parent].append(uid)
        cycle = self.find_cycle()
        if cycle:
            path = " -> ".join(describe(self.nodes[uid]) for uid in cycle)
            raise GraphError(f"cycle in the model graph: {path}")

    def find_cycle(self) -> list[str] | None:
        """One cycle as a closed path of unique ids (first == last), or None."""
        state: dict[str, int] = {}  # 1 = on the stack, 2 = done
        for start in sorted(self.nodes):
            if state.get(start):
                continue
            stack = [(start, iter(sorted(self.parents[start])))]
            path = [start]
            state[start] = 1
            while stack:
                uid, parents = stack[-1]
                parent = next(parents, None)
                if parent is None:
                    state[uid] = 2
                    stack.pop()
                    path.pop()
                elif state.get(parent) == 1:
                    cycle = path[path.index(parent) :] + [parent]
                    return list(reversed(cycle))
                elif not state.get(parent):
                    state[parent] = 1
                    path.append(parent)
                    stack.append((parent, iter(sorted(self.parents[parent]))))
        return None

    def order(self, uids: Iterable[str] | None = None) -> list[str]:
        """Topological order of `uids` (default: all): parents first, ties by name, tests
        as soon as their models are done."""
        wanted = set(self.nodes if uids is None else uids)
        pending = {uid: sum(1 for p in self.ancestors_within(uid, wanted)) for uid in wanted}
        ready = [(self._rank(uid), uid) for uid, count in pending.items() if count == 0]
        heapq.heapify(ready)
        result = []
        while ready:
            _, uid = heapq.heappop(ready)
            result.append(uid)
            for child in self._descendants_within(uid, wanted):
                pending[child] -= 1
                if pending[child] == 0:
                    heapq.heappush(ready, (self._rank(child), child))
        return result

    def _rank(self, uid: str) -> tuple[int, str]:
        return (0 if isinstance(self.nodes[uid], DataTest) else 1, self.nodes[uid].name)

    def ancestors_within(self, uid: str, wanted: set[str]) -> set[str]:
        """The nearest ancestors of `uid` inside `wanted`, looking through nodes outside it."""
        return self._nearest_within(uid, wanted, self.parents)

    def _descendants_within(self, uid: str, wanted: set[str]) -> set[str]:
        return self._nearest_within(uid, wanted, self.children)

    @staticmethod
    def _nearest_within(uid: str, wanted: set[str], edges: dict[str, list[str]]) -> set[str]:
        found, stack, seen = set(), list(edges[uid]), set()
        while stack:
            other = stack.pop()
            if other in seen:
                continue
            seen.add(other)
            if other in wanted:
                found.add(other)
            else:
                stack.extend(edges[other])
        return found

    def ancestors(self, uid: str, depth: int | None = None) -> set[str]:
        return self._walk(uid, self.parents, depth)

    def descendants(self, uid: str, depth: int | None = None) -> set[str]:
        return self._walk(uid, self.children, depth)

    @staticmethod
    def _walk(uid: str, edges: dict[str, list[str]], depth: int | None) -> set[str]:
        found: set[str] = set()
        frontier = [uid]
        level = 0
        while frontier and (depth is None or level < depth):
            level += 1
            frontier = [n for u in frontier for n in edges[u] if n not in found]
            found.update(frontier)
        return found
