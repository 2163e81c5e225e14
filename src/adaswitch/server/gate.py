"""Admission and worker threads: solving is synchronous, so it runs in a bounded thread pool.

At most ``workers`` questions are solved at once; up to ``queue`` more wait their turn; beyond
that a request is refused at once (429). Every counter lives on the event loop's thread.

Each admitted request has a cancel flag (a :class:`threading.Event`) that its solve checks between
steps: a request that times out or whose client goes away sets it, so its worker is freed after
the step under way. When the server begins to shut down, waiting requests are refused at once
(:class:`ShuttingDown`) and new ones too; :meth:`Gate.cancel_all` stops every solve at its next step.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class Saturated(Exception):
    """Every worker is busy and the queue is full."""


class ShuttingDown(Exception):
    """The server is shutting down: the request was not, and will not be, started."""


class Gate:
    def __init__(self, workers: int, queue: int):
        self.workers = workers
        self.queue = queue
        self.in_flight = 0
        self.queued = 0
        self._slots = asyncio.Semaphore(workers)
        self._closing = asyncio.Event()
        self._cancels: set[threading.Event] = set()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="adaswitch-solve")

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    def admit(self) -> "Ticket":
        """Take a place (working or waiting) or raise :class:`Saturated` (or :class:`ShuttingDown`).
        Call on the event loop."""
        if self.closing:
            raise ShuttingDown("the server is shutting down")
        if self.in_flight + self.queued >= self.workers + self.queue:
            raise Saturated(f"{self.in_flight} requests in flight and {self.queued} queued")
        self.queued += 1
        return Ticket(self)

    def begin_shutdown(self) -> None:
        """Refuse new requests and those still waiting for a worker. Call on the event loop."""
        self._closing.set()

    def cancel_all(self) -> None:
        """Ask every running solve to stop after its current step (safe from any thread)."""
        for cancel in list(self._cancels):
            cancel.set()

    def _release(self, future: "asyncio.Future[object]") -> None:
        self.in_flight -= 1
        self._slots.release()
        if not future.cancelled():
            future.exception()  # retrieved here, so an abandoned failure is not logged as unhandled

    async def close(self) -> None:
        """Stop the solves at their next step, wait for the worker threads and stop them."""
        self.begin_shutdown()
        self.cancel_all()
        await asyncio.to_thread(self._executor.shutdown, True)


class Ticket:
    """One admitted request: :meth:`run` waits for a worker, then solves in its thread."""

    def __init__(self, gate: Gate):
        self._gate = gate
        self._used = False
        self.cancel = threading.Event()
        """Set when nobody waits for the answer any more; the solve checks it between steps."""

    async def run(self, work: Callable[[], T], timeout_s: float) -> T:
        """Run ``work`` in a worker thread; raise TimeoutError after ``timeout_s`` in all, or
        :class:`ShuttingDown` when the server begins to shut down before a worker is free.

        On timeout or cancellation :attr:`cancel` is set: the solve stops after its current step
        and then frees its worker.
        """
        if self._used:
            raise RuntimeError("a ticket runs once")
        self._used = True
        gate = self._gate
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        try:
            await self._wait_for_worker(timeout_s)
        finally:
            gate.queued -= 1
        gate.in_flight += 1
        gate._cancels.add(self.cancel)
        future = loop.run_in_executor(gate._executor, work)
        future.add_done_callback(self._finished)
        try:
            return await asyncio.wait_for(asyncio.shield(future), max(deadline - loop.time(), 0.0))
        except (TimeoutError, asyncio.CancelledError):
            self.cancel.set()
            raise

    def _finished(self, future: "asyncio.Future[object]") -> None:
        self._gate._cancels.discard(self.cancel)
        self._gate._release(future)

    async def _wait_for_worker(self, timeout_s: float) -> None:
        gate = self._gate
        acquire = asyncio.ensure_future(gate._slots.acquire())
        closing = asyncio.ensure_future(gate._closing.wait())
        finished = False
        try:
            await asyncio.wait({acquire, closing}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
            finished = True
        finally:
            closing.cancel()
            if not acquire.done():
                acquire.cancel()
            got_worker = acquire.done() and not acquire.cancelled()
            if got_worker and (not finished or gate.closing):  # cancelled or refused: give the worker back
                gate._slots.release()
        if gate.closing:
            raise ShuttingDown("the server is shutting down")
        if not got_worker:
            raise TimeoutError
