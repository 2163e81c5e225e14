"""An OpenAI-compatible HTTP server over a :class:`~adaswitch.solver.Solver` (the ``server`` extra).

``create_app(settings, solver=None)`` builds the FastAPI app; ``ServerThread`` runs it in the
background. The model name picks the mode (see :mod:`adaswitch.server.names`). FastAPI and
uvicorn are imported only when these names are first used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from adaswitch.server.settings import ServerSettings

_LAZY = {
    "create_app": "adaswitch.server.app",
    "ServerThread": "adaswitch.server.runner",
    "serve_forever": "adaswitch.server.runner",
}

__all__ = ["ServerSettings", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'adaswitch.server' has no attribute {name!r}")
    return getattr(import_module(module), name)
