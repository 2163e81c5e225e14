"""Introspection signals: each estimates the probability that a local step is wrong.

All signals share one interface, :class:`Introspector`. A step whose action could not be parsed,
whose tool call failed, or that repeats an earlier tool call exactly gets probability 1 before any
signal is asked (see :func:`forced_error`).

Training-free: ``verifier`` (ask the model) and ``confidence`` (token log-probabilities). Learned:
``trained`` (a reflectively trained model's own ``Check: right|wrong`` judgment) and ``probe``
(a logistic regression on the model's hidden state after the step, see
:mod:`adaswitch.learning.probe`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from adaswitch.actions import Action, ParsedStep, ToolResult
from adaswitch.backends.base import Completion, ProbeRequest
from adaswitch.model import HiddenStateReply, Model, ProbeReply
from adaswitch.prompts import JUDGMENT_RIGHT, JUDGMENT_WRONG, TaskPrompts

if TYPE_CHECKING:
    from adaswitch.learning.probe import ProbeModel


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


class VerifierIntrospector:
    """Training-free: ask the local model whether its step is correct; p = P(No) / (P(Yes) + P(No))."""

    name = "verifier"
    needs_logprobs = False

    def prepare(self, local: Model) -> None:
        pass

    def judge(self, view: StepView, local: Model) -> Judgment:
        messages = view.prompts.verifier_messages(view.question, trajectory_with_step(view), view.index)
        reply = local.probe(ProbeRequest(messages=messages, candidates=["Yes", "No"]))
        yes, no = reply.result.probs.get("Yes", 0.0), reply.result.probs.get("No", 0.0)
        p = no / (yes + no) if yes + no > 0 else 0.5
        return Judgment(p_error=p, probe=reply, features={"p_yes": yes, "p_no": no})


@dataclass
class PositionIntrospector:
    """A baseline that looks at nothing but how far into its trajectory a step is:
    p = (index - 1) / (index - 1 + scale), 0 for the first step and rising towards 1.

    At threshold τ (switch when p > τ) every step whose index is above 1 + scale·τ / (1 - τ) goes to
    the cloud: with the default scale, τ = 0.3 keeps only the first step local, τ = 0.5 the first
    three; the engine still sends an unreadable, failing or repeated action to the cloud at any step.
    A small model that goes wrong early and then loops makes later steps mostly wrong, so this
    content-free signal can score a high AUROC; any introspection has to beat it to be worth its cost.
    """

    scale: float = 2.0
    name: str = "position"
    needs_logprobs: bool = False

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise ValueError(f"position scale must be positive, got {self.scale}")

    def prepare(self, local: Model) -> None:
        pass

    def judge(self, view: StepView, local: Model) -> Judgment:
        steps_before = max(view.index - 1, 0)
        return Judgment(p_error=steps_before / (steps_before + self.scale), features={"index": float(view.index)})


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

    def prepare(self, local: Model) -> None:
        pass

    def judge(self, view: StepView, local: Model) -> Judgment:
        features = confidence_features(view.completion)
        z = self.bias + self.w_mean * features["mean_logprob"] + self.w_min * features["min_logprob"]
        return Judgment(p_error=_sigmoid(z), features=features)


class TrainedJudgmentIntrospector:
    """A reflectively trained local model judges its own step: after the step it writes
    ``Check: right`` or ``Check: wrong``; p = P(wrong) / (P(right) + P(wrong)) of the next token.

    The judgment prompt extends the step prompt with the step just written, so an in-process model
    recomputes only the few tokens after its KV cache.
    """

    name = "trained"
    needs_logprobs = False

    def prepare(self, local: Model) -> None:
        pass

    def judge(self, view: StepView, local: Model) -> Judgment:
        messages = view.prompts.judgment_messages(view.question, view.trajectory, view.step_text)
        request = ProbeRequest(messages=messages, continue_final=True, candidates=[JUDGMENT_RIGHT, JUDGMENT_WRONG])
        reply = local.probe(request)
        right = reply.result.probs.get(JUDGMENT_RIGHT, 0.0)
        wrong = reply.result.probs.get(JUDGMENT_WRONG, 0.0)
        p = wrong / (right + wrong) if right + wrong > 0 else 0.5
        return Judgment(p_error=p, probe=reply, features={"p_right": right, "p_wrong": wrong})


class ProbeIntrospector:
    """A logistic-regression probe on the local model's hidden state right after the step (where a
    trained model would write its judgment), optionally with the step's confidence features."""

    name = "probe"

    def __init__(self, probe: ProbeModel, source: str | Path | None = None):
        self.probe = probe
        self.source = str(source) if source is not None else None
        self.needs_logprobs = probe.uses_confidence

    @classmethod
    def from_file(cls, path: str | Path) -> ProbeIntrospector:
        from adaswitch.learning.probe import ProbeModel

        return cls(ProbeModel.load(path), path)

    def prepare(self, local: Model) -> None:
        """Refuse a local model other than the one the probe was fitted for: a different file
        (SHA-256) or hidden size is an error; only a different name (no file to compare) warns."""
        from adaswitch.learning.probe import model_identity

        fitted = self.probe.model
        where = f"the probe {self.source}" if self.source else "the probe"
        if local.backend.hidden_size is None:
            raise ValueError(f"{where} reads hidden states, which the local model {local.name} cannot give")
        if local.backend.hidden_size != self.probe.hidden_size:
            raise ValueError(
                f"{where} reads {self.probe.hidden_size}-dimensional hidden states; the local model "
                f"{local.name} has {local.backend.hidden_size}"
            )
        if fitted is None:
            warnings.warn(f"{where} does not say which model it was fitted for", stacklevel=2)
            return
        current = model_identity(local, digest=fitted.sha256 is not None)
        if fitted.sha256 and current.sha256 and fitted.sha256 != current.sha256:
            raise ValueError(
                f"{where} was fitted for {fitted.name} (sha256 {fitted.sha256[:12]}...); the local model is "
                f"{current.name} (sha256 {current.sha256[:12]}...): fit a probe for this model"
            )
        if not (fitted.sha256 and current.sha256) and fitted.name != current.name:
            warnings.warn(f"{where} was fitted for {fitted.name}; the local model is {current.name}", stacklevel=2)

    def judge(self, view: StepView, local: Model) -> Judgment:
        from adaswitch.learning.probe import step_features

        completion = view.completion if self.probe.uses_confidence else None
        x, reply = step_features(
            local, view.prompts, view.question, view.trajectory, view.step_text, completion, self.probe.kinds
        )
        z = float(self.probe.decision(x))
        features = {"logit": z}
        if completion is not None:
            features.update(confidence_features(completion))
        return Judgment(p_error=_sigmoid(z), probe=reply, features=features)


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


def _probe_from(probe_path: str | Path | None) -> Introspector:
    if not probe_path:
        raise ValueError("introspection 'probe' needs a probe file (--probe PATH, fitted on labelled steps)")
    return ProbeIntrospector.from_file(probe_path)


INTROSPECTORS: dict[str, Callable[[str | Path | None], Introspector]] = {
    "verifier": lambda _: VerifierIntrospector(),
    "confidence": lambda _: ConfidenceIntrospector(),
    "trained": lambda _: TrainedJudgmentIntrospector(),
    "probe": _probe_from,
    "position": lambda _: PositionIntrospector(),
}
"""Signal name -> factory taking the probe path (only ``probe`` uses it)."""


def make_introspector(name: str, *, probe_path: str | Path | None = None) -> Introspector:
    """Build a signal by name; ``probe`` loads its probe from ``probe_path``."""
    try:
        factory = INTROSPECTORS[name]
    except KeyError:
        raise ValueError(f"unknown introspection {name!r}; expected one of {', '.join(INTROSPECTORS)}") from None
    return factory(probe_path)
