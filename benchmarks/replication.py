"""Scores a pre-registered replication (docs/DECISIONS.md, "How many questions a comparison needs"):
AdaSwitch against random switching at its rate on each slice and on the slices pooled, each
difference a paired bootstrap over the questions both runs answered.

Runs are given per slice as METHOD=RUN_DIR; the methods are ``adaswitch`` and ``random`` (the pair
compared), and optionally ``local`` and ``cloud`` (for the share of the local-to-cloud gap
recovered). Without ``--slice`` the runs a plan decided are read (``--plan gsm8k``, the default:
benchmarks/replication_runs_gsm8k.sh; ``--plan math500``: benchmarks/replication_runs_math500.sh);
a run not made yet is reported as missing and left out, so a stopped sitting can be scored. The
first slice of each plan is the one the lead was found on; the later slice alone is the test, the
pool an estimate.

Usage: python benchmarks/replication.py [--plan gsm8k|math500] [--slice NAME METHOD=DIR ...]... [--out FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from adaswitch.evaluation.headline import wilson_interval
from adaswitch.grading.metrics import paired_difference, question_outcomes
from adaswitch.grading.records import EvalRecord
from adaswitch.grading.rundir import load_run

DECIDED: dict[str, dict[str, dict[str, str]]] = {"gsm8k": {
    "test-200-399": {
        "adaswitch": "runs/intro-para/pooled/combined-b0.2",
        "random": "runs/replication-gsm8k/first-slice-random-b0.2",
        "local": "runs/intro-para/test-200",
        "cloud": "runs/intro-para/cloud-200",
    },
    "test-400-599": {
        "adaswitch": "runs/replication-gsm8k/combined-b0.2",
        "random": "runs/replication-gsm8k/random-b0.2",
        "local": "runs/replication-gsm8k/local",
        "cloud": "runs/replication-gsm8k/cloud",
    },
}, "math500": {
    "first-100": {
        "adaswitch": "runs/headline-math500/combined-own-b0.3",
        "random": "runs/headline-math500/random-own-b0.3",
        "local": "runs/headline-math500/local",
        "cloud": "runs/headline-math500/cloud",
    },
    "100-299": {
        "adaswitch": "runs/replication-math500/combined-own-b0.3",
        "random": "runs/replication-math500/random-own-b0.3",
        "local": "runs/replication-math500/local",
        "cloud": "runs/replication-math500/cloud",
    },
}}
METHODS = ("adaswitch", "random", "local", "cloud")


def cloud_step_share(records: list[EvalRecord]) -> float:
    steps = [s for r in records for s in r.trace.paid_steps]
    return sum(s.author == "cloud" for s in steps) / max(len(steps), 1)


def method_figures(records: list[EvalRecord]) -> dict:
    right = sum(r.score.correct for r in records)
    n = len(records)
    return {"n": n, "accuracy": right / n if n else None,
            "interval": list(wilson_interval(right, n)), "cloud_step_share": cloud_step_share(records)}


def gap_recovered(outcomes: dict[str, dict[str, bool]], method: str) -> tuple[float | None, int]:
    """The share of the local-to-cloud gap ``method`` recovers, on the questions it, the local and the
    cloud run all answered, and how many those are (None where the cloud is not ahead there)."""
    shared = [i for i in outcomes[method] if i in outcomes["local"] and i in outcomes["cloud"]]
    if not shared:
        return None, 0
    acc = {m: sum(outcomes[m][i] for i in shared) / len(shared) for m in (method, "local", "cloud")}
    gap = acc["cloud"] - acc["local"]
    return ((acc[method] - acc["local"]) / gap if gap > 0 else None), len(shared)


def comparison(runs: dict[str, list[EvalRecord]]) -> dict:
    """Every method's figures, AdaSwitch minus random (paired), and the gap recovered, on ``runs``."""
    out: dict = {"methods": {}, "missing": [m for m in METHODS if m not in runs]}
    outcomes = {m: question_outcomes(records) for m, records in runs.items()}
    for method, records in runs.items():
        out["methods"][method] = method_figures(records)
    if "adaswitch" in outcomes and "random" in outcomes:
        diff = paired_difference(outcomes["adaswitch"], outcomes["random"], "adaswitch", "random")
        if diff is not None:
            out["adaswitch_minus_random"] = {
                "n": diff.n, "difference": diff.difference, "interval": list(diff.interval),
                "gained": diff.gained, "lost": diff.lost, "excludes_zero": not diff.includes_zero,
                "questions_to_exclude_zero": diff.questions_to_exclude_zero if diff.includes_zero else None,
            }
    if all(m in outcomes for m in ("adaswitch", "local", "cloud")):
        # a stopped run leaves fewer shared questions: the gap is then measured on those alone
        out["gap_recovered"], out["gap_questions"] = gap_recovered(outcomes, "adaswitch")
        if "random" in outcomes:
            out["random_gap_recovered"], _ = gap_recovered(outcomes, "random")
    return out


def summary(method: str, figures: dict) -> str:
    """``adaswitch 0.355 (n 200, cloud 0.218)``; a stopped run says how many it was to answer."""
    planned = f" of {figures['planned']}" if "planned" in figures and not figures.get("complete") else ""
    return f"{method} {figures['accuracy']:.3f} (n {figures['n']}{planned}, cloud {figures['cloud_step_share']:.3f})"


def read_slice(spec: dict[str, str]) -> tuple[dict[str, list[EvalRecord]], dict[str, dict]]:
    """Each started run's records (a run with none is missing), and what its configuration says: the
    questions it is to answer (a stopped run has fewer records) and the machines that solved them."""
    runs, about = {}, {}
    for method, run_dir in spec.items():
        if method not in METHODS:
            raise SystemExit(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
        if (Path(run_dir) / "config.json").is_file():
            config, records = load_run(Path(run_dir))
            if records:
                runs[method] = records
                about[method] = {"planned": len(config.sample_ids), "machines": config.machines}
    return runs, about


def parse_slices(raw: list[list[str]] | None, plan: str) -> dict[str, dict[str, str]]:
    if not raw:
        return DECIDED[plan]
    slices = {}
    for name, *pairs in raw:
        bad = [p for p in pairs if "=" not in p]
        if bad:
            raise SystemExit(f"--slice {name}: expected METHOD=RUN_DIR, got {bad[0]!r}")
        slices[name] = dict(p.split("=", 1) for p in pairs)
    return slices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slice", nargs="+", action="append", metavar="NAME METHOD=DIR",
                        help="a slice's name and its runs; repeat for each slice")
    parser.add_argument("--plan", choices=sorted(DECIDED), default="gsm8k",
                        help="the decided runs to read when no --slice is given (default gsm8k)")
    parser.add_argument("--out", type=Path, help="default docs/results/replication-PLAN.json")
    args = parser.parse_args()
    slices = parse_slices(args.slice, args.plan)
    args.out = args.out or Path(f"docs/results/replication-{args.plan}.json")
    report: dict = {"plan": None if args.slice else args.plan, "slices": {}, "pooled": None}
    read, about = {}, {}
    for name, spec in slices.items():
        read[name], about[name] = read_slice(spec)
    for name, runs in read.items():
        report["slices"][name] = comparison(runs)
        for method, figures in report["slices"][name]["methods"].items():
            figures["run"] = slices[name][method]
            figures.update(about[name][method])
            figures["complete"] = figures["n"] == figures["planned"]
    common = [m for m in METHODS if all(m in runs for runs in read.values())]
    report["pooled"] = comparison({m: [r for runs in read.values() for r in runs[m]] for m in common})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for name, part in [*report["slices"].items(), ("pooled", report["pooled"])]:
        diff = part.get("adaswitch_minus_random")
        accs = ", ".join(summary(m, f) for m, f in part["methods"].items())
        print(f"{name}: {accs}")
        if diff:
            print(f"  adaswitch - random: {diff['difference']:+.3f} [{diff['interval'][0]:+.3f}, "
                  f"{diff['interval'][1]:+.3f}] over {diff['n']} (gained {diff['gained']}, lost {diff['lost']})")
        if part.get("gap_recovered") is not None:
            also = part.get("random_gap_recovered")
            random_part = f"; random switching {also:.2f}" if also is not None else ""
            print(f"  gap recovered: {part['gap_recovered']:.2f} (on the {part['gap_questions']} questions"
                  f" that AdaSwitch, local and cloud all answered){random_part}")
        if part["missing"]:
            print(f"  missing: {', '.join(part['missing'])}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
