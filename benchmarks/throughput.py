"""Questions per hour of ``adaswitch sweep``: in-process models against llama.cpp servers that batch.

Runs the same sweep command (same benchmark slice, methods, thresholds and settings) twice: the
baseline with the embedded models in process (one question at a time), the parallel side with the
same model files behind managed ``llama-server`` processes (``server:MODEL``, ``--workers`` questions
in flight, as many slots per server). Each side has its own run directory and response cache, both
empty at the start, so neither reuses the other's answers.

A sitting can be killed at any time: rerunning the command resumes each side's sweep, and each
sitting's wall time and the records it added are kept in ``<out>/<side>/sittings.json``; questions
per hour are the records added over the seconds spent, divided by the methods run. The result file
also gives each method's accuracy on both sides with a paired bootstrap interval of the difference
(same questions): they must agree up to the rounding of batched arithmetic.

    python benchmarks/throughput.py --limit 50 --out runs/throughput
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from adaswitch.grading.metrics import paired_difference, question_outcomes
from adaswitch.grading.records import RECORDS_FILE
from adaswitch.grading.rundir import read_records
from adaswitch.jsonfile import write_atomic

SIDES = ("baseline", "parallel")
DEFAULT_RESULT = Path(__file__).resolve().parent / "results" / "throughput.json"


def sweep_command(side: str, args: argparse.Namespace, out: Path) -> list[str]:
    """The ``adaswitch sweep`` command line of one side."""
    local, cloud = args.local, args.cloud
    if side == "parallel":
        local, cloud = f"server:{local}", f"server:{cloud}"
    return [
        sys.executable, "-m", "adaswitch.cli", "sweep", args.benchmark, "--out", str(out / side / "sweep"),
        "--split", args.split, "--offset", str(args.offset), "--limit", str(args.limit),
        "--methods", args.methods, "--thresholds", args.thresholds, "--step-format", args.step_format,
        "--local", local, "--cloud", cloud, "--cache", str(out / side / "responses.sqlite"),
        "--workers", str(args.workers if side == "parallel" else 1), "--server-slots", str(args.workers),
        "--no-progress",
    ]


def count_records(sweep_dir: Path) -> int:
    return sum(len(read_records(p)) for p in sweep_dir.glob(f"*/{RECORDS_FILE}"))


def run_side(side: str, args: argparse.Namespace, out: Path) -> None:
    """One sitting of one side: run (or resume) its sweep, record the time and records added."""
    log_path = out / side / "sittings.json"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sittings = json.loads(log_path.read_text()) if log_path.exists() else []
    sweep_dir = out / side / "sweep"
    before = count_records(sweep_dir)
    start = time.monotonic()
    with (out / side / "sweep.log").open("a") as log:
        done = subprocess.run(sweep_command(side, args, out), stdout=log, stderr=subprocess.STDOUT, check=False)
    seconds = time.monotonic() - start
    added = count_records(sweep_dir) - before
    sittings.append({"seconds": round(seconds, 1), "records_added": added, "exit_code": done.returncode})
    write_atomic(log_path, json.dumps(sittings, indent=2) + "\n")
    print(f"{side}: {added} records in {seconds:.0f} s (exit {done.returncode})", flush=True)
    if done.returncode != 0:
        raise SystemExit(f"{side} sweep failed; see {out / side / 'sweep.log'}")


def side_summary(side: str, out: Path) -> dict:
    sittings = json.loads((out / side / "sittings.json").read_text())
    seconds = sum(s["seconds"] for s in sittings)
    added = sum(s["records_added"] for s in sittings)
    runs = {p.parent.name: question_outcomes(read_records(p)) for p in sorted((out / side / "sweep").glob(f"*/{RECORDS_FILE}"))}
    methods = max(len(runs), 1)
    return {"seconds": round(seconds, 1), "records": added, "methods": sorted(runs), "sittings": len(sittings),
            "qph": round(added / methods / (seconds / 3600), 2) if seconds else None, "runs": runs}


def model_work(side: str, out: Path) -> dict:
    """Tokens each agent generated and prompt tokens it had to compute (not served from its KV cache),
    over the calls that reached a model (response-cache hits excluded): where the time went."""
    work: dict[str, int] = {}
    for path in sorted((out / side / "sweep").glob(f"*/{RECORDS_FILE}")):
        for record in read_records(path):
            for step in record.trace.steps:
                for call in step.calls:
                    if call.cached:
                        work["cached_calls"] = work.get("cached_calls", 0) + 1
                        continue
                    for key, value in ((f"{call.agent}_calls", 1),
                                       (f"{call.agent}_generated_tokens", call.completion_tokens),
                                       (f"{call.agent}_computed_prompt_tokens", call.recomputed_prompt_tokens)):
                        work[key] = work.get(key, 0) + value
    return work


def summarise(args: argparse.Namespace, out: Path) -> dict:
    base, par = side_summary("baseline", out), side_summary("parallel", out)
    methods = {}
    for name in sorted(set(base["runs"]) | set(par["runs"])):
        a, b = base["runs"].get(name, {}), par["runs"].get(name, {})
        entry = {"baseline_accuracy": _accuracy(a), "parallel_accuracy": _accuracy(b),
                 "baseline_n": len(a), "parallel_n": len(b)}
        diff = paired_difference(b, a) if a and b else None
        if diff is not None:
            entry["paired"] = {"n": diff.n, "difference": round(diff.difference, 3),
                               "interval": [round(x, 3) for x in diff.interval]}
        methods[name] = entry
    ratio = par["qph"] / base["qph"] if base["qph"] and par["qph"] else None
    return {
        "command": "python benchmarks/throughput.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs, no GPU",
        "benchmark": args.benchmark, "split": args.split, "slice": [args.offset, args.offset + args.limit],
        "step_format": args.step_format, "methods_run": args.methods, "thresholds": args.thresholds,
        "local": args.local, "cloud": args.cloud, "workers": args.workers,
        "baseline_qph": base["qph"], "parallel_qph": par["qph"], "ratio": round(ratio, 2) if ratio else None,
        "baseline_seconds": base["seconds"], "parallel_seconds": par["seconds"],
        "baseline_records": base["records"], "parallel_records": par["records"],
        "baseline_work": model_work("baseline", out), "parallel_work": model_work("parallel", out),
        "methods": methods,
    }


def _accuracy(outcomes: dict[str, bool]) -> float | None:
    return round(sum(outcomes.values()) / len(outcomes), 3) if outcomes else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", default="gsm8k")
    parser.add_argument("--split", default="test")
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--methods", default="local,cloud,adaswitch,self-reflection,random")
    parser.add_argument("--thresholds", default="0.3,0.5,0.7")
    parser.add_argument("--step-format", default="react", choices=("react", "paragraphs"))
    parser.add_argument("--local", default="qwen2.5-coder-0.5b")
    parser.add_argument("--cloud", default="qwen2.5-coder-1.5b")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--sides", default=",".join(SIDES), help="Which sides to run in this sitting.")
    parser.add_argument("--out", type=Path, default=Path("runs/throughput"))
    parser.add_argument("--result", type=Path, default=DEFAULT_RESULT)
    parser.add_argument("--no-run", action="store_true", help="Only summarise what the sides have recorded.")
    args = parser.parse_args(argv)
    if not args.no_run:
        for side in [s.strip() for s in args.sides.split(",") if s.strip()]:
            if side not in SIDES:
                parser.error(f"unknown side {side!r}; expected {', '.join(SIDES)}")
            run_side(side, args, args.out)
    if all((args.out / side / "sittings.json").exists() for side in SIDES):
        result = summarise(args, args.out)
        args.result.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(args.result, json.dumps(result, indent=2) + "\n")
        print(json.dumps({k: result[k] for k in ("baseline_qph", "parallel_qph", "ratio")}))


if __name__ == "__main__":
    main()
