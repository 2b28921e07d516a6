"""Stopping the spending: SIGINT and SIGTERM during a command.

The CLI wraps `run`, `build`, `query` and `show` in `stop_on_signals()`. On the first
signal, a line on stderr says so and `request_stop()` tells every open connection (each registers a callback with
`on_stop`): its LLM runtime starts no new request (the requests waiting for a slot, a
backoff or a budget check are refused at once, each with an outcome row in the call
log), lets the requests in flight finish for a few seconds (GRACE_SECONDS, their answers
are cached) and then cancels them; its DuckDB query is interrupted. The command then stops
(no further model) and exits 130 for SIGINT, 143 for SIGTERM. A second signal kills the
process at once (the default action: the shell sees 130 or 143 again): answers already
committed stay in the cache, nothing else is waited for.

Library code never installs signal handlers: `tracesql.connect()` in a notebook keeps
Python's own KeyboardInterrupt.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from tracesql.errors import RunInterrupted

GRACE_SECONDS = 3.0  # requests in flight at the signal may finish this long, then are cancelled
EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}

_lock = threading.Lock()
_reason: str | None = None
_callbacks: dict[int, Callable[[str], None]] = {}
_next_id = 0


def stop_reason() -> str | None:
    """Why the process was asked to stop ("SIGINT", "SIGTERM"), or None."""
    return _reason


def request_stop(reason: str) -> None:
    """Stop spending in every open connection (and those opened after)."""
    global _reason
    with _lock:
        if _reason is None:
            _reason = reason
        callbacks = list(_callbacks.values())
    for callback in callbacks:
        with contextlib.suppress(Exception):  # a connection being closed meanwhile
            callback(reason)


def on_stop(callback: Callable[[str], None]) -> Callable[[], None]:
    """Call `callback(reason)` when a stop is requested (at once if one was); returns the
    function that unregisters it."""
    global _next_id
    with _lock:
        _next_id += 1
        key = _next_id
        _callbacks[key] = callback
        reason = _reason
    if reason is not None:
        callback(reason)

    def unregister() -> None:
        with _lock:
            _callbacks.pop(key, None)

    return unregister


def reset() -> None:
    """Forget a stop request (the CLI does when a command ends)."""
    global _reason
    with _lock:
        _reason = None


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """During the block, the first SIGINT or SIGTERM requests a stop; the second gets the
    default action (the process ends at once). The previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        for sig in previous:  # the next signal kills the process at once, whatever it is doing
            signal.signal(sig, signal.SIG_DFL)
        with contextlib.suppress(OSError):  # os.write: no lock a print could be holding
            os.write(
                2,
                f"Stopping ({name}): no new LLM request; those in flight may finish for "
                f"{GRACE_SECONDS:g} s (again to quit at once)\n".encode(),
            )
        request_stop(name)

    previous: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handle)
    try:
        yield
    except Exception as exc:  # whatever the interrupted query raised (DuckDB's own error, say)
        reason = stop_reason()
        if reason is None or isinstance(exc, RunInterrupted):
            raise
        raise RunInterrupted(f"interrupted ({reason})", reason=reason) from exc
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        reset()
