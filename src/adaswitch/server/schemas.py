"""Request and response bodies of the OpenAI-compatible API, with the ``adaswitch`` extensions.

Standard fields the collaboration has no use for (temperature, max_tokens, ...) are accepted and
ignored; fields it does read are validated, and a bad value is a 422.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(part.text for part in self.content)
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: StrictBool = False


class AdaswitchOptions(BaseModel):
    """The ``adaswitch`` extension field of a request."""

    model_config = ConfigDict(extra="forbid")
    family: Literal["math", "qa"] | None = None
    """Task family; by default "qa" when the messages carry context, else "math"."""
    threshold: float | None = Field(default=None, ge=0.0, le=1.0, allow_inf_nan=False)
    """Overrides the @VALUE of the model name (the switch rate for adaswitch-random)."""


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[ChatMessage]
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    n: Literal[1] | None = None
    adaswitch: AdaswitchOptions | None = None


# ----------------------------------------------------------------------------- responses


class AgentUsage(BaseModel):
    calls: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    recomputed_prompt_tokens: int
    latency_s: float


class ChatUsage(BaseModel):
    """OpenAI's usage (summed over both agents) plus the breakdown per agent."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    adaswitch: dict[str, AgentUsage]


class ResponseMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: ResponseMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: ChatUsage
    adaswitch: dict[str, Any]
    """``trace`` (the whole trace) and ``explanation`` (why the content is empty, or None)."""


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop"] | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: ChatUsage | None = None
    adaswitch: dict[str, Any] | None = None
    """``kind`` ("step", "answer", "final") and what goes with it (author, trace, ...)."""


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "adaswitch"
    adaswitch: dict[str, Any]


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
