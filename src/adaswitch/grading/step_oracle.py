"""A step signal that reads the gold answer: the ceiling of step-level switching, for evaluation only.

``--introspection step-oracle`` (``adaswitch eval`` and ``sweep`` only) gives each local proposal the
verdict of the rules that label steps for the metrics (:mod:`adaswitch.grading.rules`, a proposal
judged on its own merits): p = 1 when a rule calls it wrong (a ``finish`` with a wrong answer, a
calculation or a paragraph's result that is none of the gold values, a search that brings no new
gold paragraph), p = 0 when a rule calls it right, and p = 0.5 when no rule covers it (a paragraph
that writes no result, a question without gold values). At a threshold above 0.5 the cloud takes
exactly the steps the rules call wrong: a signal with AUROC 1 against the labels every other
signal is scored on. What AdaSwitch reaches with it bounds what any signal can reach with the same
hand-off and the same cloud, so it tells a signal's limit from the hand-off's.

It is built from the evaluated samples (question text -> sample) and never by name alone: a
deployment has no gold answers, so ``solve`` and ``serve`` refuse it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from adaswitch.benchmarks.base import Sample
from adaswitch.grading.rules import Verdict, action_verdict, benchmark_judge, retrieved_titles
from adaswitch.introspection.base import Judgment, StepView
from adaswitch.model import Model

NAME = "step-oracle"
_OBSERVATION_LABEL = re.compile(r"(?m)^Observation \d+:[ \t]*")
"""The label before an observation's first line in a rendered trajectory."""
P_ERROR: dict[Verdict, float] = {"wrong": 1.0, "right": 0.0, "unknown": 0.5}
"""The probability of error the oracle gives each verdict."""


@dataclass
class StepOracle:
    """The rules' verdict on each local proposal as its probability of error (see the module)."""

    references: Mapping[str, Sample | None]
    """Question text -> its sample; None where two samples share a question with different answers."""
    name: str = NAME
    needs_logprobs: bool = False

    @classmethod
    def for_samples(cls, samples: Iterable[Sample]) -> "StepOracle":
        references: dict[str, Sample | None] = {}
        for sample in samples:
            known = references.get(sample.question, sample)
            same = known is not None and known.answer == sample.answer
            references[sample.question] = sample if same else None
        return cls(references)

    def prepare(self, local: Model) -> None:
        pass

    def judge(self, view: StepView, local: Model) -> Judgment:
        if view.question not in self.references:
            raise ValueError(f"{NAME}: a question that is not among the evaluated samples; "
                             "the step oracle reads gold answers and works only in adaswitch eval or sweep")
        sample = self.references[view.question]
        verdict, rule = proposal_verdict(view, sample) if sample is not None else ("unknown", "ambiguous-question")
        return Judgment(p_error=P_ERROR[verdict], features={"oracle_wrong": float(verdict == "wrong")})


def proposal_verdict(view: StepView, sample: Sample) -> tuple[Verdict, str]:
    """A proposal that passed the engine's face checks, judged against the sample's gold by the rules
    that judge a replaced proposal (:func:`adaswitch.grading.rules.action_verdict`); the gold titles
    already seen are read from the rendered trajectory."""
    seen = retrieved_titles(_OBSERVATION_LABEL.sub("", view.trajectory), sample.gold_titles)
    observation = view.result.text if view.result is not None else ""
    return action_verdict(view.parsed.action, observation, seen, sample, benchmark_judge(sample), view.step_text)
