"""Every recorded feature scored as a signal, offline, from run records.

A run in which every local proposal was judged (``--mode local --judge-steps``: the local agent
alone, each step judged) records the signal's features and the free features of every
proposal (``StepRecord.features``). This module reads them back: the labelled proposals as rows for
fitting a combiner (:func:`labelled_rows`), and each feature's AUROC figures scored by exactly the
rules of the run summary (:func:`feature_figures`: forced steps apart, up to the first error, within
wrong trajectories, the position baseline on the same steps).

A feature is read in the direction fixed here, never chosen on the data it is scored on: lower
log-probability, lower agreement and higher entropy mean "more likely wrong"; every flag and count
means "wrong" when high.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from adaswitch.benchmarks.base import Sample
from adaswitch.grading.metrics import auroc, auroc_interval, introspection_figures, run_labels
from adaswitch.grading.records import EvalRecord
from adaswitch.grading.rules import FORCED_RULES, StepLabel

LOWER_IS_WORSE = frozenset({"mean_logprob", "min_logprob", "action_mean_logprob", "action_min_logprob",
                            "first_logprob", "agreement", "p_yes"})
"""Features whose low values point to an error (their score is the negated value)."""


@dataclass(frozen=True)
class LabelledRow:
    """One judged local proposal: its features, the rules' verdict, and where it stands."""

    question: str
    position: int
    features: dict[str, float]
    wrong: bool
    forced: bool
    before_first_error: bool
    """True up to and including the trajectory's first wrong proposal."""


def labelled_rows(records: Sequence[EvalRecord], samples: Mapping[str, Sample] | None = None) -> list[LabelledRow]:
    """The judged local proposals of ``records`` whose verdict is known, in trajectory order."""
    rows: list[LabelledRow] = []
    for record in records:
        labels = run_labels(record, samples)
        seen_wrong = False
        for step in labels:
            for features, p_error, verdict, rule in _proposals(step):
                if verdict == "unknown" or p_error is None:
                    continue
                rows.append(LabelledRow(record.sample_id, step.index, features, verdict == "wrong", _forced(p_error, rule),
                                        not seen_wrong))
                seen_wrong = seen_wrong or verdict == "wrong"
    return rows


def _proposals(step: StepLabel) -> list[tuple[dict[str, float], float | None, str, str]]:
    """The local proposals judged at one position, as local_judgments counts them."""
    out = [(p.features, p.p_error, p.label, p.rule) for p in step.replaced if p.author == "local"]
    if step.author == "local" and not step.switched:
        out.append((step.features, step.p_error, step.label, step.rule))
    return out


def feature_score(name: str, features: Mapping[str, float]) -> float | None:
    """The feature as a score in (0, 1) that rises with the risk of error (None when absent); the
    map is monotone, so every AUROC is the feature's own."""
    value = features.get(name)
    if value is None or not math.isfinite(value):
        return None
    oriented = -value if name in LOWER_IS_WORSE else value
    return 0.5 + math.atan(oriented) / math.pi


def feature_figures(records: Sequence[EvalRecord], name: str,
                    samples: Mapping[str, Sample] | None = None) -> dict:
    """The AUROC figures of feature ``name`` on ``records`` (those of :func:`introspection_figures`).

    A proposal without the feature scores the median of those with it (a tie, not a guess)."""
    labels = [run_labels(record, samples) for record in records]
    present = sorted(v for steps in labels for step in steps for features, p, _, rule in _proposals(step)
                     if not _forced(p, rule) and (v := feature_score(name, features)) is not None)
    fill = present[len(present) // 2] if present else 0.5

    def p_of(features: Mapping[str, float]) -> float:
        value = feature_score(name, features)
        return fill if value is None else value

    return _figures(records, labels, p_of)


def answer_figures(records: Sequence[EvalRecord], name: str,
                   samples: Mapping[str, Sample] | None = None) -> dict:
    """Does feature ``name`` of the local agent's own answer step know when the answer is wrong?

    The AUROC, over the judged, unforced local ``finish`` proposals whose answer the rules score
    (right or wrong), of the feature against a wrong answer, with a 95% interval resampling
    questions. Where the rules can call nothing but the answer wrong (multi-hop QA and yes/no
    questions in paragraphs), every wrong step up to the first error is an answer, so the AUROC up
    to the first error mostly says which step is the answer; this figure asks what is left: among
    the answers, which are wrong."""
    groups: list[list[tuple[float, bool]]] = []
    for record in records:
        pairs = [(value, label == "wrong")
                 for step in run_labels(record, samples) for features, p, label, rule in _proposals(step)
                 if features.get("is_finish") == 1.0 and label != "unknown" and not _forced(p, rule)
                 and (value := feature_score(name, features)) is not None]
        if pairs:
            groups.append(pairs)
    flat = [pair for group in groups for pair in group]
    return {"auroc": auroc([s for s, _ in flat], [w for _, w in flat]) if flat else None,
            "ci": auroc_interval(groups) if flat else None,
            "n": len(flat), "wrong": sum(w for _, w in flat), "questions": len(groups)}


def rescored_with(records: Sequence[EvalRecord], p_of: Callable[[Mapping[str, float]], float],
                  samples: Mapping[str, Sample] | None = None) -> dict:
    """The AUROC figures when each judged, unforced proposal's probability is ``p_of(features)``
    (a combiner applied offline to recorded features). Forced proposals keep their forced
    probability, so they stay out of every figure but ``auroc``."""
    return _figures(records, [run_labels(record, samples) for record in records], p_of)


def _figures(records: Sequence[EvalRecord], labels: Sequence[Sequence[StepLabel]],
             p_of: Callable[[Mapping[str, float]], float]) -> dict:
    def score(features: dict[str, float], p_error: float | None, rule: str) -> float | None:
        if p_error is None or _forced(p_error, rule):
            return p_error
        return min(max(float(p_of(features)), 0.0), 1.0 - 1e-9)

    rescored = [[step.model_copy(update={
        "p_error": score(step.features, step.p_error, step.rule),
        "replaced": [p.model_copy(update={"p_error": score(p.features, p.p_error, p.rule)}) for p in step.replaced],
    }) for step in steps] for steps in labels]
    return introspection_figures(rescored, [r.score.correct for r in records])


def _forced(p_error: float | None, rule: str) -> bool:
    return p_error is not None and p_error >= 1.0 and rule in FORCED_RULES
