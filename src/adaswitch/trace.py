"""The trace: a typed, versioned record of one question solved by the collaboration.

A trace holds every step (who wrote it, its text, the parsed action, the observation, the
probability of error, the tokens and time it cost), the local proposals that were replaced, every
fault met on the way, and the final answer with how it was extracted. It serialises to JSON and
back, so runs can be resumed, re-scored and turned into training data without re-running a model.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, computed_field

from adaswitch.actions import Action
from adaswitch.usage import Usage

TRACE_VERSION = 1

Agent = Literal["local", "cloud"]
CallPurpose = Literal["step", "judge", "retry", "resample", "action", "review"]
"""``action``: the action of a step whose thought used up the step's tokens, decoded on its own."""


class CallRecord(BaseModel):
    """One model call made while producing a step."""

    agent: Agent
    purpose: CallPurpose
    prompt_tokens: int = 0
    completion_tokens: int = 0
    recomputed_prompt_tokens: int = 0
    latency_s: float = 0.0
    attempts: int = 1
    bytes_sent: int = 0
    """Bytes of message text sent to the model (after redaction)."""
    cached: bool = False
    redactions: int = 0
    """Pattern matches replaced before sending (see adaswitch.redaction)."""
    constrained: bool = False
    """True when the step was decoded under the step grammar (valid by construction)."""

    def usage(self) -> Usage:
        return Usage(
            calls=1,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            recomputed_prompt_tokens=self.recomputed_prompt_tokens,
            latency_s=self.latency_s,
        )


class FaultRecord(BaseModel):
    """Something that went wrong with a model call, and what the engine did about it."""

    agent: Agent
    kind: str
    message: str
    attempt: int
    outcome: Literal["retried", "fell_back_to_local", "failed_question", "gave_up"]


class Proposal(BaseModel):
    """A step that was written but not kept (a flagged local step, or a discarded retry)."""

    author: Agent
    text: str
    thought: str = ""
    action: Action | None = None
    parse_error: str | None = None
    observation: str = ""
    tool_ok: bool = True
    p_error: float | None = None
    features: dict[str, float] = Field(default_factory=dict)
    """What the signal and the free features (:mod:`adaswitch.introspection.features`) read."""


class StepRecord(BaseModel):
    """One committed step of the trajectory."""

    index: int
    author: Agent
    text: str
    thought: str = ""
    action: Action | None = None
    parse_error: str | None = None
    repairs: list[str] = Field(default_factory=list)
    observation: str = ""
    tool_ok: bool = True
    p_error: float | None = None
    """Probability of error of the local proposal at this position (None when not estimated)."""
    features: dict[str, float] = Field(default_factory=dict)
    """What the signal read of the local proposal at this position, and its free features (empty
    when it was not judged)."""
    switched: bool = False
    """True when the local proposal was flagged and replaced (by the cloud or by a local retry)."""
    replaced: list[Proposal] = Field(default_factory=list)
    revised: list[Proposal] = Field(default_factory=list)
    """Committed steps the cloud judged wrong and rewrote from this step on (a repairing takeover):
    dropped from the trajectory; their calls are counted in this step's ``calls``."""
    wasted: list[Proposal] = Field(default_factory=list)
    """Local proposals the engine discarded and re-sampled because they repeated an earlier call or
    computed a value an earlier observation already gave (not switches: no cloud, no threshold)."""
    calls: list[CallRecord] = Field(default_factory=list)
    faults: list[FaultRecord] = Field(default_factory=list)
    latency_s: float = 0.0

    def judged_local(self) -> list[tuple[dict[str, float], float]]:
        """(features, probability of error) of every local proposal judged at this position: the
        replaced ones, then the step itself when it is the local agent's own and was not switched
        (a switched step's probability belongs to the proposal it replaced)."""
        out = [(p.features, p.p_error) for p in self.replaced if p.author == "local" and p.p_error is not None]
        if self.author == "local" and not self.switched and self.p_error is not None:
            out.append((self.features, self.p_error))
        return out

    def usage(self, agent: Agent) -> Usage:
        total = Usage()
        for call in self.calls:
            if call.agent == agent:
                total = total + call.usage()
        return total


AnswerSource = Literal["finish", "fallback", "none"]
TraceStatus = Literal["finished", "max_steps", "max_tokens", "error"]


class Trace(BaseModel):
    version: int = TRACE_VERSION
    id: str = ""
    question: str
    family: str
    mode: str
    threshold: float | None = None
    introspection: str | None = None
    local_model: str
    cloud_model: str | None = None
    steps: list[StepRecord] = Field(default_factory=list)
    answer: str | None = None
    answer_source: AnswerSource = "none"
    answer_method: str = "none"
    status: TraceStatus = "finished"
    error: str | None = None
    wall_time_s: float = 0.0
    started_at: str = ""
    settings: dict = Field(default_factory=dict)
    escalation: Escalation | None = None
    """Set when the question was escalated: the collaborative trajectory set aside for the cloud's own
    solution (``steps`` and ``answer`` are then the cloud's), paid for like the rest."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def usage(self) -> dict[str, Usage]:
        """Totals per agent, summed over every call of every step (an escalated trajectory's too)."""
        return {agent: self.usage_of(agent) for agent in ("local", "cloud")}

    def usage_of(self, agent: Agent) -> Usage:
        total = Usage()
        for step in self.paid_steps:
            total = total + step.usage(agent)
        return total

    @property
    def paid_steps(self) -> list[StepRecord]:
        """Every step written for the question: those of a trajectory set aside by an escalation, then
        the trajectory's own."""
        return (self.escalation.trajectory.paid_steps if self.escalation else []) + self.steps

    @property
    def faults(self) -> list[FaultRecord]:
        return [fault for step in self.paid_steps for fault in step.faults]

    @property
    def cloud_steps(self) -> int:
        return sum(1 for step in self.steps if step.author == "cloud")

    @property
    def switch_count(self) -> int:
        return sum(1 for step in self.steps if step.switched)

    def to_json(self, indent: int | None = None) -> str:
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, text: str) -> "Trace":
        data = cls.model_validate_json(text)
        if data.version > TRACE_VERSION:
            raise ValueError(f"trace version {data.version} is newer than this adaswitch ({TRACE_VERSION})")
        return data


class Escalation(BaseModel):
    """A collaborative trajectory judged too risky to keep: the cloud then solved the question alone."""

    risk: float
    """The trajectory's question-level probability of error (:func:`adaswitch.escalation.trajectory_risk`)."""
    threshold: float
    """Escalation happens above this risk."""
    trajectory: Trace


Trace.model_rebuild()
