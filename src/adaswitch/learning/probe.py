"""A hidden-state probe: logistic regression on the local model's state right after a step.

A step's features are the local model's final hidden state (after the output norm) at the last token
of :meth:`TaskPrompts.judgment_messages`, where a reflectively trained model would write its judgment,
optionally followed by the step's token-confidence features (mean and minimum log-probability).
A probe is fitted on the labelled steps of the collaborative examination, saved as one JSON file, and
read at inference by :class:`adaswitch.introspection.ProbeIntrospector`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from adaswitch.backends.base import Completion, CompletionRequest, HiddenStateRequest
from adaswitch.engine import read_step
from adaswitch.evaluation.metrics import auroc
from adaswitch.introspection import confidence_features
from adaswitch.learning.records import LabelledStep
from adaswitch.model import HiddenStateReply, Model
from adaswitch.parsing import parse_step
from adaswitch.prompts import TaskPrompts, prompts_for, step_stops

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

PROBE_VERSION = 1
FEATURE_KINDS = ("hidden", "confidence")
CONFIDENCE_NAMES = ("mean_logprob", "min_logprob")


# ---------------------------------------------------------------- the model a probe reads


@dataclass(frozen=True)
class ModelIdentity:
    """The local model a probe was fitted for."""

    name: str
    hidden_size: int | None = None
    file_size: int | None = None
    sha256: str | None = None
    """Of the weights file, when the backend runs one."""


def model_identity(local: Model, *, digest: bool = True) -> ModelIdentity:
    """Name, hidden size and (when the backend runs a file) the file's size and SHA-256."""
    backend = local.backend
    path = backend.model_file
    size = sha = None
    if path is not None and Path(path).is_file():
        size = Path(path).stat().st_size
        sha = file_sha256(path) if digest else None
    return ModelIdentity(name=local.name, hidden_size=backend.hidden_size, file_size=size, sha256=sha)


_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, remembered for the process while its size and mtime stay the same."""
    stat = os.stat(path)
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


# ---------------------------------------------------------------- the probe


@dataclass
class ProbeModel:
    """Logistic regression on standardised features: p = sigmoid(w . (x - mean) / std + bias)."""

    weights: np.ndarray
    bias: float
    mean: np.ndarray
    std: np.ndarray
    kinds: tuple[str, ...] = ("hidden",)
    model: ModelIdentity | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    """How it was fitted: sizes, AUROC on the training steps and held out, settings."""

    @property
    def n_features(self) -> int:
        return int(self.weights.shape[0])

    @property
    def uses_confidence(self) -> bool:
        return "confidence" in self.kinds

    @property
    def hidden_size(self) -> int:
        return self.n_features - (len(CONFIDENCE_NAMES) if self.uses_confidence else 0)

    def decision(self, x: np.ndarray) -> np.ndarray:
        """The logit for each row of ``x`` (or for one vector)."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape[-1] != self.n_features:
            raise ValueError(f"the probe takes {self.n_features} features, got {x.shape[-1]}")
        return ((x - self.mean) / self.std) @ self.weights + self.bias

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probability that each step is wrong."""
        return _sigmoid(self.decision(x))

    def to_json(self) -> dict[str, Any]:
        return {
            "version": PROBE_VERSION,
            "kinds": list(self.kinds),
            "model": asdict(self.model) if self.model else None,
            "bias": float(self.bias),
            "weights": [float(v) for v in self.weights],
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
            "figures": self.figures,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProbeModel:
        if data.get("version") != PROBE_VERSION:
            raise ValueError(f"probe format version {data.get('version')!r}; this adaswitch reads {PROBE_VERSION}")
        kinds = tuple(data["kinds"])
        if "hidden" not in kinds or set(kinds) - set(FEATURE_KINDS):
            raise ValueError(f"probe feature kinds {kinds!r}: expected 'hidden', optionally with 'confidence'")
        weights, mean, std = (np.asarray(data[k], dtype=np.float64) for k in ("weights", "mean", "std"))
        if not weights.shape == mean.shape == std.shape or weights.ndim != 1:
            raise ValueError("probe weights, mean and std must be vectors of one length")
        model = ModelIdentity(**data["model"]) if data.get("model") else None
        return cls(weights, float(data["bias"]), mean, std, kinds, model, dict(data.get("figures") or {}))

    def save(self, path: str | Path) -> Path:
        """Write the probe as one JSON file (atomically)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ProbeModel:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"probe file {path} does not exist") from None
        except json.JSONDecodeError as err:
            raise ValueError(f"probe file {path} is not JSON ({err.msg})") from None
        try:
            return cls.from_json(data)
        except (KeyError, TypeError) as err:
            raise ValueError(f"probe file {path} is not a probe ({err!r})") from None


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
    """Fit a logistic regression by Newton's method (deterministic).

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
    z = (x - mean) / std
    weight = np.ones(len(labels))
    if balance:
        weight[labels] = len(labels) / (2 * n_pos)
        weight[~labels] = len(labels) / (2 * (len(labels) - n_pos))
    basis = None
    if z.shape[1] > z.shape[0]:
        _, _, vt = np.linalg.svd(z, full_matrices=False)  # rows of vt span the steps
        basis = vt
        z = z @ vt.T
    theta, iterations = _newton(z, labels.astype(np.float64), weight, l2, max_iter, tol)
    weights = theta[:-1] if basis is None else basis.T @ theta[:-1]
    figures = {"n": len(labels), "n_wrong": n_pos, "l2": l2, "balance": balance, "iterations": iterations}
    return ProbeModel(weights=weights, bias=float(theta[-1]), mean=mean, std=std, figures=figures)


def _newton(z: np.ndarray, y: np.ndarray, c: np.ndarray, l2: float, max_iter: int, tol: float) -> tuple[np.ndarray, int]:
    n, d = z.shape
    a = np.hstack([z, np.ones((n, 1))])
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0

    def objective(theta: np.ndarray) -> float:
        m = a @ theta
        return float(np.sum(c * (np.logaddexp(0.0, m) - y * m)) + 0.5 * np.sum(penalty * theta**2))

    theta = np.zeros(d + 1)
    current = objective(theta)
    for iteration in range(1, max_iter + 1):
        p = _sigmoid(a @ theta)
        gradient = a.T @ (c * (p - y)) + penalty * theta
        curvature = c * p * (1.0 - p)
        hessian = (a * curvature[:, None]).T @ a + np.diag(penalty + 1e-10)
        step = np.linalg.solve(hessian, gradient)
        t = 1.0
        while True:  # halve the step until the objective does not rise
            candidate = theta - t * step
            value = objective(candidate)
            if value <= current or t < 1e-10:
                break
            t /= 2
        theta, previous, current = candidate, current, value
        if previous - current <= tol * max(1.0, abs(current)):
            return theta, iteration
    return theta, max_iter


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


def step_features(
    local: Model,
    prompts: TaskPrompts,
    question: str,
    trajectory: str,
    step_text: str,
    completion: Completion | None = None,
    kinds: Sequence[str] = ("hidden",),
) -> tuple[np.ndarray, HiddenStateReply]:
    """A step's feature vector (and the hidden-state call that read it).

    ``completion`` is the local model's generation of the step, with token log-probabilities; it is
    needed when ``kinds`` includes ``confidence``.
    """
    messages = prompts.judgment_messages(question, trajectory, step_text)
    reply = local.hidden_state(HiddenStateRequest(messages=messages, continue_final=True))
    parts = [np.asarray(reply.result.vector, dtype=np.float64)]
    if "confidence" in kinds:
        if completion is None:
            raise ValueError("confidence features need the step's completion")
        conf = confidence_features(completion)
        parts.append(np.array([conf[name] for name in CONFIDENCE_NAMES]))
    return np.concatenate(parts), reply


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


def _sigmoid(z: np.ndarray | float) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=np.float64)))
