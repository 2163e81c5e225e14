"""The training-free confidence signal: the step's own token log-probabilities."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from adaswitch.backends.base import Completion, TokenLogprob
from adaswitch.introspection.base import Judgment, StepView
from adaswitch.logistic import fit_logistic, sigmoid
from adaswitch.model import Model


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
        return Judgment(p_error=float(sigmoid(z)), features=features)


def confidence_features(completion: Completion) -> dict[str, float]:
    tokens = [t for t in completion.logprobs or [] if math.isfinite(t.logprob)]
    if not tokens:
        return {"mean_logprob": -10.0, "min_logprob": -10.0}
    return logprob_summary(tokens)


def logprob_summary(tokens: Sequence[TokenLogprob], prefix: str = "") -> dict[str, float]:
    """``{prefix}mean_logprob`` and ``{prefix}min_logprob`` of some tokens (at least one)."""
    values = [t.logprob for t in tokens]
    return {f"{prefix}mean_logprob": sum(values) / len(values), f"{prefix}min_logprob": min(values)}


def fit_confidence(features: list[dict[str, float]], wrong: list[bool], *, l2: float = 1.0) -> ConfidenceIntrospector:
    """Fit the confidence weights by L2-penalised logistic regression on labelled steps (the
    fitter of :mod:`adaswitch.logistic`, on standardised features; ``l2`` as there)."""
    if len(features) != len(wrong) or not features:
        raise ValueError("need as many labels as feature rows, and at least one")
    labels = np.asarray(wrong, dtype=bool)
    if labels.all() or not labels.any():
        raise ValueError("need both wrong and right steps to fit the confidence weights")
    x = np.array([[f["mean_logprob"], f["min_logprob"]] for f in features], dtype=np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[~(std > 1e-12)] = 1.0
    weights, bias, _ = fit_logistic((x - mean) / std, labels, l2=l2)
    raw = weights / std  # back to the features as read
    return ConfidenceIntrospector(bias=float(bias - raw @ mean), w_mean=float(raw[0]), w_min=float(raw[1]))
