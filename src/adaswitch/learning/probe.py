"""Fitting the hidden-state probe: logistic regression on the local model's state right after a step.

A probe is fitted on the labelled steps of the collaborative examination, saved as one JSON file, and
read at inference by :class:`adaswitch.introspection.ProbeIntrospector`; the file format, the
features and the model identity live with it in :mod:`adaswitch.introspection.probe`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

import numpy as np

from adaswitch.backends.base import CompletionRequest
from adaswitch.engine import read_step
from adaswitch.grading.metrics import auroc
from adaswitch.introspection.probe import (
    FEATURE_KINDS,
    ModelIdentity,
    ProbeModel,
    file_sha256,
    model_identity,
    step_features,
)
from adaswitch.learning.records import LabelledStep
from adaswitch.logistic import fit_logistic
from adaswitch.model import Model
from adaswitch.parsing import parse_step
from adaswitch.prompts import prompts_for, step_stops

__all__ = [
    "FEATURE_KINDS",
    "ModelIdentity",
    "ProbeModel",
    "auroc",
    "cross_validate",
    "file_sha256",
    "fit_probe",
    "fit_probe_on_features",
    "fit_probe_on_steps",
    "fold_assignment",
    "model_identity",
    "probe_features",
    "select_l2",
    "step_features",
]


# ---------------------------------------------------------------- fitting


L2_GRID = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)
"""Regularisation strengths tried when ``fit_probe_on_steps`` chooses one by cross-validation."""


def fit_probe(
    x: np.ndarray,
    y: Sequence[bool] | np.ndarray,
    *,
    l2: float = 10.0,
    balance: bool = False,
    max_iter: int = 100,
    tol: float = 1e-9,
) -> ProbeModel:
    """Fit a logistic regression by Newton's method (deterministic; see :func:`adaswitch.logistic.fit_logistic`).

    Features are standardised with the training mean and standard deviation. The objective is the
    summed log-loss plus ``l2 / 2 * |w|^2`` (the bias is not penalised); ``l2`` must be positive,
    which keeps the fit finite on separable data. With ``balance`` each class weighs half of the
    loss, so the probabilities are those of a balanced prior (for ranking and thresholds only).
    With more features than steps (896 hidden dimensions, a few hundred steps) the fit runs in the
    span of the steps, which gives the same weights: an L2-penalised solution lies in that span.
    """
    x = np.asarray(x, dtype=np.float64)
    labels = np.asarray(y, dtype=bool)
    if x.ndim != 2 or x.shape[0] != labels.shape[0]:
        raise ValueError(f"need a 2-d feature matrix with one row per label, got {x.shape} and {labels.shape}")
    n_pos = int(labels.sum())
    if n_pos == 0 or n_pos == len(labels):
        raise ValueError("need both wrong and right steps to fit a probe")
    if not l2 > 0:
        raise ValueError("l2 must be positive")
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[~(std > 1e-12)] = 1.0
    weight = np.ones(len(labels))
    if balance:
        weight[labels] = len(labels) / (2 * n_pos)
        weight[~labels] = len(labels) / (2 * (len(labels) - n_pos))
    weights, bias, iterations = fit_logistic(
        (x - mean) / std, labels, l2=l2, weight=weight, max_iter=max_iter, tol=tol
    )
    figures = {"n": len(labels), "n_wrong": n_pos, "l2": l2, "balance": balance, "iterations": iterations}
    return ProbeModel(weights=weights, bias=bias, mean=mean, std=std, figures=figures)


def fold_assignment(
    labels: np.ndarray, groups: Sequence[str] | None, folds: int, seed: int = 0
) -> np.ndarray | None:
    """The fold of each step for k-fold cross-validation; None when a class is too rare to split.

    Without ``groups`` the split is stratified by label. With ``groups`` (the question each step
    belongs to) all steps of a question fall in one fold, so no fold is tested on a question it was
    trained on; groups are dealt in a seeded order to the fold with the fewest wrong steps so far,
    then the fewest steps, which keeps the classes spread over the folds.
    """
    labels = np.asarray(labels, dtype=bool)
    rng = np.random.default_rng(seed)
    if groups is None:
        k = min(folds, int(labels.sum()), int((~labels).sum()))
        if k < 2:
            return None
        fold = np.empty(len(labels), dtype=int)
        for cls in (True, False):
            members = np.flatnonzero(labels == cls)
            fold[rng.permutation(members)] = np.arange(len(members)) % k
        return fold
    group_ids = np.asarray(list(groups))
    if group_ids.shape != labels.shape:
        raise ValueError("need one group per step")
    names = sorted(set(group_ids.tolist()))
    with_wrong = sum(1 for g in names if labels[group_ids == g].any())
    with_right = sum(1 for g in names if (~labels[group_ids == g]).any())
    k = min(folds, with_wrong, with_right)
    if k < 2:
        return None
    wrong_in, size_in = np.zeros(k, dtype=int), np.zeros(k, dtype=int)
    fold = np.empty(len(labels), dtype=int)
    order = [names[i] for i in rng.permutation(len(names))]
    order.sort(key=lambda g: -int(labels[group_ids == g].sum()))  # stable: seeded order within ties
    for g in order:
        members = group_ids == g
        target = min(range(k), key=lambda f: (wrong_in[f], size_in[f], f))
        fold[members] = target
        wrong_in[target] += int(labels[members].sum())
        size_in[target] += int(members.sum())
    return fold


def cross_validate(
    x: np.ndarray,
    y: Sequence[bool] | np.ndarray,
    *,
    l2: float | None = 10.0,
    balance: bool = False,
    folds: int = 5,
    seed: int = 0,
    groups: Sequence[str] | None = None,
) -> np.ndarray | None:
    """Out-of-fold probabilities from a seeded k-fold split (see :func:`fold_assignment`); None
    when a class is too rare to split. ``l2`` None chooses the strength with :func:`select_l2`
    inside each training part (nested). A fold whose training part holds one class only gets the
    training share of wrong steps as its probability."""
    x = np.asarray(x, dtype=np.float64)
    labels = np.asarray(y, dtype=bool)
    fold = fold_assignment(labels, groups, folds, seed)
    if fold is None:
        return None
    scores = np.empty(len(labels))
    for i in range(int(fold.max()) + 1):
        held = fold == i
        train = labels[~held]
        if train.all() or not train.any():
            scores[held] = float(train.mean())
            continue
        strength = l2
        if strength is None:
            train_groups = None if groups is None else [g for g, h in zip(groups, held) if not h]
            strength = select_l2(x[~held], train, balance=balance, folds=folds, seed=seed, groups=train_groups)[0]
        scores[held] = fit_probe(x[~held], train, l2=strength, balance=balance).predict(x[held])
    return scores


def select_l2(
    x: np.ndarray,
    y: Sequence[bool] | np.ndarray,
    *,
    grid: Sequence[float] = L2_GRID,
    balance: bool = False,
    folds: int = 5,
    seed: int = 0,
    groups: Sequence[str] | None = None,
) -> tuple[float, dict[float, float | None]]:
    """The strength in ``grid`` with the best cross-validated AUROC (the strongest among ties), and
    the AUROC of each; the first of ``grid`` when none can be cross-validated."""
    labels = np.asarray(y, dtype=bool)
    scores: dict[float, float | None] = {}
    for l2 in grid:
        held_out = cross_validate(x, labels, l2=l2, balance=balance, folds=folds, seed=seed, groups=groups)
        scores[float(l2)] = auroc(held_out.tolist(), labels.tolist()) if held_out is not None else None
    rated = [(value, l2) for l2, value in scores.items() if value is not None]
    if not rated:
        return float(grid[0]), scores
    best = max(value for value, _ in rated)
    return max(l2 for value, l2 in rated if value >= best - 1e-12), scores


# ---------------------------------------------------------------- features


def probe_features(
    local: Model, step: LabelledStep, kinds: Sequence[str] = ("hidden",), *, max_step_tokens: int = 160
) -> np.ndarray | None:
    """The feature vector of a labelled step.

    Confidence features are read from the local model's greedy generation of the step from the same
    prefix (as the engine writes steps); None when that generation is not the recorded step (the
    step was sampled, or written by another model), so it has no confidence features to learn from.
    """
    prompts = prompts_for(step.family)
    completion = None
    if "confidence" in kinds:
        request = CompletionRequest(
            messages=prompts.step_messages(step.question, step.trajectory, step.index),
            continue_final=True,
            max_tokens=max_step_tokens,
            temperature=0.0,
            stop=step_stops(step.index),
            logprobs=True,
        )
        completion = local.complete(request).completion
        _, _, text = read_step(completion.text, step.index, step.family)
        if text.strip() != step.step_text.strip():
            return None
    vector, _ = step_features(local, prompts, step.question, step.trajectory, step.step_text, completion, kinds)
    return vector


def fit_probe_on_steps(
    local: Model,
    steps: Sequence[LabelledStep],
    *,
    kinds: Sequence[str] = ("hidden",),
    l2: float | None = None,
    balance: bool = False,
    folds: int = 5,
    seed: int = 0,
    progress: bool = True,
) -> ProbeModel:
    """Read the features of labelled steps with ``local`` and fit a probe on them.

    Steps whose action does not parse are left out: at inference they get p = 1 before any signal
    is asked. Cross-validation keeps all steps of a question in one fold. ``l2`` None chooses the
    strength from :data:`L2_GRID` by cross-validated AUROC. ``figures`` reports the training AUROC
    and ``heldout_auroc``, the AUROC of out-of-fold predictions in which the strength was chosen
    again inside each training part (nested), so the choice does not flatter it.
    """
    from tqdm import tqdm

    kinds = tuple(kinds)
    if "hidden" not in kinds or set(kinds) - set(FEATURE_KINDS):
        raise ValueError(f"feature kinds {kinds!r}: expected 'hidden', optionally with 'confidence'")
    rows, labels, groups = [], [], []
    skipped = {"unparsed": 0, "not_reproduced": 0}
    for step in tqdm(steps, desc="probe features", unit="step", disable=not progress):
        if parse_step(step.step_text, step.family).action is None:
            skipped["unparsed"] += 1
            continue
        vector = probe_features(local, step, kinds)
        if vector is None:
            skipped["not_reproduced"] += 1
            continue
        rows.append(vector)
        labels.append(step.wrong)
        groups.append(step.sample_id)
    if not rows:
        raise ValueError(f"no usable steps to fit a probe on (skipped: {skipped})")
    x, y = np.vstack(rows), np.array(labels, dtype=bool)
    probe = fit_probe_on_features(x, y, groups, l2=l2, balance=balance, folds=folds, seed=seed)
    probe.kinds = kinds
    probe.model = model_identity(local)
    probe.figures.update(skipped=skipped, fitted_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return probe


def fit_probe_on_features(
    x: np.ndarray,
    y: np.ndarray,
    groups: Sequence[str],
    *,
    l2: float | None = None,
    balance: bool = False,
    folds: int = 5,
    seed: int = 0,
) -> ProbeModel:
    """Fit on all steps, with the strength chosen by grouped cross-validation when ``l2`` is None,
    and estimate held-out AUROC by grouped (and, when choosing, nested) cross-validation."""
    y = np.asarray(y, dtype=bool)
    groups = list(groups)
    scores: dict[float, float | None] = {}
    chosen = l2
    if chosen is None:
        chosen, scores = select_l2(x, y, balance=balance, folds=folds, seed=seed, groups=groups)
    probe = fit_probe(x, y, l2=chosen, balance=balance)
    held_out = cross_validate(x, y, l2=l2, balance=balance, folds=folds, seed=seed, groups=groups)
    outer = fold_assignment(y, groups, folds, seed)
    probe.figures.update(
        train_auroc=auroc(probe.predict(x).tolist(), y.tolist()),
        heldout_auroc=auroc(held_out.tolist(), y.tolist()) if held_out is not None else None,
        heldout="grouped by question" + (", nested choice of l2" if l2 is None else ""),
        folds=int(outer.max()) + 1 if outer is not None else 0,
        questions=len(set(groups)),
        l2_cv_auroc={str(k): v for k, v in scores.items()} if scores else None,
        seed=seed,
    )
    return probe
