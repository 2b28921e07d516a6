"""LLM progress on stderr, from the runtime's events (see tracesql/llm/progress.py):

    {"event": "llm_progress", "project_model": "sft_records", "model_alias": "judge",
     "done": 40, "total": 100, "errors": 1, "cache_hits": 12, "elapsed": 3.2, "final": False}

On an interactive terminal: one bar per (model, alias), redrawn in place by rich's Live
display (at most every `redraw` seconds, and at each final event), every line fitted to
the terminal's width. When every bar is final the display stops and leaves them on screen;
the next model's bars start below. Elsewhere (CI, pipes, TERM=dumb): a plain line per bar
every `interval` seconds, and its final line.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any

from tracesql.console.layout import progress_line

if TYPE_CHECKING:
    from rich.console import Console as RichConsole
    from rich.console import ConsoleOptions, RenderResult
    from rich.live import Live


def animated(console: RichConsole) -> bool:
    """Whether bars may redraw in place: an interactive terminal, and not CI."""
    return console.is_interactive and not os.environ.get("CI")


class Bars:
    """The live renderable: the latest event of each bar, one fitted line each."""

    def __init__(self) -> None:
        self.events: tuple[dict[str, Any], ...] = ()

    def __rich_console__(self, console: RichConsole, options: ConsoleOptions) -> RenderResult:
        from rich.text import Text

        for event in self.events:
            yield Text(progress_line(event, options.max_width), no_wrap=True, overflow="ellipsis")


class LLMProgress:
    """Draws progress events on a rich console (its stderr console)."""

    def __init__(self, console: RichConsole, *, interval: float = 10.0, redraw: float = 0.1) -> None:
        self.console = console
        self.animated = animated(console)
        self.interval = interval
        self.redraw = redraw
        self._events: dict[tuple[str | None, str], dict[str, Any]] = {}
        self._printed: dict[tuple[str | None, str], float] = {}
        self._bars = Bars()
        self._live: Live | None = None
        self._last_draw = 0.0
        self._lock = threading.Lock()

    @property
    def live(self) -> bool:
        """Whether bars are on screen now (anything else printed must go above them)."""
        return self._live is not None

    def __call__(self, event: dict[str, Any]) -> None:
        if event.get("event") != "llm_progress":
            return
        key = (event.get("project_model"), event["model_alias"])
        with self._lock:
            if self.animated:
                self._draw(key, event)
            else:
                self._plain(key, event)

    def _plain(self, key: tuple[str | None, str], event: dict[str, Any]) -> None:
        now = time.monotonic()
        last = self._printed.get(key)
        if event["final"] or last is None or now - last >= self.interval:
            self._printed[key] = now
            self.console.print(progress_line(event), soft_wrap=True)

    def _draw(self, key: tuple[str | None, str], event: dict[str, Any]) -> None:
        from rich.live import Live

        self._events[key] = event
        self._bars.events = tuple(self._events.values())
        if self._live is None:
            self._live = Live(
                self._bars,
                console=self.console,
                auto_refresh=False,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()
        now = time.monotonic()
        if event["final"] or now - self._last_draw >= self.redraw:
            self._last_draw = now
            self._live.refresh()
        if all(e["final"] for e in self._events.values()):
            self._stop()

    def _stop(self) -> None:
        """Stop the live display; its last drawing stays on screen."""
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._events.clear()

    def close(self) -> None:
        with self._lock:
            self._stop()
