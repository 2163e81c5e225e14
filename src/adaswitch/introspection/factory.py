"""Signals by name, as the CLI, the server and the solver ask for them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from adaswitch.introspection.base import Introspector
from adaswitch.introspection.combined import CombinedIntrospector, CombinerModel
from adaswitch.introspection.confidence import ConfidenceIntrospector
from adaswitch.introspection.consistency import ConsistencyIntrospector
from adaswitch.introspection.position import PositionIntrospector
from adaswitch.introspection.probe import ProbeIntrospector
from adaswitch.introspection.trained import TrainedJudgmentIntrospector
from adaswitch.introspection.verifier import VerifierIntrospector


def _probe_from(probe_path: str | Path | None) -> Introspector:
    if not probe_path:
        raise ValueError("introspection 'probe' needs a probe file (--probe PATH, fitted on labelled steps)")
    return ProbeIntrospector.from_file(probe_path)


def _combiner_from(path: str | Path | None) -> Introspector:
    if not path:
        raise ValueError("introspection 'combined' needs a combiner file (--probe PATH, fitted by "
                         "benchmarks/introspection.py)")
    combiner = CombinerModel.load(path)
    inner = None
    if combiner.inner is not None:
        if combiner.inner in FITTED_SIGNALS:
            raise ValueError(f"combiner file {path}: a fitted inner signal ({combiner.inner!r}) is not supported")
        inner = make_introspector(combiner.inner)
    return CombinedIntrospector(combiner, inner, str(path))


def _needs_gold(_: str | Path | None) -> Introspector:
    raise ValueError("introspection 'step-oracle' reads the gold answers of the evaluated samples: "
                     "only adaswitch eval and sweep can build it")


INTROSPECTORS: dict[str, Callable[[str | Path | None], Introspector]] = {
    "verifier": lambda _: VerifierIntrospector(),
    "confidence": lambda _: ConfidenceIntrospector(),
    "trained": lambda _: TrainedJudgmentIntrospector(),
    "probe": _probe_from,
    "position": lambda _: PositionIntrospector(),
    "consistency": lambda _: ConsistencyIntrospector(),
    "combined": _combiner_from,
    "step-oracle": _needs_gold,
}
"""Signal name -> factory taking the path of the signal's fitted file (``probe`` and ``combined``
use it: the probe, the combiner). ``step-oracle`` is built by the evaluation from its samples
(:class:`adaswitch.grading.step_oracle.StepOracle`); by name alone it is an error."""
FITTED_SIGNALS = ("probe", "combined")
"""Signals that read a fitted file (``--probe PATH``)."""


def make_introspector(name: str, *, probe_path: str | Path | None = None) -> Introspector:
    """Build a signal by name; ``probe`` and ``combined`` load their fitted file from ``probe_path``."""
    try:
        factory = INTROSPECTORS[name]
    except KeyError:
        raise ValueError(f"unknown introspection {name!r}; expected one of {', '.join(INTROSPECTORS)}") from None
    return factory(probe_path)
