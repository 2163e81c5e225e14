"""Introspection signals: each estimates the probability that a local step is wrong.

All signals share one interface, :class:`Introspector`. A step whose action could not be parsed,
whose tool call failed, or that repeats an earlier tool call exactly gets probability 1 before any
signal is asked (see :func:`forced_error`).

Training-free: ``verifier`` (ask the model), ``confidence`` (token log-probabilities),
``consistency`` (re-sample the step and compare what the samples do) and the ``position`` baseline.
Every judged step also carries its free features (:mod:`adaswitch.introspection.features`), which
``combined`` weighs with a fitted logistic regression. Learned: ``trained`` (a reflectively trained model's own
``Check: right|wrong`` judgment) and ``probe`` (a logistic regression on the model's hidden state
after the step, fitted by :mod:`adaswitch.learning.probe`). One module per signal; this package
sits below :mod:`adaswitch.learning`, which imports from it and never the reverse.
"""

from adaswitch.introspection.base import (
    Introspector,
    Judgment,
    StepView,
    face_failure,
    forced_error,
    share_of_first,
    trajectory_with_step,
)
from adaswitch.introspection.combined import CombinedIntrospector, CombinerModel, fit_combiner
from adaswitch.introspection.confidence import ConfidenceIntrospector, confidence_features, fit_confidence
from adaswitch.introspection.consistency import ConsistencyIntrospector
from adaswitch.introspection.factory import FITTED_SIGNALS, INTROSPECTORS, make_introspector
from adaswitch.introspection.position import PositionIntrospector
from adaswitch.introspection.probe import ProbeIntrospector
from adaswitch.introspection.trained import TrainedJudgmentIntrospector
from adaswitch.introspection.verifier import VerifierIntrospector

__all__ = [
    "FITTED_SIGNALS",
    "INTROSPECTORS",
    "CombinedIntrospector",
    "CombinerModel",
    "ConfidenceIntrospector",
    "ConsistencyIntrospector",
    "Introspector",
    "Judgment",
    "PositionIntrospector",
    "ProbeIntrospector",
    "StepView",
    "TrainedJudgmentIntrospector",
    "VerifierIntrospector",
    "confidence_features",
    "face_failure",
    "fit_combiner",
    "fit_confidence",
    "forced_error",
    "make_introspector",
    "share_of_first",
    "trajectory_with_step",
]
