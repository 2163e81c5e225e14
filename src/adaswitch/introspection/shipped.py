"""Signal files fitted by this project for an embedded local model, shipped in the package.

``--introspection combined`` needs a fitted combiner and ``--cloud-budget`` a calibration
(``adaswitch calibrate``). For the embedded local model in the step formats where the project has
measured them (``docs/results/introspection.json``), the package carries both, so that a user of the
embedded pair can ask for a budget without fitting anything: ``adaswitch solve --step-format
paragraphs --introspection combined --cloud-budget 0.2 "..."``. Each was fitted on GSM8K train
questions (1000-1499 for the paragraph format; never on a test slice) with the model behind
llama.cpp's server; the files say so in their ``fitted_on`` and ``local_identity`` fields. A file of
one's own (``--probe``, ``--calibration``) always wins.

Layout: ``data/signals/MODEL/FORMAT/`` with ``combiner.json`` and one calibration per signal
(``combined.json``, ``position.json``); FORMAT is the step format, ``+code`` added when the engine
runs the python a paragraph writes (the model then writes other steps).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SIGNALS_PACKAGE = "adaswitch"
SIGNALS_FOLDER = ("data", "signals")


def embedded_name(spec: str) -> str:
    """The embedded model a backend spec names (``qwen2.5-coder-0.5b``, ``llama:NAME``,
    ``server:NAME``), else the spec itself (a path, a URL, an ``openai:`` model: nothing shipped)."""
    kind, _, target = spec.partition(":")
    return target if kind in ("llama", "server") and target else spec


def format_key(step_format: str, run_code: bool) -> str:
    """The folder name of a step format: ``paragraphs+code`` when the engine runs the code."""
    return f"{step_format}+code" if run_code and step_format == "paragraphs" else step_format


def shipped_file(local: str, step_format: str, run_code: bool, name: str) -> Path | None:
    """The shipped file ``name`` (``combiner.json``, ``combined.json``, ...) for the local model
    ``local`` (a backend spec) in that step format, or None where the project ships none."""
    folder = resources.files(SIGNALS_PACKAGE).joinpath(*SIGNALS_FOLDER, embedded_name(local), format_key(step_format, run_code))
    candidate = folder.joinpath(name)
    return Path(str(candidate)) if candidate.is_file() else None


def shipped_formats(local: str) -> list[str]:
    """The step formats (``format_key``) with shipped files for ``local``, for error messages."""
    folder = resources.files(SIGNALS_PACKAGE).joinpath(*SIGNALS_FOLDER, embedded_name(local))
    return sorted(entry.name for entry in folder.iterdir() if entry.is_dir()) if folder.is_dir() else []
