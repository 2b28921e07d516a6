"""The run's LLM budget on Spark: the driver decides every admission.

`--max-calls`, `--max-tokens` and `--deadline` bound a whole run. On DuckDB one Budget
(llm/budget.py) in the process admits each request before its first attempt; on Spark the
requests start in many Python workers, so the driver keeps that Budget and serves it:

    server = BudgetServer(budget)            # the driver: a listener on an ephemeral port
    RemoteBudget(server.address, secret)     # a worker: admit() and settle() ask the driver

Each admission is one round trip (about a tenth of a millisecond on one machine), so the
driver admits exactly as many requests as the budget allows, wherever they start: the
misses it lets through are the ones it dispatches. Without a budget no server starts and
workers use a local Budget that admits everything. The listener checks an HMAC
challenge with a per-run secret (multiprocessing.connection), so only this run's workers
are answered; on a cluster the executors must reach the driver's host (they do for Spark
itself).
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from multiprocessing.connection import Client, Connection, Listener
from typing import Any

from tracesql.llm.budget import Budget
from tracesql.llm.client import BudgetReached


class BudgetServer:
    """Serves one Budget to the run's workers until closed."""

    def __init__(self, budget: Budget, host: str = "127.0.0.1") -> None:
        self.budget = budget
        self.secret = secrets.token_bytes(32)
        self._listener = Listener((host, 0), authkey=self.secret)
        self.address: tuple[str, int] = self._listener.address  # type: ignore[assignment]
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="tracesql-spark-budget", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection = self._listener.accept()
            except (OSError, EOFError):  # closed, or a peer that failed the challenge
                if self._closed.is_set():
                    return
                continue
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: Connection) -> None:
        with connection:
            while True:
                try:
                    message = connection.recv()
                except (EOFError, OSError):
                    return
                connection.send(self.answer(message))

    def answer(self, message: tuple[Any, ...]) -> tuple[Any, ...]:
        kind = message[0]
        if kind == "admit":
            try:
                self.budget.admit(int(message[1]))
            except BudgetReached as exc:
                return ("refused", exc.message if hasattr(exc, "message") else str(exc))
            return ("ok",)
        if kind == "settle":
            self.budget.settle(int(message[1]), int(message[2]))
            return ("ok",)
        if kind == "deadline":  # seconds left, for the workers' attempt timeouts
            left = None if self.budget.deadline is None else max(0.0, self.budget.deadline - time.monotonic())
            return ("ok", left)
        return ("error", f"unknown message {kind!r}")

    def close(self) -> None:
        self._closed.set()
        self._listener.close()


class RemoteBudget(Budget):
    """A worker's view of the driver's Budget (same interface: admit, settle, deadline)."""

    def __init__(self, address: tuple[str, int], secret: bytes) -> None:
        super().__init__(None, None)
        self._connection = Client(address, authkey=secret)
        self._remote_lock = threading.Lock()
        left = self._ask("deadline")[1]
        self.deadline = None if left is None else time.monotonic() + left

    def _ask(self, *message: Any) -> tuple[Any, ...]:
        with self._remote_lock:
            self._connection.send(message)
            return self._connection.recv()  # type: ignore[no-any-return]

    def admit(self, tokens: int = 0) -> None:
        answer = self._ask("admit", tokens)
        if answer[0] == "refused":
            raise BudgetReached(answer[1])

    def settle(self, reserved: int, used: int) -> None:
        self._ask("settle", reserved, used)

    def close(self) -> None:
        with self._remote_lock:
            self._connection.close()


def driver_host(spark: Any) -> str:
    """Where workers reach the driver: Spark's own driver host (local mode: loopback)."""
    context = getattr(spark, "sparkContext", None)
    if context is None:
        return os.environ.get("TRACESQL_SPARK_DRIVER_HOST", "127.0.0.1")
    master = context.master or ""
    if master.startswith("local"):
        return "127.0.0.1"
    return str(context.getConf().get("spark.driver.host", "127.0.0.1"))
