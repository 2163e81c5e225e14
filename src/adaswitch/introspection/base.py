"""What every signal shares: the step it looks at, its judgment, and the steps wrong on their face."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from adaswitch.actions import Action, ParsedStep, ToolResult
from adaswitch.backends.base import Completion
from adaswitch.model import HiddenStateReply, Model, ProbeReply
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


@dataclass
class Judgment:
    p_error: float
    probe: ProbeReply | HiddenStateReply | None = None
    """The local model call the signal made (recorded in the trace as a ``judge`` call)."""
    features: dict[str, float] = field(default_factory=dict)


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
    """True when the step is wrong on its face: an unreadable action, a failing tool call, or a
    tool call that repeats an earlier step's call exactly (it can only return what is known). A
    paragraph of free reasoning (no action and no error) is none of these."""
    if parsed.is_free_reasoning:
        return False
    if parsed.action is None or (result is not None and not result.ok):
        return True
    return parsed.action.repeats(earlier or [])


def trajectory_with_step(view: StepView) -> str:
    observation = f"\nObservation {view.index}: {view.result.text}" if view.result is not None else ""
    return f"{view.trajectory}{view.step_text}{observation}"


def share_of_first(probs: dict[str, float], first: str, second: str) -> float:
    """P(first) / (P(first) + P(second)) of two candidate answers; 0.5 when neither has any."""
    a, b = probs.get(first, 0.0), probs.get(second, 0.0)
    return a / (a + b) if a + b > 0 else 0.5
