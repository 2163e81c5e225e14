"""Which signal catches the local agent's first wrong step, and does switching on it pay.

Reads run directories (never runs a model), so every figure can be re-derived from the records:

- ``--fit RUN``: a run on a training or calibration slice in which every local proposal was judged
  (``--mode local --judge-steps`` with a log-probability signal, so every free feature is recorded).
  The combiner (:mod:`adaswitch.introspection.combined`) is fitted here on the proposals up to each
  trajectory's first error, forced ones left out, and written to ``--combiner-out``.
- ``--test RUN``: the same kind of run on the held-out slice. Every recorded feature, the run's own
  signal, the position baseline and the combiner are scored there: AUROC up to the first error (with
  a 95% interval resampling trajectories) and within wrong trajectories.
- ``--curve METHOD=RUN`` (repeatable): runs of switching methods (``adaswitch``, ``random``,
  ``position``, ...); each gives a point (cloud share of steps, accuracy). With ``--local RUN`` and
  ``--cloud RUN`` the query-level cascade is added on the same questions, and so is each ``adaswitch*``
  run with question-level escalation (``escalation``: about 10% and 20% of its questions escalated),
  and every curve's APGR is computed over the upper concave hull. Each method's first point is
  compared, paired by question, with every other method's point nearest in cloud share.

Writes ``--out`` (default ``docs/results/introspection.json``), keeping other benchmarks' entries:
``{BENCH: {"signals": {NAME: {"auroc_first", "auroc_within_wrong", "ci", ...}}, "curves": {METHOD:
[[share, accuracy], ...]}, "apgr": {METHOD: x}, ...}}``.

Usage: python benchmarks/introspection.py --benchmark gsm8k --fit RUN --test RUN
       [--curve adaswitch=RUN ...] [--local RUN --cloud RUN] [--combiner-out PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections import defaultdict
from dataclasses import replace
from typing import NamedTuple
from datetime import datetime, timezone
from pathlib import Path

from adaswitch.benchmarks import get_benchmark
from adaswitch.evaluation.headline import ESCALATED_SHARES
from adaswitch.grading.metrics import (
    auroc,
    cascade_points,
    curve_metrics,
    default_cascade_thresholds,
    default_escalation_thresholds,
    escalation_points,
    paired_difference,
    question_outcomes,
    summarize_run,
)
from adaswitch.grading.rundir import load_cloud_only_run, load_run
from adaswitch.grading.signals import feature_figures, labelled_rows, rescored_with
from adaswitch.introspection import fit_combiner

FEATURES = ("mean_logprob", "min_logprob", "action_mean_logprob", "action_min_logprob", "first_logprob",
            "first_entropy", "numbers_unsupported", "result_negative", "result_fractional", "result_known",
            "finish_unsupported", "question_numbers_unused", "finish_first", "is_finish", "position", "agreement",
            "equations", "arithmetic_wrong")
"""Every feature scored and offered to the combiner (those a run did not record are skipped)."""
L2_GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
"""Penalties tried for the combiner; the one with the best cross-validated AUROC on the fit run is kept."""


def signal_entry(figures: dict) -> dict:
    return {"auroc_first": _round(figures.get("auroc_first")),
            "auroc_within_wrong": _round(figures.get("auroc_within_wrong")),
            "ci": _round(figures.get("auroc_first_interval")),
            "ci_within_wrong": _round(figures.get("auroc_within_wrong_interval")),
            "n_first": figures.get("auroc_first_n"), "n_within_wrong": figures.get("auroc_within_wrong_n")}


def _round(value):
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [round(float(v), 4) for v in value]
    return round(float(value), 4)


def samples_of(benchmark: str, split: str) -> dict:
    return {s.id: s for s in get_benchmark(benchmark).load(split)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", help="the entry to write (default: the test run's benchmark); the fit run "
                        "may be of another benchmark (a combiner fitted on GSM8K train, tested on SVAMP: transfer)")
    parser.add_argument("--fit", type=Path, action="append", required=True,
                        help="judged local-only run the combiner is fitted on (repeatable: runs of one local "
                             "model on disjoint questions of one benchmark and split are pooled)")
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--curve", action="append", default=[], help="METHOD=RUN_DIR (repeatable)")
    parser.add_argument("--local", type=Path, help="local-only run of the test slice (cascade, curve endpoint)")
    parser.add_argument("--cloud", type=Path, help="cloud-only run of the test slice (cascade, curve endpoint); "
                        "a local-only run of the cloud model serves too")
    parser.add_argument("--combiner-out", type=Path, default=Path("runs/introspection/combiner.json"))
    parser.add_argument("--out", type=Path, default=Path("docs/results/introspection.json"))
    parser.add_argument("--within", default="",
                        help="write the entry under BENCH.NAME (e.g. a second step format's runs), "
                             "leaving the benchmark's own figures as they are")
    parser.add_argument("--keep", default="consistency,paragraphs", type=lambda t: set(filter(None, t.split(","))),
                        help="entries of the benchmark that the rewrite keeps (figures made by other runs)")
    parser.add_argument("--calibration-out", type=Path,
                        help="folder for calibration files of the combiner and the position baseline on the fit run")
    args = parser.parse_args()

    fit_config, fit_records = load_fit_runs(args.fit)
    test_config, test_records = load_run(args.test)
    args.benchmark = args.benchmark or test_config.benchmark
    fit_samples = samples_of(fit_config.benchmark, fit_config.split)
    test_samples = samples_of(test_config.benchmark, test_config.split)

    rows = [r for r in labelled_rows(fit_records, fit_samples) if not r.forced and r.before_first_error]
    wrong = [r.wrong for r in rows]
    fits = {}
    for l2 in L2_GRID:  # the penalty is chosen by the cross-validated AUROC on the fit slice alone
        combiner, held = fit_combiner(
            [r.features for r in rows], wrong, [r.question for r in rows], FEATURES, l2=l2,
            fitted_on={"run": _joined(args.fit), "benchmark": fit_config.benchmark, "split": fit_config.split, "local_model": fit_config.local_model,
                       "local_identity": fit_config.local_identity, "rows": "proposals up to the first error, unforced",
                       "l2": l2})
        fits[l2] = (auroc(held.tolist(), wrong) or 0.0, combiner)
    best = max(fits, key=lambda l2: fits[l2][0])
    combiner = replace(fits[best][1], fitted_on={
        **fits[best][1].fitted_on, "cross_validated_auroc": _round(fits[best][0]),
        "cross_validated_auroc_by_l2": {str(l2): _round(v) for l2, (v, _) in fits.items()}})
    combiner.save(args.combiner_out)
    if args.calibration_out:
        write_calibrations(args.calibration_out, fit_records, fit_config, combiner, args)

    signals: dict[str, dict] = {}
    own = summarize_run(test_config, test_records, test_samples)
    signals[test_config.introspection or "recorded"] = signal_entry(own.model_dump())
    for name in FEATURES:
        if any(name in s.features for r in test_records for s in r.trace.steps):
            signals[name] = signal_entry(feature_figures(test_records, name, test_samples))
    signals["combined"] = signal_entry(rescored_with(test_records, combiner.p_error, test_samples))

    entry: dict = {
        "n": len(test_records),
        "slice": f"{test_config.split} {test_config.sample_ids[0]} .. {test_config.sample_ids[-1]}" if test_config.sample_ids else "",
        "local_model": test_config.local_model,
        "step_format": test_config.solver.get("step_format", "react"),
        "run_code": bool(test_config.solver.get("run_code")),
        "signals": signals,
        "combiner": {"file": str(args.combiner_out), "names": list(combiner.names),
                     "weights": [round(w, 4) for w in combiner.weights], "fitted_on": combiner.fitted_on},
        "curves": {}, "apgr": {}, "paired": {}, "runs": {},
    }
    _curves(entry, args, test_samples)
    entry["generated"] = {"command": "python benchmarks/introspection.py " + " ".join(_argv()),
                          "machine": f"{platform.machine()}, {platform.system()}",
                          "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    out = json.loads(args.out.read_text()) if args.out.exists() else {}
    if args.within:
        out.setdefault(args.benchmark, {})[args.within] = entry
    else:
        out[args.benchmark] = kept_from(out.get(args.benchmark, {}), entry, args.keep)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in entry.items() if k != "combiner"}, indent=1))


def load_fit_runs(run_dirs: list[Path]) -> tuple:
    """The first run's configuration and every run's records: the runs must be of one benchmark, split
    and local model (the same identity) and share no question."""
    config, records = load_run(run_dirs[0])
    for run_dir in run_dirs[1:]:
        other, more = load_run(run_dir)
        if (other.benchmark, other.split, other.local_identity) != (config.benchmark, config.split, config.local_identity):
            raise SystemExit(f"{run_dir} is not of {config.benchmark} {config.split} with {config.local_identity}: "
                             "fit runs must share benchmark, split and local model")
        shared = {r.sample_id for r in records} & {r.sample_id for r in more}
        if shared:
            raise SystemExit(f"{run_dir} repeats {len(shared)} questions of the fit runs before it, e.g. {min(shared)}")
        records = records + more
    return config, records


def _joined(paths: list[Path]) -> str:
    return " + ".join(str(p) for p in paths)


def kept_from(old: dict, entry: dict, keep: set[str]) -> dict:
    """``entry``, with what ``old`` holds under the names in ``keep`` that this run did not make: a
    signal scored by another run (``consistency``), a second step format's figures (``paragraphs``)."""
    merged = dict(entry)
    for name in keep:
        if name in old.get("signals", {}) and name not in entry["signals"]:
            merged["signals"] = {**merged["signals"], name: old["signals"][name]}
        if name in old and name not in entry:
            merged[name] = old[name]
    return merged


def write_calibrations(folder: Path, records: list, config, combiner, args: argparse.Namespace) -> None:
    """Calibrations of ``combined`` and ``position`` from the fit run's judged proposals (forced ones
    at p = 1, as the engine forces them), so that --cloud-budget sets either signal's threshold."""
    from adaswitch.calibration import Calibration
    from adaswitch.introspection import PositionIntrospector
    from adaswitch.introspection.probe import file_sha256

    position = PositionIntrospector()
    combined_p, position_p = [], []
    for record in records:
        for step in record.trace.steps:
            for features, p_error in step.judged_local():
                forced = p_error >= 1.0
                combined_p.append(1.0 if forced else combiner.p_error(features))
                position_p.append(1.0 if forced else position.p_at(step.index))
    common = {"local_model": config.local_model, "local_identity": config.local_identity,
              "questions": len(records), "sources": [str(p) for p in args.fit]}
    Calibration(introspection="combined", signal_file_sha256=file_sha256(args.combiner_out),
                p_errors=sorted(combined_p), **common).save(folder / "combined.json")
    Calibration(introspection="position", p_errors=sorted(position_p), **common).save(folder / "position.json")


def _curves(entry: dict, args: argparse.Namespace, samples: dict) -> None:
    """Each run's point (cloud share of steps, accuracy), the cascade's points on the same questions,
    every curve's APGR (on the share of steps), and paired differences between methods: each run
    against the other runs' and the cascade's point nearest in cloud share of steps, and against
    the cascade's point nearest in cloud share of tokens."""
    points: dict[str, list[Point]] = defaultdict(list)
    cloud_identities = set()
    for spec in args.curve:
        method, _, run = spec.partition("=")
        config, records = load_run(Path(run))
        cloud_identities |= {config.cloud_identity} - {None}
        summary = summarize_run(config, records, samples)
        points[method].append(Point(summary.cloud_share_steps or 0.0, summary.cloud_share_tokens or 0.0,
                                    summary.accuracy or 0.0, question_outcomes(records)))
        entry["runs"][f"{method}@{summary.cloud_share_steps or 0.0:.2f}"] = {
            "run": str(run), "n": summary.n, "accuracy": _round(summary.accuracy),
            "cloud_share_steps": _round(summary.cloud_share_steps), "cloud_share_tokens": _round(summary.cloud_share_tokens),
            "threshold": summary.threshold, "switch_rate": _round(summary.switch_rate)}
    runs = list(points)
    if args.local and args.cloud:
        _, local_records = load_run(args.local)
        if len(cloud_identities) > 1:
            raise SystemExit(f"the curves ran different cloud models: {sorted(cloud_identities)}")
        cloud_config, cloud_records = load_cloud_only_run(args.cloud, next(iter(cloud_identities), None))
        if cloud_config.method == "local":
            entry["cloud_run"] = (f"{args.cloud}: a local-only run of {cloud_config.local_model}, the curves' "
                                  "cloud model, read as the cloud-only run (the same prompt; its steps counted as the cloud's)")
        local_acc = sum(r.score.correct for r in local_records) / len(local_records)
        cloud_acc = sum(r.score.correct for r in cloud_records) / len(cloud_records)
        entry["local_accuracy"], entry["cloud_accuracy"] = round(local_acc, 4), round(cloud_acc, 4)
        composed = {"cascade": cascade_points(local_records, cloud_records, default_cascade_thresholds(local_records))}
        for spec in args.curve:  # each AdaSwitch run with question-level escalation (adaswitch.escalation)
            method, _, run = spec.partition("=")
            if method.startswith("adaswitch"):
                records = load_run(Path(run))[1]
                thresholds = default_escalation_thresholds(records, shares=ESCALATED_SHARES)
                composed.setdefault("escalation", []).extend(escalation_points(records, cloud_records, thresholds))
        for method, summaries in composed.items():
            points[method] += [Point(s.cloud_share_steps or 0.0, s.cloud_share_tokens or 0.0, s.accuracy or 0.0,
                                     s.correct) for s in summaries]
        for method, pts in points.items():
            summary = curve_metrics([(p.steps, p.accuracy) for p in pts], local_acc, cloud_acc)
            entry["apgr"][method] = _round(summary.apgr)
        entry["curves_tokens"] = {m: [[round(p.tokens, 4), round(p.accuracy, 4)] for p in sorted(pts, key=lambda p: p.tokens)]
                                  for m, pts in points.items()}
    for method, pts in points.items():
        entry["curves"][method] = [[round(p.steps, 4), round(p.accuracy, 4)] for p in sorted(pts, key=lambda p: p.steps)]
    for method in runs:
        for mine in points[method]:
            for other, theirs in points.items():
                if other == method:
                    continue
                axes = ("steps", "tokens") if other == "cascade" else ("steps",)
                for axis in axes:
                    near = min(theirs, key=lambda p: abs(getattr(p, axis) - getattr(mine, axis)))
                    diff = paired_difference(mine.outcomes, near.outcomes, method, other)
                    if diff is not None:
                        key = f"{method}@{mine.steps:.2f} - {other}@{getattr(near, axis):.2f} ({axis})"
                        entry["paired"][key] = {"n": diff.n, "difference": round(diff.difference, 4),
                                                "interval": [round(v, 4) for v in diff.interval]}


class Point(NamedTuple):
    steps: float
    """Cloud share of steps."""
    tokens: float
    """Cloud share of tokens."""
    accuracy: float
    outcomes: dict
    """Sample id -> answered right."""


def _argv() -> list[str]:
    return sys.argv[1:]


if __name__ == "__main__":
    main()
