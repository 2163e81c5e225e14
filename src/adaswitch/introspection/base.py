"""What every signal shares: the step it looks at, its judgment, and the steps wrong on their face."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from adaswitch.actions import Action, ParsedStep, ToolResult
from adaswitch.backends.base import Completion, CompletionRequest
from adaswitch.model import HiddenStateReply, Model, ProbeReply, Reply
from adaswitch.prompts import TaskPrompts


@dataclass
class StepView:
    """What a signal may look at: the question, the trajectory before the step, and the step."""

    question: str
    prompts: TaskPrompts
    trajectory: str
    """Rendered trajectory before this step."""
    index: int
    step_text: str
    """The step as it will appear in the trajectory (thought and action lines)."""
    parsed: ParsedStep
    result: ToolResult | None
    """The tool's result (None for ``finish``)."""
    completion: Completion
    request: CompletionRequest | None = None
    """The request that wrote the step (a signal that re-samples the step sends it again)."""
    features: dict[str, float] = field(default_factory=dict)
    """The step's free features (:func:`adaswitch.introspection.features.step_features`), computed
    once by the engine; empty when the view was made elsewhere."""


@dataclass
class Judgment:
    p_error: float
    probe: ProbeReply | HiddenStateReply | None = None
    """The local model call the signal made (recorded in the trace as a ``judge`` call)."""
    features: dict[str, float] = field(default_factory=dict)
    replies: list[Reply] = field(default_factory=list)
    """Completions the signal asked of the local model (recorded as ``judge`` calls)."""


class Introspector(Protocol):
    name: str
    needs_logprobs: bool

    def judge(self, view: StepView, local: Model) -> Judgment:
        """Probability that the step in ``view`` is wrong, in [0, 1]."""
        ...

    def prepare(self, local: Model) -> None:
        """Check that the signal can be used with this local model (raise ValueError if not)."""
        ...


def forced_error(parsed: ParsedStep, result: ToolResult | None, earlier: list[Action] | None = None) -> bool:
    """True when the step is wrong on its face (see :func:`face_failure`)."""
    return face_failure(parsed.action, result is None or result.ok, earlier or [], parsed.error) is not None


def face_failure(
    action: Action | None, tool_ok: bool, earlier: Sequence[Action], parse_error: str | None
) -> str | None:
    """The rule a step breaks on its face: ``unparseable`` (no action could be read),
    ``tool-failed`` (its tool call failed) or ``repeated-call`` (it repeats an earlier step's call
    exactly, so it can only return what is known); None when it breaks none. A paragraph of free
    reasoning (no action and no parse error) breaks none of these."""
    if action is None and parse_error is None:
        return None
    if action is None:
        return "unparseable"
    if not tool_ok:
        return "tool-failed"
    if action.repeats(list(earlier)):
        return "repeated-call"
    return None


def trajectory_with_step(view: StepView) -> str:
    observation = f"\nObservation {view.index}: {view.result.text}" if view.result is not None else ""
    return f"{view.trajectory}{view.step_text}{observation}"


def share_of_first(probs: dict[str, float], first: str, second: str) -> float:
    """P(first) / (P(first) + P(second)) of two candidate answers; 0.5 when neither has any."""
    a, b = probs.get(first, 0.0), probs.get(second, 0.0)
    return a / (a + b) if a + b > 0 else 0.5
