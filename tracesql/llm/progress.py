"""Progress of LLM columns: counted by the runtime, drawn by a renderer the CLI owns.

`ProgressTracker` (runtime side) counts, per tracesql model and LLM model alias, how many
values were asked for, answered, served from the cache and failed, and sends throttled
event dicts to the `progress` callable of the run options:

    {"event": "llm_progress", "project_model": "sft_records", "model_alias": "judge",
     "done": 40, "total": 100, "errors": 1, "cache_hits": 12, "elapsed": 3.2, "final": False}

`ProgressRenderer` (given a stream by the CLI) turns these events into one bar per line on
a terminal (done/total, rate, errors, ETA), or into plain periodic lines when the stream is
not a terminal (CI, pipes). `total` grows as DuckDB hands over more rows.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

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


def is_interactive(stream: IO[str]) -> bool:
    """A terminal that can redraw lines (not CI, not a pipe, not TERM=dumb)."""
    if os.environ.get("CI") or os.environ.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def format_line(event: dict, width: int = 24) -> str:
    done, total = event["done"], max(event["total"], event["done"])
    elapsed = max(event["elapsed"], 1e-6)
    rate = done / elapsed
    label = (
        event["model_alias"]
        if not event.get("project_model")
        else f"{event['project_model']} · {event['model_alias']}"
    )
    filled = int(width * done / total) if total else width
    bar = "█" * filled + "░" * (width - filled)
    parts = [f"{label}  {bar} {done}/{total}"]
    if elapsed >= 0.5 or event.get("final"):
        parts.append(f"{rate:.1f}/s")
    if event["cache_hits"]:
        parts.append(f"cached {event['cache_hits']}")
    if event["errors"]:
        parts.append(f"errors {event['errors']}")
    if event.get("final"):
        parts.append(f"done in {_clock(elapsed)}")
    elif rate > 0 and total > done and elapsed >= 0.5:
        parts.append(f"ETA {_clock((total - done) / rate)}")
    return "  ".join(parts)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60}:{seconds % 60:02d}"
    )


class ProgressRenderer:
    """Draws progress events on a stream: bars on a terminal, periodic lines otherwise."""

    def __init__(
        self, stream: IO[str], *, interactive: bool | None = None, interval: float = 10.0, redraw: float = 0.1
    ) -> None:
        self.stream = stream
        self.interactive = is_interactive(stream) if interactive is None else interactive
        self.interval = interval if not self.interactive else redraw
        self._events: dict[tuple, dict] = {}
        self._printed: dict[tuple, float] = {}
        self._drawn_lines = 0
        self._last_draw = 0.0
        self._lock = threading.Lock()

    def __call__(self, event: dict) -> None:
        if event.get("event") != "llm_progress":
            return
        key = (event.get("project_model"), event["model_alias"])
        with self._lock:
            self._events[key] = event
            if self.interactive:
                self._draw(force=event["final"])
            else:
                self._plain(key, event)

    def _plain(self, key: tuple, event: dict) -> None:
        now = time.monotonic()
        last = self._printed.get(key)
        if event["final"] or last is None or now - last >= self.interval:
            self._printed[key] = now
            self.stream.write(format_line(event) + "\n")
            self.stream.flush()
        if event["final"]:
            self._events.pop(key, None)

    def _draw(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < self.interval:
            return
        self._last_draw = now
        out = [f"\x1b[{self._drawn_lines}F"] if self._drawn_lines else []
        out += ["\x1b[2K" + format_line(event) + "\n" for event in self._events.values()]
        self.stream.write("".join(out))
        self.stream.flush()
        self._drawn_lines = len(self._events)
        finished = [key for key, event in self._events.items() if event["final"]]
        if finished and len(finished) == len(self._events):
            self._events.clear()  # keep the finished lines on screen, start fresh below them
            self._drawn_lines = 0

    def close(self) -> None:
        with self._lock:
            if self.interactive and self._events:
                self._draw(force=True)
            self._events.clear()
            self._drawn_lines = 0
