"""Introspection signals: each estimates the probability that a local step is wrong.

All signals share one interface, :class:`Introspector`. A step whose action could not be parsed,
whose tool call failed, or that repeats an earlier tool call exactly gets probability 1 before any
signal is asked (see :func:`forced_error`).
Learned signals (a trained judgment, a probe) plug into the same interface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from adaswitch.actions import Action, ParsedStep, ToolResult
from adaswitch.backends.base import Completion, ProbeRequest
from adaswitch.model import Model, ProbeReply
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
    probe: ProbeReply | None = None
    features: dict[str, float] = field(default_factory=dict)


class Introspector(Protocol):
    name: str
    needs_logprobs: bool

    def judge(self, view: StepView, local: Model) -> Judgment:
        """Probability that the step in ``view`` is wrong, in [0, 1]."""
        ...


def forced_error(parsed: ParsedStep, result: ToolResult | None, earlier: list[Action] | None = None) -> bool:
    """True when the step is wrong on its face: an unreadable action, a failing tool call, or a
    tool call that repeats an earlier step's call exactly (it can only return what is known)."""
    if parsed.action is None or (result is not None and not result.ok):
        return True
    if parsed.action.tool == "finish" or not earlier:
        return False
    key = _action_key(parsed.action)
    return any(_action_key(action) == key for action in earlier)


def _action_key(action: Action) -> tuple[str, str]:
    return action.tool.lower(), "".join(action.argument.split()).lower()


def trajectory_with_step(view: StepView) -> str:
    observation = f"\nObservation {view.index}: {view.result.text}" if view.result is not None else ""
    return f"{view.trajectory}{view.step_text}{observation}"


class VerifierIntrospector:
    """Training-free: ask the local model whether its step is correct; p = P(No) / (P(Yes) + P(No))."""

    name = "verifier"
    needs_logprobs = False

    def judge(self, view: StepView, local: Model) -> Judgment:
        messages = view.prompts.verifier_messages(view.question, trajectory_with_step(view), view.index)
        reply = local.probe(ProbeRequest(messages=messages, candidates=["Yes", "No"]))
        yes, no = reply.result.probs.get("Yes", 0.0), reply.result.probs.get("No", 0.0)
        p = no / (yes + no) if yes + no > 0 else 0.5
        return Judgment(p_error=p, probe=reply, features={"p_yes": yes, "p_no": no})


@dataclass
class ConfidenceIntrospector:
    """From the step's own token log-probabilities: p = sigmoid(bias + w_mean * mean + w_min * min).

    The default weights give p close to ``1 - exp(mean logprob)`` for confident steps; fit them on
    labelled steps with :func:`fit_confidence` for a calibrated signal.
    """

    bias: float = -1.0
    w_mean: float = -4.0
    w_min: float = -0.5
    name: str = "confidence"
    needs_logprobs: bool = True

    def judge(self, view: StepView, local: Model) -> Judgment:
        features = confidence_features(view.completion)
        z = self.bias + self.w_mean * features["mean_logprob"] + self.w_min * features["min_logprob"]
        return Judgment(p_error=_sigmoid(z), features=features)


def confidence_features(completion: Completion) -> dict[str, float]:
    logprobs = [t.logprob for t in completion.logprobs or [] if math.isfinite(t.logprob)]
    if not logprobs:
        return {"mean_logprob": -10.0, "min_logprob": -10.0}
    return {"mean_logprob": sum(logprobs) / len(logprobs), "min_logprob": min(logprobs)}


def fit_confidence(features: list[dict[str, float]], wrong: list[bool], steps: int = 2000) -> ConfidenceIntrospector:
    """Fit the confidence weights by logistic regression (plain gradient descent, no extra deps)."""
    import numpy as np

    if len(features) != len(wrong) or not features:
        raise ValueError("need as many labels as feature rows, and at least one")
    x = np.array([[1.0, f["mean_logprob"], f["min_logprob"]] for f in features])
    y = np.array(wrong, dtype=float)
    w = np.zeros(3)
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        w -= 0.1 * (x.T @ (p - y) / len(y) + 1e-3 * w)
    return ConfidenceIntrospector(bias=float(w[0]), w_mean=float(w[1]), w_min=float(w[2]))


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


INTROSPECTORS = {"verifier": VerifierIntrospector, "confidence": ConfidenceIntrospector}


def make_introspector(name: str) -> Introspector:
    """Build a signal by name. Learned signals (``trained``, ``probe``) register here later."""
    try:
        return INTROSPECTORS[name]()
    except KeyError:
        raise ValueError(f"unknown introspection {name!r}; expected one of {', '.join(INTROSPECTORS)}") from None
