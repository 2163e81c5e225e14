"""A learned combiner of cheap features for any frozen local model (``--introspection combined``).

A logistic regression over the free features of a step (:mod:`adaswitch.introspection.features`:
token confidence, structural oddities, position) and, optionally, the features of one inner signal
that costs model calls (``consistency``'s agreement, ``verifier``'s yes/no mass). It is fitted on
labelled local proposals of a calibration or training slice (:func:`fit_combiner`, with folds that
keep each question whole, so its cross-validated predictions are honest), stored as one JSON file,
and applied to any backend that gives the features it reads. The model never changes; only the
file does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from adaswitch.introspection.base import Introspector, Judgment, StepView
from adaswitch.introspection.features import step_features
from adaswitch.jsonfile import load_json, save_json
from adaswitch.logistic import fit_logistic, sigmoid
from adaswitch.model import Model

COMBINER_VERSION = 1
LOGPROB_FEATURES = frozenset({"mean_logprob", "min_logprob", "action_mean_logprob", "action_min_logprob",
                              "first_logprob", "first_entropy"})


@dataclass(frozen=True)
class CombinerModel:
    """Standardise each named feature (a missing one counts as its training mean), weigh, add the
    bias, and take the sigmoid."""

    names: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    std: tuple[float, ...]
    inner: str | None = None
    """The signal whose features it also reads (its calls are paid at every step), or None."""
    fitted_on: dict = field(default_factory=dict)
    """Where it was fitted: local model, slice, step counts, the cross-validated AUROC."""

    def p_error(self, features: dict[str, float]) -> float:
        z = self.bias
        for name, w, m, s in zip(self.names, self.weights, self.mean, self.std, strict=True):
            value = features.get(name)
            if value is not None and math.isfinite(value):
                z += w * (value - m) / s
        return float(sigmoid(z))

    def to_json(self) -> dict:
        return {"version": COMBINER_VERSION, "names": list(self.names), "weights": list(self.weights),
                "bias": self.bias, "mean": list(self.mean), "std": list(self.std), "inner": self.inner,
                "fitted_on": self.fitted_on}

    def save(self, path: str | Path) -> Path:
        return save_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> CombinerModel:
        data = load_json(path, "combiner file")
        if not isinstance(data, dict) or data.get("version") != COMBINER_VERSION:
            raise ValueError(f"{path} is not a combiner file of version {COMBINER_VERSION}")
        try:
            names = tuple(str(n) for n in data["names"])
            columns = [tuple(float(v) for v in data[key]) for key in ("weights", "mean", "std")]
            bias = float(data["bias"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"combiner file {path} is malformed: {error}") from None
        if any(len(c) != len(names) for c in columns) or any(s <= 0 for s in columns[2]):
            raise ValueError(f"combiner file {path} is malformed: its columns disagree")
        return cls(names, columns[0], bias, columns[1], columns[2], data.get("inner"), data.get("fitted_on") or {})


@dataclass
class CombinedIntrospector:
    combiner: CombinerModel
    inner: Introspector | None = None
    source: str | None = None
    name: str = "combined"

    @property
    def needs_logprobs(self) -> bool:
        return bool(LOGPROB_FEATURES & set(self.combiner.names)) or bool(self.inner and self.inner.needs_logprobs)

    def prepare(self, local: Model) -> None:
        if self.inner is not None:
            self.inner.prepare(local)

    def judge(self, view: StepView, local: Model) -> Judgment:
        features = dict(view.features or step_features(view))
        judgment = Judgment(p_error=0.0)
        if self.inner is not None:
            judgment = self.inner.judge(view, local)
            features.update(judgment.features)
            features[f"{self.inner.name}_p"] = judgment.p_error
        judgment.features = features
        judgment.p_error = self.combiner.p_error(features)
        return judgment


def fit_combiner(
    rows: Sequence[dict[str, float]],
    wrong: Sequence[bool],
    groups: Sequence[str],
    names: Sequence[str],
    *,
    inner: str | None = None,
    folds: int = 5,
    l2: float = 1.0,
    fitted_on: dict | None = None,
) -> tuple[CombinerModel, np.ndarray]:
    """Fit the combiner on labelled proposals and return it with its out-of-fold predictions.

    ``groups`` names each row's question: the folds keep a question's steps together, so each
    cross-validated prediction comes from a fit that saw none of its question. A feature missing
    from a row counts as the column's mean (it weighs nothing)."""
    if not (len(rows) == len(wrong) == len(groups)) or not rows:
        raise ValueError("need as many labels and groups as feature rows, and at least one")
    labels = np.asarray(wrong, dtype=bool)
    if labels.all() or not labels.any():
        raise ValueError("need both wrong and right steps to fit a combiner")
    names = [n for n in names if any(n in r for r in rows)]
    if not names:
        raise ValueError("none of the asked features appears in the rows")
    x = np.array([[r.get(n, math.nan) for n in names] for r in rows], dtype=np.float64)
    keys = sorted(set(groups))
    fold_of = {g: i % folds for i, g in enumerate(keys)}
    fold = np.array([fold_of[g] for g in groups])
    held = np.full(len(rows), np.nan)
    for k in range(min(folds, len(keys))):
        train, test = fold != k, fold == k
        if labels[train].all() or not labels[train].any():
            held[test] = labels[train].mean()
            continue
        model = _fit(x[train], labels[train], names, l2)
        held[test] = [model.p_error(dict(zip(names, row, strict=True))) for row in x[test]]
    model = _fit(x, labels, names, l2)
    record = dict(fitted_on or {}, steps=int(len(rows)), wrong=int(labels.sum()), questions=len(keys), folds=folds)
    return CombinerModel(model.names, model.weights, model.bias, model.mean, model.std, inner, record), held


def _fit(x: np.ndarray, labels: np.ndarray, names: Sequence[str], l2: float) -> CombinerModel:
    mean = np.nanmean(x, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    filled = np.where(np.isfinite(x), x, mean)
    std = filled.std(axis=0)
    std[~(std > 1e-12)] = 1.0
    weights, bias, _ = fit_logistic((filled - mean) / std, labels, l2=l2)
    return CombinerModel(tuple(names), tuple(float(w) for w in weights), float(bias),
                         tuple(float(m) for m in mean), tuple(float(s) for s in std))
