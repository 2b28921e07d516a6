"""Progress of LLM columns: counted by the runtime, sent as events, drawn by the console.

`ProgressTracker` (runtime side) counts, per tracesql model and LLM model alias, how many
values were asked for, answered, served from the cache and failed, and sends throttled
event dicts to the `progress` callable of the run options:

    {"event": "llm_progress", "project_model": "sft_records", "model_alias": "judge",
     "done": 40, "total": 100, "errors": 1, "cache_hits": 12, "elapsed": 3.2, "final": False}

`total` grows as DuckDB hands over more rows. The CLI's console draws the events
(tracesql/console/progress.py); this layer never prints.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

EMIT_INTERVAL = 0.1


@dataclass
class _Line:
    project_model: str | None
    model_alias: str
    total: int = 0
    done: int = 0
    errors: int = 0
    cache_hits: int = 0
    started: float = field(default_factory=time.monotonic)
    emitted: float = 0.0


class ProgressTracker:
    def __init__(self, callback: Callable[[dict], Any] | None) -> None:
        self.callback = callback
        self._lines: dict[tuple[str | None, str], _Line] = {}
        self._lock = threading.Lock()

    def _line(self, project_model: str | None, alias: str) -> _Line:
        key = (project_model, alias)
        line = self._lines.get(key)
        if line is None:
            line = self._lines[key] = _Line(project_model, alias)
        return line

    def add(self, project_model: str | None, alias: str, count: int) -> None:
        if self.callback is None:
            return
        with self._lock:
            self._line(project_model, alias).total += count

    def done(
        self, project_model: str | None, alias: str, *, cache_hit: bool = False, error: bool = False
    ) -> None:
        if self.callback is None:
            return
        with self._lock:
            line = self._line(project_model, alias)
            line.done += 1
            line.cache_hits += cache_hit
            line.errors += error
            now = time.monotonic()
            if line.done < line.total and now - line.emitted < EMIT_INTERVAL:
                return
            line.emitted = now
            event = self._event(line, final=False)
        self._emit(event)

    def finish(self, project_model: str | None) -> None:
        if self.callback is None:
            return
        with self._lock:
            lines = [line for key, line in self._lines.items() if key[0] == project_model]
            events = [self._event(line, final=True) for line in lines]
            for line in lines:
                del self._lines[(line.project_model, line.model_alias)]
        for event in events:
            self._emit(event)

    @staticmethod
    def _event(line: _Line, *, final: bool) -> dict:
        return {
            "event": "llm_progress",
            "project_model": line.project_model,
            "model_alias": line.model_alias,
            "done": line.done,
            "total": line.total,
            "errors": line.errors,
            "cache_hits": line.cache_hits,
            "elapsed": round(time.monotonic() - line.started, 3),
            "final": final,
        }

    def _emit(self, event: dict) -> None:
        if self.callback is not None:
            self.callback(event)
