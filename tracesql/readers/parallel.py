"""Parsing batches of trace files in worker processes (JSON parsing is CPU-bound and
Python's GIL would keep it on one core).

Workers are forked from the reading process for each big read, so they start in
milliseconds with every module already imported, and exit when the read is done: a
parsed batch leaves a worker holding memory the allocator keeps, which would otherwise
sit beside DuckDB's own while it loads the rows. A worker also exits on its own within
half a second of its parent's death (a killed run leaves no parsers behind). Set
TRACESQL_WORKERS=1 to parse in-process. Any failure of the pool falls back to parsing
in-process.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from tracesql.readers.discover import FoundFile

R = TypeVar("R", covariant=True)


class Job(Protocol[R]):
    """What a worker runs: a picklable object that parses batch `index` of files (a scan's
    BatchJob writing a Parquet part, a usage read's UsageJob)."""

    def parse(self, index: int, batch: list[FoundFile]) -> R: ...


MIN_PARALLEL_BYTES = 8 << 20  # below this, forking workers costs more than it saves
PARENT_CHECK_SECONDS = 0.5


def workers() -> int:
    configured = os.environ.get("TRACESQL_WORKERS")
    if configured and configured.isdigit() and int(configured) > 0:
        return int(configured)
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def worth_it(files: list[FoundFile]) -> bool:
    return workers() > 1 and len(files) > 1 and sum(f.size for f in files) >= MIN_PARALLEL_BYTES


def _parse(job: Job[R], index: int, batch: list[FoundFile]) -> R:
    return job.parse(index, batch)


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: a thread that ends the worker once its parent is gone (then the
    worker is re-parented, and getppid() changes). Polling works whichever thread of the
    parent forked it, which PR_SET_PDEATHSIG does not."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="tracesql-parent-watch", daemon=True).start()


def map_batches(job: Job[R], batches: list[list[FoundFile]]) -> Iterator[R]:
    """Parse batches in worker processes, in order (a failed worker's batch is parsed here)."""
    pool = ProcessPoolExecutor(
        max_workers=min(workers(), len(batches)),
        mp_context=multiprocessing.get_context("fork"),
        initializer=_exit_with_parent,
        initargs=(os.getpid(),),
    )
    try:
        futures = [pool.submit(_parse, job, i, b) for i, b in enumerate(batches)]
    except (BrokenProcessPool, OSError, RuntimeError):
        pool.shutdown(wait=True, cancel_futures=True)
        yield from (job.parse(i, b) for i, b in enumerate(batches))
        return
    try:
        for i, (batch, future) in enumerate(zip(batches, futures, strict=True)):
            try:
                yield future.result()
            except (BrokenProcessPool, OSError):
                yield job.parse(i, batch)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
