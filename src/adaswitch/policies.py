"""Switching policies: given a local step's probability of error, keep it, hand it to the cloud, or redo it.

Escalation is a score and one comparison: ``p > threshold``. The policies differ only in what
they do with the score (or, for the random baseline, in ignoring it).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

Decision = Literal["keep", "cloud", "retry"]
MODES = ("local", "cloud", "adaswitch", "self-reflection", "random", "handoff")


@dataclass(frozen=True)
class Policy:
    mode: str
    threshold: float | None = None
    switch_rate: float = 0.0
    max_retries: int = 2
    cloud_steps: tuple[int, ...] = ()
    """Mode ``handoff``: the step indices the cloud writes, whatever the local agent proposes (a
    measurement of how well the local agent carries on after a cloud step)."""
    max_cloud_steps: int | None = None
    """A hard cap: once the cloud has written this many steps of a question, flagged steps stay local."""
    repair_back: int = 0
    """Mode ``adaswitch``: when the cloud takes over a step, it first writes its own version of up
    to this many local steps before it and rewrites the trajectory from the earliest one whose
    version does something else (0: the paper's takeover of the flagged step alone)."""

    @property
    def cloud_writes_everything(self) -> bool:
        return self.mode == "cloud"

    @property
    def needs_probability(self) -> bool:
        return self.mode in ("adaswitch", "self-reflection")

    @property
    def needs_cloud(self) -> bool:
        return self.mode in ("cloud", "adaswitch", "random", "handoff")

    def decide(self, p_error: float | None, rng: random.Random, index: int = 0, cloud_steps_so_far: int = 0) -> Decision:
        """What happens to the local proposal for step ``index``, after the cloud has written
        ``cloud_steps_so_far`` steps of the question (a switch past the cap keeps the step)."""
        decision = self._decide(p_error, rng, index)
        capped = self.max_cloud_steps is not None and cloud_steps_so_far >= self.max_cloud_steps
        return "keep" if decision == "cloud" and capped and self.mode != "handoff" else decision

    def _decide(self, p_error: float | None, rng: random.Random, index: int) -> Decision:
        if self.mode == "handoff":
            return "cloud" if index in self.cloud_steps else "keep"
        if self.mode == "random":
            return "cloud" if rng.random() < self.switch_rate else "keep"
        if self.mode in ("adaswitch", "self-reflection"):
            if p_error is None or self.threshold is None:
                raise ValueError(f"mode {self.mode!r} needs a probability of error and a threshold")
            if p_error > self.threshold:
                return "cloud" if self.mode == "adaswitch" else "retry"
        return "keep"


def make_policy(
    mode: str,
    threshold: float = 0.5,
    switch_rate: float = 0.2,
    max_retries: int = 2,
    cloud_steps: tuple[int, ...] = (1,),
    *,
    max_cloud_steps: int | None = None,
    repair_back: int = 0,
) -> Policy:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    if not 0.0 <= switch_rate <= 1.0:
        raise ValueError(f"switch rate must be in [0, 1], got {switch_rate}")
    if max_retries < 1:
        raise ValueError("self-reflection needs at least one retry")
    if max_cloud_steps is not None and max_cloud_steps < 0:
        raise ValueError(f"the cap on cloud steps must be 0 or more, got {max_cloud_steps}")
    if repair_back < 0:
        raise ValueError(f"the cloud reviews 0 or more steps back, got {repair_back}")
    if mode == "handoff" and (not cloud_steps or min(cloud_steps) < 1):
        raise ValueError("mode 'handoff' needs the cloud's step indices (1 or more)")
    uses_threshold = mode in ("adaswitch", "self-reflection")
    steps = tuple(sorted(set(cloud_steps))) if mode == "handoff" else ()
    return Policy(mode, threshold if uses_threshold else None, switch_rate, max_retries, steps, max_cloud_steps,
                  repair_back if mode == "adaswitch" else 0)
