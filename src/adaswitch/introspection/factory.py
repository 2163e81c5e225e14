"""Signals by name, as the CLI, the server and the solver ask for them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from adaswitch.introspection.base import Introspector
from adaswitch.introspection.confidence import ConfidenceIntrospector
from adaswitch.introspection.position import PositionIntrospector
from adaswitch.introspection.probe import ProbeIntrospector
from adaswitch.introspection.trained import TrainedJudgmentIntrospector
from adaswitch.introspection.verifier import VerifierIntrospector


def _probe_from(probe_path: str | Path | None) -> Introspector:
    if not probe_path:
        raise ValueError("introspection 'probe' needs a probe file (--probe PATH, fitted on labelled steps)")
    return ProbeIntrospector.from_file(probe_path)


INTROSPECTORS: dict[str, Callable[[str | Path | None], Introspector]] = {
    "verifier": lambda _: VerifierIntrospector(),
    "confidence": lambda _: ConfidenceIntrospector(),
    "trained": lambda _: TrainedJudgmentIntrospector(),
    "probe": _probe_from,
    "position": lambda _: PositionIntrospector(),
}
"""Signal name -> factory taking the probe path (only ``probe`` uses it)."""


def make_introspector(name: str, *, probe_path: str | Path | None = None) -> Introspector:
    """Build a signal by name; ``probe`` loads its probe from ``probe_path``."""
    try:
        factory = INTROSPECTORS[name]
    except KeyError:
        raise ValueError(f"unknown introspection {name!r}; expected one of {', '.join(INTROSPECTORS)}") from None
    return factory(probe_path)
