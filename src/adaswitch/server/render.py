"""From a trace to OpenAI response bodies: the completion, the stream's chunks, the usage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from adaswitch.trajectory import append_step
from adaswitch.server.schemas import (
    AgentUsage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatUsage,
    Choice,
    ChunkChoice,
    Delta,
    ResponseMessage,
)
from adaswitch.trace import StepRecord, Trace
from adaswitch.usage import Usage


@dataclass(frozen=True)
class Meta:
    """What every body of one response repeats."""

    id: str
    created: int
    model: str
    stop: tuple[str, ...] = ()
    """The request's stop sequences: the answer is cut at the first one."""


def content(trace: Trace, meta: Meta) -> str:
    """The answer as the message content, cut before the first of the request's stop sequences."""
    text = trace.answer or ""
    cuts = [i for i in (text.find(stop) for stop in meta.stop) if i >= 0]
    return text[: min(cuts)] if cuts else text


def finish_reason(trace: Trace) -> Literal["stop", "length"]:
    """``length`` when the trajectory ran out of steps or of the request's ``max_tokens``, else ``stop``."""
    return "length" if trace.status in ("max_steps", "max_tokens") else "stop"


def usage(trace: Trace) -> ChatUsage:
    """OpenAI's three counts summed over both agents, and the breakdown per agent."""
    per_agent = {agent: trace.usage_of(agent) for agent in ("local", "cloud")}
    total = per_agent["local"] + per_agent["cloud"]
    return ChatUsage(
        prompt_tokens=total.prompt_tokens,
        completion_tokens=total.completion_tokens,
        total_tokens=total.total_tokens,
        adaswitch={agent: _agent_usage(u) for agent, u in per_agent.items()},
    )


def _agent_usage(u: Usage) -> AgentUsage:
    return AgentUsage(
        calls=u.calls,
        prompt_tokens=u.prompt_tokens,
        completion_tokens=u.completion_tokens,
        total_tokens=u.total_tokens,
        recomputed_prompt_tokens=u.recomputed_prompt_tokens,
        latency_s=round(u.latency_s, 6),
    )


def explanation(trace: Trace) -> str | None:
    """Why the answer is empty, or None when there is one."""
    if trace.answer:
        return None
    if trace.status == "error":
        return f"the question failed: {trace.error}"
    if trace.status == "max_steps":
        return f"no answer within {len(trace.steps)} steps, and none could be read from the last step"
    if trace.status == "max_tokens":
        return "the request's max_tokens ran out before the agents reached an answer"
    return "the trajectory finished with an empty answer"


def completion(trace: Trace, meta: Meta) -> ChatCompletion:
    return ChatCompletion(
        id=meta.id,
        created=meta.created,
        model=meta.model,
        choices=[Choice(message=ResponseMessage(content=content(trace, meta)), finish_reason=finish_reason(trace))],
        usage=usage(trace),
        adaswitch={"explanation": explanation(trace), "trace": trace.model_dump(mode="json")},
    )


def step_text(step: StepRecord) -> str:
    """The step as it reads in the trajectory, with its observation unless it is the finish."""
    return append_step("", step)


def _chunk(meta: Meta, delta: Delta, extension: dict | None, finish: str | None = None) -> ChatCompletionChunk:
    return ChatCompletionChunk(
        id=meta.id,
        created=meta.created,
        model=meta.model,
        choices=[ChunkChoice(delta=delta, finish_reason=finish)],
        adaswitch=extension,
    )


def role_chunk(meta: Meta) -> ChatCompletionChunk:
    return _chunk(meta, Delta(role="assistant", content=""), {"kind": "start"})


def step_chunk(meta: Meta, step: StepRecord) -> ChatCompletionChunk:
    """A step as it is committed: its text in the ``adaswitch`` extension, no content, so that the
    joined content of a stream is the non-streamed answer. ``revised`` counts the earlier steps a
    repairing cloud step replaces: a client drops the steps from ``index`` on that it already has."""
    extension = {"kind": "step", "index": step.index, "author": step.author, "switched": step.switched,
                 "p_error": step.p_error, "text": step_text(step), "revised": len(step.revised)}
    return _chunk(meta, Delta(), extension)


def answer_chunk(meta: Meta, trace: Trace) -> ChatCompletionChunk:
    extension = {"kind": "answer", "answer_source": trace.answer_source, "explanation": explanation(trace)}
    return _chunk(meta, Delta(content=content(trace, meta)), extension)


def final_chunk(meta: Meta, trace: Trace) -> ChatCompletionChunk:
    return _chunk(meta, Delta(), {"kind": "final", "trace": trace.model_dump(mode="json")}, finish=finish_reason(trace))


def usage_chunk(meta: Meta, trace: Trace) -> ChatCompletionChunk:
    return ChatCompletionChunk(id=meta.id, created=meta.created, model=meta.model, choices=[], usage=usage(trace))
