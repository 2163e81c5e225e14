"""The hidden-state probe at inference: the probe file, the features it reads, and the signal.

A step's features are the local model's final hidden state (after the output norm) at the last token
of :meth:`TaskPrompts.judgment_messages`, where a reflectively trained model would write its judgment,
optionally followed by the step's token-confidence features (mean and minimum log-probability).
Probes are fitted by :mod:`adaswitch.learning.probe`; this module only reads and applies them.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adaswitch.digest import sha256_of_file
from adaswitch.backends.base import Completion, HiddenStateRequest
from adaswitch.introspection.base import Judgment, StepView
from adaswitch.introspection.confidence import confidence_features
from adaswitch.jsonfile import load_json, save_json
from adaswitch.logistic import sigmoid
from adaswitch.model import HiddenStateReply, Model
from adaswitch.prompts import TaskPrompts

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
        _DIGESTS[key] = sha256_of_file(path)
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
        return sigmoid(self.decision(x))

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
        return save_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> ProbeModel:
        data = load_json(path, "probe file")
        try:
            return cls.from_json(data)
        except (KeyError, TypeError) as err:
            raise ValueError(f"probe file {path} is not a probe ({err!r})") from None


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


# ---------------------------------------------------------------- the signal


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
        return cls(ProbeModel.load(path), path)

    def prepare(self, local: Model) -> None:
        """Refuse a local model other than the one the probe was fitted for: a different file
        (SHA-256) or hidden size is an error; only a different name (no file to compare) warns."""
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
        completion = view.completion if self.probe.uses_confidence else None
        x, reply = step_features(
            local, view.prompts, view.question, view.trajectory, view.step_text, completion, self.probe.kinds
        )
        z = float(self.probe.decision(x))
        features = {"logit": z}
        if completion is not None:
            features.update(confidence_features(completion))
        return Judgment(p_error=float(sigmoid(z)), probe=reply, features=features)
