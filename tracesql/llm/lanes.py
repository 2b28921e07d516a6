"""The network side of a connection's LLM runtime: one asyncio event loop on its own
thread, and one `ModelLane` per model alias (its concurrency bound and thread pool; one
`openai` client per provider, shared by its aliases). Started on the first request;
`close()` stops the loop, the pools and the clients."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from tracesql.llm.client import ModelLane, make_client
from tracesql.llm.config import LLMSettings
from tracesql.llm.jobs import Target

Result = TypeVar("Result")


class Lanes:
    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lanes: dict[str, ModelLane] = {}

    def run(self, coroutine: Coroutine[Any, Any, Result]) -> Result:
        """Run a coroutine on the loop and wait for its result (from DuckDB's thread)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._ensure_loop()).result()

    def lane(self, target: Target) -> ModelLane:
        """The lane of an alias (called on the loop, so never twice at once)."""
        lane = self._lanes.get(target.alias)
        if lane is None:
            sibling = next((ln for ln in self._lanes.values() if ln.provider is target.provider), None)
            if sibling is None:
                client, secrets = make_client(target.provider)
            else:
                client, secrets = sibling.client, sibling.secrets
            lane = ModelLane(target.alias, target.model, target.provider, client, self.settings, secrets)
            self._lanes[target.alias] = lane
        return lane

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=loop.run_forever, name="tracesql-llm", daemon=True)
                self._thread.start()
                self._loop = loop
            return self._loop

    def close(self) -> None:
        """Stop the loop's thread and the lanes' pools, close the clients (idempotent)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()
        lanes, self._lanes = list(self._lanes.values()), {}
        for lane in lanes:
            lane.close()
        for client in {id(lane.client): lane.client for lane in lanes}.values():
            client.close()
