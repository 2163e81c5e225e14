"""The standard comparison on one benchmark slice: every method into its own run directory.

Local only, cloud only, AdaSwitch at each threshold, self-reflection, and random switching at the
switch rate each AdaSwitch run actually reached; on request (``cot``) the chain-of-thought baseline
on the solver's ``cot_model``. One solver (models loaded once) and one response
cache serve all runs, so identical local steps are paid for once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from adaswitch.benchmarks import Benchmark, Sample
from adaswitch.grading.records import RECORDS_FILE
from adaswitch.grading.rundir import read_records
from adaswitch.evaluation.runner import Method, ProgressFactory, RunOutcome, run_methods
from adaswitch.solver import Solver

ALL_METHODS = ("local", "cloud", "adaswitch", "self-reflection", "random")
KNOWN_METHODS = (*ALL_METHODS, "cot")
"""``cot`` (the chain-of-thought baseline) runs only when asked for."""


def cloud_step_share(run_dir: Path) -> float:
    """Share of committed steps the cloud wrote in a finished run."""
    traces = [record.trace for record in read_records(run_dir / RECORDS_FILE)]
    steps = sum(len(trace.steps) for trace in traces)
    return sum(trace.cloud_steps for trace in traces) / steps if steps else 0.0


def run_sweep(
    out_dir: Path,
    benchmark: Benchmark,
    samples: list[Sample],
    solver: Solver,
    thresholds: Sequence[float],
    methods: Sequence[str] = ALL_METHODS,
    reflection_threshold: float | None = None,
    split: str = "test",
    workers: int = 1,
    progress: ProgressFactory | None = None,
) -> list[RunOutcome]:
    unknown = set(methods) - set(KNOWN_METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; expected some of {', '.join(KNOWN_METHODS)}")
    first: list[tuple[Path, Method]] = []
    for name in ("local", "cloud"):
        if name in methods:
            first.append((out_dir / name, Method(name)))
    if "cot" in methods:
        role = solver.settings.cot_model
        first.append((out_dir / ("cot" if role == "local" else f"cot-{role}"), Method("cot", model=role)))
    adaswitch_dirs = []
    if "adaswitch" in methods:
        for tau in thresholds:
            adaswitch_dirs.append(out_dir / f"adaswitch@{tau:g}")
            first.append((adaswitch_dirs[-1], Method("adaswitch", threshold=tau)))
    if "self-reflection" in methods:
        tau = reflection_threshold if reflection_threshold is not None else sorted(thresholds)[len(thresholds) // 2]
        first.append((out_dir / f"self-reflection@{tau:g}", Method("self-reflection", threshold=tau)))
    # one pool for all of them (method by method), then random at the rates AdaSwitch reached
    outcomes = run_methods(first, benchmark, samples, solver, split, workers, progress)
    if "random" in methods:
        rates = sorted({round(cloud_step_share(d), 2) for d in adaswitch_dirs}) or [0.2]
        randoms = [(out_dir / f"random@{rate:g}", Method("random", switch_rate=rate)) for rate in rates]
        outcomes += run_methods(randoms, benchmark, samples, solver, split, workers, progress)
    return outcomes
