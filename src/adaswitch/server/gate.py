"""Admission and worker threads: solving is synchronous, so it runs in a bounded thread pool.

At most ``workers`` questions are solved at once; up to ``queue`` more wait their turn; beyond
that a request is refused at once (429). Every counter lives on the event loop's thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class Saturated(Exception):
    """Every worker is busy and the queue is full."""


class Gate:
    def __init__(self, workers: int, queue: int):
        self.workers = workers
        self.queue = queue
        self.in_flight = 0
        self.queued = 0
        self._slots = asyncio.Semaphore(workers)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="adaswitch-solve")

    def admit(self) -> "Ticket":
        """Take a place (working or waiting) or raise :class:`Saturated`. Call on the event loop."""
        if self.in_flight + self.queued >= self.workers + self.queue:
            raise Saturated(f"{self.in_flight} requests in flight and {self.queued} queued")
        self.queued += 1
        return Ticket(self)

    def _release(self, future: "asyncio.Future[object]") -> None:
        self.in_flight -= 1
        self._slots.release()
        if not future.cancelled():
            future.exception()  # retrieved here, so an abandoned failure is not logged as unhandled

    async def close(self) -> None:
        """Wait for the worker threads (a solve cannot be interrupted) and stop them."""
        await asyncio.to_thread(self._executor.shutdown, True)


class Ticket:
    """One admitted request: :meth:`run` waits for a worker, then solves in its thread."""

    def __init__(self, gate: Gate):
        self._gate = gate
        self._used = False

    async def run(self, work: Callable[[], T], timeout_s: float) -> T:
        """Run ``work`` in a worker thread; raise TimeoutError after ``timeout_s`` in all.

        On timeout or cancellation the thread still finishes its solve and only then frees its worker.
        """
        if self._used:
            raise RuntimeError("a ticket runs once")
        self._used = True
        gate = self._gate
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        try:
            await asyncio.wait_for(gate._slots.acquire(), timeout_s)
        finally:
            gate.queued -= 1
        gate.in_flight += 1
        future = loop.run_in_executor(gate._executor, work)
        future.add_done_callback(gate._release)
        return await asyncio.wait_for(asyncio.shield(future), max(deadline - loop.time(), 0.0))
