"""How much per-step cross-validation flatters a hidden-state probe: the same labelled steps scored
with per-step folds, with folds that keep each question whole, and with grouped folds plus a nested
choice of the L2 strength (what ``fit_probe_on_steps`` reports as ``heldout_auroc``). Then, with the
nested grouped estimate: how it grows with the number of training questions (the first k questions),
and how it does on the cleanest label alone (final answers: ``finish`` steps, right or wrong).

Usage: python benchmarks/probe_validation.py LABELLED_STEPS.jsonl [--local qwen2.5-coder-0.5b]
       [--features FEATURES.npz] [--out OUT.json]
Writes ``benchmarks/results/probe_validation.json``. ``--features`` keeps the hidden states read from the
model (read once, reused when the file exists).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    import numpy as np

    from adaswitch.learning.probe import (
        auroc,
        cross_validate,
        fit_probe_on_features,
        probe_features,
    )
    from adaswitch.learning.records import read_labelled_steps
    from adaswitch.parsing import parse_step
    from adaswitch.solver import Solver, SolverSettings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("steps", type=Path)
    parser.add_argument("--local", default="qwen2.5-coder-0.5b")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/probe_validation.json"))
    parser.add_argument("--features", type=Path, default=None, help="cache of the hidden states (.npz)")
    args = parser.parse_args()

    steps = [s for s in read_labelled_steps(args.steps) if parse_step(s.step_text, s.family).action is not None]
    started = time.perf_counter()
    if args.features is not None and args.features.exists():
        x = np.load(args.features)["x"]
        if len(x) != len(steps):
            raise SystemExit(f"{args.features} holds {len(x)} rows for {len(steps)} steps: delete it to reread")
    else:
        with Solver(SolverSettings(local=args.local, cloud=None, mode="local")) as solver:
            x = np.vstack([probe_features(solver.local, s) for s in steps])
        if args.features is not None:
            np.savez_compressed(args.features, x=x)
    feature_seconds = round(time.perf_counter() - started, 1)
    y = np.array([s.wrong for s in steps])
    groups = [s.sample_id for s in steps]
    questions = list(dict.fromkeys(groups))
    by_size = {}
    for k in sorted({min(n, len(questions)) for n in (16, 33, 66, len(questions))}):
        keep = np.isin(groups, questions[:k])
        by_size[k] = _nested(x[keep], y[keep], [g for g, m in zip(groups, keep) if m])
    finish = np.array([parse_step(s.step_text, s.family).action.tool == "finish" for s in steps])
    figures = {
        "steps": str(args.steps), "local": args.local, "n": len(y), "wrong": int(y.sum()),
        "questions": len(set(groups)), "feature_seconds": feature_seconds,
        "per_step_folds_auroc_l2_10": auroc(cross_validate(x, y, l2=10.0).tolist(), y.tolist()),
        "grouped_folds_auroc_l2_10": auroc(cross_validate(x, y, l2=10.0, groups=groups).tolist(), y.tolist()),
        "nested_grouped": fit_probe_on_features(x, y, groups).figures,
        "nested_grouped_by_training_questions": by_size,
        "finish_steps_only": _nested(x[finish], y[finish], [g for g, m in zip(groups, finish) if m]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(figures, indent=2))


def _nested(x, y, groups) -> dict:
    """Steps, wrong steps, questions and the nested grouped held-out AUROC of a probe fitted on them."""
    from adaswitch.learning.probe import fit_probe_on_features

    figures = fit_probe_on_features(x, y, groups).figures
    return {"n": len(y), "wrong": int(y.sum()), "questions": len(set(groups)),
            "heldout_auroc": figures["heldout_auroc"], "l2": figures["l2"]}


if __name__ == "__main__":
    main()
