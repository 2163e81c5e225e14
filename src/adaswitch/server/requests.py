"""From a chat request to a question to solve: the model name, the question, its context, the family."""

from __future__ import annotations

import json
from dataclasses import dataclass

from fastapi import Request

from adaswitch.documents import Document
from adaswitch.server.errors import ApiError
from adaswitch.server.names import ModelChoice, UnknownModel, parse_model
from adaswitch.server.schemas import ChatMessage, ChatRequest
from adaswitch.solver import SolverSettings
from adaswitch.tools.search import documents_from_json, documents_from_text

_CONTEXT_ROLES = ("system", "developer", "user")


@dataclass(frozen=True)
class Job:
    """One question as the collaboration will solve it."""

    question: str
    family: str
    knowledge: list[Document] | None
    mode: str
    value: float | None
    """Threshold (adaswitch, self-reflection) or switch rate (random); None for local and cloud."""
    request_id: str = ""
    """The response's id (``chatcmpl-...``), which becomes the trace's id: unique per request."""
    seed: int | None = None
    """The request's ``seed``: the question's sampling seed (re-samples, random switching)."""
    max_tokens: int | None = None
    """The request's ``max_completion_tokens`` or ``max_tokens``: what the agents may write in all."""
    temperature: float | None = None
    """The request's ``temperature``: of the sampled writes (re-samples, self-reflection retries)."""


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ApiError(400, "invalid Content-Length header", code="invalid_header") from None
        if size > limit:
            raise ApiError(413, f"the body has {size} bytes; this server accepts {limit} at most", code="request_too_large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, f"the body exceeds {limit} bytes", code="request_too_large")
    return bytes(body)


def parse_chat(body: bytes) -> ChatRequest:
    """Decode and validate a chat request: 400 when it is not a JSON object, 422 for bad fields."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ApiError(400, f"the body is not valid JSON: {error}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object", code="invalid_json")
    chat = ChatRequest.model_validate(data)  # a ValidationError becomes a 400
    _refuse_unsupported(chat)
    return chat


def _refuse_unsupported(chat: ChatRequest) -> None:
    """400 for what the server cannot do, rather than an answer that ignores it."""
    if chat.n is not None and chat.n > 1:
        raise ApiError(400, "n > 1 is not supported: one trajectory per request", code="unsupported_parameter", param="n")
    if chat.tools or chat.functions:
        param = "tools" if chat.tools else "functions"
        raise ApiError(400, f"{param} are not supported: the agents use their own tools (calculator, search)",
                       code="unsupported_parameter", param=param)
    if chat.tool_choice not in (None, "none"):
        raise ApiError(400, "tool_choice is not supported", code="unsupported_parameter", param="tool_choice")


def choose_model(name: str, solver: SolverSettings, has_cloud: bool) -> ModelChoice:
    threshold_for_budget = solver.calibration.threshold_for if solver.calibration is not None else None
    try:
        return parse_model(name, solver.threshold, solver.switch_rate, has_cloud, threshold_for_budget)
    except UnknownModel as error:
        raise ApiError(404, str(error), code="model_not_found", param="model") from None


def job_from_chat(chat: ChatRequest, choice: ModelChoice) -> Job:
    """The last user message is the question; system and earlier user messages carry the QA context.

    The server solves single questions: a conversation with an assistant turn before the question is
    refused (400 ``multi_turn_unsupported``) rather than answered as if the earlier turns were not there."""
    users = [i for i, m in enumerate(chat.messages) if m.role == "user"]
    if not users or not chat.messages[users[-1]].text().strip():
        raise ApiError(400, "the request has no user message with a question", code="missing_user_message", param="messages")
    last = users[-1]
    if any(m.role == "assistant" for m in chat.messages[:last]):
        raise ApiError(400, "the server solves one question per request; earlier assistant turns are not supported "
                       "(send the question with its context in one user message)",
                       code="multi_turn_unsupported", param="messages")
    question = chat.messages[last].text().strip()
    context = [m for i, m in enumerate(chat.messages) if m.role in _CONTEXT_ROLES and i != last]
    documents = _documents(context)
    options = chat.adaswitch
    # A system prompt ("You are a helpful tutor.\n\nAnswer with a number.") is an instruction, not a
    # knowledge base: the family is qa when set explicitly or when the context names its documents
    # (a JSON list of {"title", "text"}, or paragraphs that start with a "Title: ..." line).
    family = (options.family if options else None) or ("qa" if any(d.title for d in documents) else "math")
    if family == "qa" and not documents:
        raise ApiError(400, "the qa family needs context: paragraphs in a system or earlier user message",
                       code="missing_context", param="messages")
    value = choice.value
    if options is not None and options.threshold is not None and choice.parameter is not None:
        value = options.threshold
    max_tokens = chat.max_completion_tokens if chat.max_completion_tokens is not None else chat.max_tokens
    return Job(question, family, documents if family == "qa" else None, choice.mode, value,
               seed=chat.seed, max_tokens=max_tokens, temperature=chat.temperature)


def _documents(messages: list[ChatMessage]) -> list[Document]:
    documents: list[Document] = []
    for message in messages:
        text = message.text().strip()
        if not text:
            continue
        documents.extend(_parse_context(text))
    return [doc for doc in documents if doc.text.strip()]


def _parse_context(text: str) -> list[Document]:
    """A JSON list of {"title", "text"} (or another layout the search tool reads), else paragraphs."""
    if text[:1] in "[{":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return documents_from_text(text)
        try:
            return documents_from_json(data)
        except (ValueError, TypeError) as error:
            raise ApiError(422, f"context: {error}", code="invalid_value", param="messages") from None
    return documents_from_text(text)
