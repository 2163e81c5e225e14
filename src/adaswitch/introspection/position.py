"""A content-free baseline: the later the step, the likelier it is wrong."""

from __future__ import annotations

from dataclasses import dataclass

from adaswitch.introspection.base import Judgment, StepView
from adaswitch.model import Model


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
        return Judgment(p_error=self.p_at(view.index), features={"index": float(view.index)})

    def p_at(self, index: int) -> float:
        """The probability this baseline gives step ``index``."""
        steps_before = max(index - 1, 0)
        return steps_before / (steps_before + self.scale)
