"""adaswitch: a small local LLM and a large cloud LLM solving multi-step tasks together.

The local agent writes the reasoning steps; before committing each one it estimates the probability
that the step is wrong, and when that probability is above a threshold the cloud agent writes that
step instead (AdaSwitch, Sun et al., EMNLP 2024). Public names are imported lazily so that
``import adaswitch`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "solve": "adaswitch.solver",
    "Solver": "adaswitch.solver",
    "SolverSettings": "adaswitch.solver",
    "EndpointSettings": "adaswitch.solver",
    "Collaboration": "adaswitch.engine",
    "EngineSettings": "adaswitch.engine",
    "Trace": "adaswitch.trace",
    "Document": "adaswitch.documents",
    "Model": "adaswitch.model",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'adaswitch' has no attribute {name!r}")
    return getattr(import_module(module), name)
