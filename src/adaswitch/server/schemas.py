"""Request and response bodies of the OpenAI-compatible API, with the ``adaswitch`` extensions.

Standard fields are validated as the OpenAI API validates them (a bad value is a 400): ``stop`` cuts
the answer; ``n`` above 1 and tools are refused with a 400 that says so; ``max_tokens`` (or
``max_completion_tokens``) bounds what the agents write in all, steps and re-samples of both agents
(finish ``length`` when it runs out); ``seed`` seeds the question's sampling (re-samples, random
switching) and ``temperature`` is the temperature of what the modes sample (re-samples of wasted
steps, self-reflection's retries); the steps themselves are written greedily. ``top_p`` is checked
but changes nothing. Unknown fields are accepted and ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator


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
    n: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0, allow_inf_nan=False)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0, allow_inf_nan=False)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    tools: list[Any] | None = None
    tool_choice: Any = None
    functions: list[Any] | None = None
    adaswitch: AdaswitchOptions | None = None

    @field_validator("stop")
    @classmethod
    def _at_most_four_stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value

    def stop_sequences(self) -> list[str]:
        if self.stop is None:
            return []
        return [s for s in ([self.stop] if isinstance(self.stop, str) else self.stop) if s]


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
    finish_reason: Literal["stop", "length"] = "stop"
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
    finish_reason: Literal["stop", "length"] | None = None
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
