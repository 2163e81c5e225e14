"""Does the local agent know when its own answer is wrong? Each free feature of its answer steps, scored.

For multi-hop QA and yes/no questions in the paragraph format the rules can call nothing but a
wrong answer wrong, so a signal's AUROC up to the first error mostly says which step is the answer.
This asks what is left: among the local agent's answers (the judged, unforced ``finish`` proposals
of a run judged with a log-probability signal, ``--mode local --judge-steps``), how well each
feature ranks the wrong ones above the right ones (:func:`adaswitch.grading.signals.answer_figures`;
95% interval resampling questions). Read the runs of a slice whose answers may be read (a training
or calibration slice), never to choose anything on a test slice. Never runs a model.

Usage: python benchmarks/answer_signals.py RUN [RUN ...] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from adaswitch.grading.rundir import load_run
from adaswitch.grading.signals import answer_figures

FEATURES = ("mean_logprob", "min_logprob", "first_logprob", "first_entropy")


def run_figures(run: Path, features: tuple[str, ...] = FEATURES) -> dict:
    """Each feature's figures on the answers of one run, with the run's benchmark and accuracy."""
    config, records = load_run(run)
    return {"benchmark": config.benchmark, "questions": len(records),
            "accuracy": round(sum(r.score.correct for r in records) / max(len(records), 1), 4),
            "features": {name: answer_figures(records, name) for name in features}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, help='also write the figures here (JSON: {"runs": {RUN: ...}})')
    args = parser.parse_args()
    document = {str(run): run_figures(run) for run in args.runs}
    for run, entry in document.items():
        print(f"{run} ({entry['benchmark']}, {entry['questions']} questions, accuracy {entry['accuracy']:.3f})")
        for name, f in entry["features"].items():
            auroc = "n/a" if f["auroc"] is None else f"{f['auroc']:.3f}"
            ci = "" if f["ci"] is None else f" [{f['ci'][0]:.2f}, {f['ci'][1]:.2f}]"
            print(f"  {name:14s} AUROC among answers {auroc}{ci}  ({f['wrong']} wrong of {f['n']})")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        generated = {"command": "python benchmarks/answer_signals.py " + " ".join(sys.argv[1:]),
                     "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        args.out.write_text(json.dumps({"runs": document, "generated": generated}, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
