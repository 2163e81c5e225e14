"""Solving a request: the job runs in a worker thread; its steps are bridged into the event loop.

The solving thread reports each committed step through ``on_step``; the callback hands it to the
event loop with ``loop.call_soon_threadsafe`` and an :class:`asyncio.Queue`, from which the
streaming response writes one chunk per step while the question is still being solved.

A solve nobody waits for any more (the client went away, the request timed out, the server shuts
down) stops after the step under way: the ticket's cancel flag is checked after every committed
step, and :class:`SolveCancelled` ends the solve in its thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial

from pydantic import BaseModel

from adaswitch.engine import StepCallback
from adaswitch.server import render
from adaswitch.server.errors import ApiError
from adaswitch.server.gate import ShuttingDown, Ticket
from adaswitch.server.requests import Job
from adaswitch.solver import Solver
from adaswitch.trace import StepRecord, Trace

log = logging.getLogger("adaswitch.server")
_END = object()


POLL_DISCONNECT_S = 0.25
"""How often a request that waits for its answer checks that its client is still there."""


class SolveCancelled(Exception):
    """Raised in the solving thread, between steps, when nobody waits for the answer any more."""


class ClientGone(Exception):
    """The client of a request closed its connection before the answer was ready."""


def run_job(solver: Solver, job: Job, on_step: StepCallback | None = None,
            cancel: threading.Event | None = None) -> Trace:
    """Solve one job (in a worker thread) with the mode and parameter its model name chose; stop
    after a step once ``cancel`` is set."""
    threshold = job.value if job.mode in ("adaswitch", "self-reflection") else None
    switch_rate = job.value if job.mode == "random" else None

    def committed(step: StepRecord) -> None:
        if on_step is not None:
            on_step(step)
        if cancel is not None and cancel.is_set():
            raise SolveCancelled(f"request {job.request_id}: stopped after step {step.index}")

    return solver.solve(
        job.question, job.family, job.knowledge, question_id=job.request_id, mode=job.mode, threshold=threshold,
        switch_rate=switch_rate, on_step=committed, seed=job.seed, max_tokens=job.max_tokens,
        temperature=job.temperature,
    )


def shutting_down() -> ApiError:
    return ApiError(503, "the server is shutting down; retry on another instance or later", code="shutting_down")


async def settle(work: Awaitable[Trace], timeout_s: float) -> Trace:
    """Await a solve; a timeout is a 504, a question failed by a model fault a 503, and so is a
    request still waiting for a worker when the server begins to shut down."""
    try:
        trace = await work
    except TimeoutError:
        raise ApiError(504, f"no answer within {timeout_s:g} s", code="timeout") from None
    except (ShuttingDown, SolveCancelled):
        raise shutting_down() from None
    if trace.status == "error":
        faults = trace.faults
        agent = faults[-1].agent if faults else "local"
        raise ApiError(503, f"the {agent} model failed: {trace.error}", code=f"{agent}_unavailable")
    return trace


async def solve(ticket: Ticket, solver: Solver, job: Job, timeout_s: float,
                disconnected: Callable[[], Awaitable[bool]] | None = None) -> Trace:
    """The answer of a non-streaming request. With ``disconnected`` (Starlette's
    ``request.is_disconnected``) the request gives up when its client goes away: its solve stops
    after the step under way and :class:`ClientGone` is raised."""
    work = asyncio.ensure_future(ticket.run(partial(run_job, solver, job, cancel=ticket.cancel), timeout_s))
    if disconnected is not None:
        while not work.done():
            await asyncio.wait({work}, timeout=POLL_DISCONNECT_S)
            if not work.done() and await disconnected():
                work.cancel()
                log.info("request %s: the client went away; its solve stops after the current step", job.request_id)
                raise ClientGone(job.request_id)
    return await settle(work, timeout_s)


def start_streaming(ticket: Ticket, solver: Solver, job: Job, timeout_s: float) -> tuple[asyncio.Task, asyncio.Queue]:
    """Start solving now; committed steps, then an end marker, arrive on the returned queue."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    def on_step(step: StepRecord) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, step)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            pass

    task = asyncio.ensure_future(ticket.run(partial(run_job, solver, job, on_step, ticket.cancel), timeout_s))

    def finished(done: asyncio.Task) -> None:
        queue.put_nowait(_END)
        if not done.cancelled():
            done.exception()  # retrieved, so a stream nobody read is not logged as an unhandled error

    task.add_done_callback(finished)
    return task, queue


async def events(task: asyncio.Task, queue: asyncio.Queue, meta: render.Meta, include_usage: bool,
                 timeout_s: float) -> AsyncIterator[str]:
    """Server-sent events: a chunk per step as it is committed, the answer, the finish, [DONE]."""
    try:
        yield _sse(render.role_chunk(meta))
        while (item := await queue.get()) is not _END:
            yield _sse(render.step_chunk(meta, item))
        try:
            trace = await settle(task, timeout_s)
        except ApiError as error:
            yield _sse(error.body())
            yield "data: [DONE]\n\n"
            return
        except Exception as error:  # noqa: BLE001 - the status line is gone; report in the stream
            log.exception("unexpected error while streaming")
            yield _sse(ApiError(500, f"internal error: {type(error).__name__}", code="internal_error").body())
            yield "data: [DONE]\n\n"
            return
        yield _sse(render.answer_chunk(meta, trace))
        yield _sse(render.final_chunk(meta, trace))
        if include_usage:
            yield _sse(render.usage_chunk(meta, trace))
        yield "data: [DONE]\n\n"
    finally:
        if not task.done():
            task.cancel()  # the client left: stop waiting; the solve stops after its current step


def _sse(body: BaseModel | dict) -> str:
    data = body.model_dump_json() if isinstance(body, BaseModel) else json.dumps(body)
    return f"data: {data}\n\n"
