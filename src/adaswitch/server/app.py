"""The FastAPI application: built by :func:`create_app` from :class:`ServerSettings`.

Everything a request needs (settings, solver, admission gate) lives on ``app.state``.
"""

from __future__ import annotations

import dataclasses
import hmac
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from adaswitch import __version__
from adaswitch.server import render, solving
from adaswitch.server.errors import ApiError, install_handlers
from adaswitch.server.gate import Gate, Saturated, ShuttingDown
from adaswitch.server.names import mode_of, served_models
from adaswitch.server.requests import choose_model, job_from_chat, parse_chat, read_body
from adaswitch.server.schemas import ModelCard, ModelList
from adaswitch.server.settings import ServerSettings
from adaswitch.solver import Solver


def create_app(settings: ServerSettings, solver: Solver | None = None) -> FastAPI:
    """An app serving ``solver`` (built from ``settings.solver`` when not given, and then closed
    with the app; a solver passed in stays the caller's to close)."""
    owned = solver is None
    if solver is None:
        solver = Solver(settings.solver)
    else:
        settings = settings.model_copy(update={"solver": solver.settings})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.gate = Gate(settings.workers(), settings.max_queue)
        try:
            yield
        finally:
            await app.state.gate.close()
            if owned:
                solver.close()

    app = FastAPI(title="adaswitch", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.solver = solver
    install_handlers(app)
    app.include_router(_router)
    return app


async def require_key(request: Request) -> None:
    """401 unless the bearer token matches the configured API key (when there is one)."""
    key: str | None = request.app.state.settings.api_key
    if key is None:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
        raise ApiError(401, "invalid or missing API key (send Authorization: Bearer KEY)", code="invalid_api_key",
                       headers={"WWW-Authenticate": "Bearer"})


_router = APIRouter()


@_router.get("/health")
async def health(request: Request) -> dict:
    state = request.app.state
    solver: Solver = state.solver
    return {
        "status": "ok",
        "models": served_models(solver.cloud is not None),
        "local": solver.local.name,
        "cloud": solver.cloud.name if solver.cloud else None,
        "in_flight": state.gate.in_flight,
        "queued": state.gate.queued,
        "max_concurrency": state.gate.workers,
        "max_queue": state.gate.queue,
    }


@_router.get("/v1/models", dependencies=[Depends(require_key)])
async def list_models(request: Request) -> ModelList:
    solver: Solver = request.app.state.solver
    return ModelList(data=[_card(name, solver) for name in served_models(solver.cloud is not None)])


@_router.get("/v1/models/{name}", dependencies=[Depends(require_key)])
async def get_model(name: str, request: Request) -> ModelCard:
    solver: Solver = request.app.state.solver
    choice = choose_model(name, solver.settings, solver.cloud is not None)
    return _card(choice.name, solver, choice.value)


def _card(name: str, solver: Solver, value: float | None = None) -> ModelCard:
    base = name.partition("@")[0]
    mode = mode_of(base)
    s = solver.settings
    default = {"adaswitch": s.threshold, "self-reflection": s.threshold, "random": s.switch_rate}.get(mode)
    parameter = {"adaswitch": "threshold", "self-reflection": "threshold", "random": "switch_rate"}.get(mode)
    return ModelCard(id=name, adaswitch={"mode": mode, "parameter": parameter,
                                         "value": value if value is not None else default})


@_router.post("/v1/chat/completions", dependencies=[Depends(require_key)])
async def chat_completions(request: Request) -> Response:
    state = request.app.state
    settings: ServerSettings = state.settings
    solver: Solver = state.solver
    chat = parse_chat(await read_body(request, settings.max_body_bytes))
    job = job_from_chat(chat, choose_model(chat.model, solver.settings, solver.cloud is not None))
    if overflow := solver.prompt_overflow(job.question, job.family, job.knowledge):
        tokens, room = overflow
        raise ApiError(400, f"the question and its context take {tokens} prompt tokens; the local model has room "
                       f"for {room} (its context less one step's tokens)", code="context_length_exceeded",
                       param="messages")
    try:
        ticket = state.gate.admit()
    except ShuttingDown:
        raise solving.shutting_down() from None
    except Saturated as error:
        raise ApiError(429, f"the server is saturated ({error}); retry later", code="server_saturated",
                       headers={"Retry-After": str(settings.retry_after_s)}) from None
    meta = render.Meta(id=f"chatcmpl-{uuid.uuid4().hex}", created=int(time.time()), model=chat.model,
                       stop=tuple(chat.stop_sequences()))
    job = dataclasses.replace(job, request_id=meta.id)
    timeout = settings.request_timeout_s
    if chat.stream:
        task, queue = solving.start_streaming(ticket, solver, job, timeout)
        include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
        return StreamingResponse(solving.events(task, queue, meta, include_usage, timeout),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    try:
        trace = await solving.solve(ticket, solver, job, timeout, request.is_disconnected)
    except solving.ClientGone:
        return Response(status_code=499)  # nobody reads it (nginx's "client closed request")
    return JSONResponse(render.completion(trace, meta).model_dump(mode="json"))
