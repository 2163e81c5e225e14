"""The standard comparison on the embedded pair: every method on fixed slices of the benchmarks.

Runs ``adaswitch sweep`` for each benchmark (local only, cloud only, AdaSwitch at each threshold,
self-reflection, random switching at AdaSwitch's switch rates, plus the cascade and oracle computed
from the local and cloud runs), then ``adaswitch report`` into ``docs/results/``, then the headline
(``headline.py``: every method with its interval, each AdaSwitch run paired with each method), and
records how it was made and how long it took in ``docs/results/run_info.json``. Resumable: rerun to
continue.

Usage: python benchmarks/standard_comparison.py [--limit 30] [--limits math500=10,2wiki=10]
       [--offsets gsm8k=200] [--benchmarks gsm8k,svamp,...] [--workers 8] [--step-format paragraphs]

With ``--workers N`` above 1 both models run behind llama.cpp servers (``server:MODEL``) that
decode N questions in one batch (``benchmarks/throughput.py`` measures the gain); the run
directories of an in-process comparison cannot be resumed that way (their model identity differs).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ALL = ("gsm8k", "svamp", "asdiv", "math500", "hotpotqa", "2wiki", "strategyqa")


def parse_limits(text: str) -> dict[str, int]:
    """``"math500=10,2wiki=12"`` -> ``{"math500": 10, "2wiki": 12}``."""
    limits = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit():
            raise SystemExit(f"--limits: expected NAME=N, got {item!r}")
        limits[name.strip()] = int(value)
    return limits


def sweep_manifest(runs: Path, benchmarks: list[str]) -> dict:
    """The headline manifest of the sweeps under ``runs``: per benchmark its local-only and cloud-only
    run and every other run as a switching run."""
    from adaswitch.grading.rundir import load_run

    manifest = {}
    for name in benchmarks:
        by_method: dict[str, list[str]] = {}
        for run in sorted(p for p in (runs / name).iterdir() if (p / "config.json").is_file()):
            by_method.setdefault(load_run(run)[0].method, []).append(str(run))
        if by_method.get("local") and by_method.get("cloud"):
            manifest[name] = {"local": by_method.pop("local")[0], "cloud": by_method.pop("cloud")[0],
                              "switching": [run for method in sorted(by_method) for run in by_method[method]]}
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=10, help="first N questions of each benchmark")
    parser.add_argument("--limits", default="",
                        help="per-benchmark overrides of --limit, e.g. math500=10,hotpotqa=10")
    parser.add_argument("--benchmarks", default=",".join(ALL))
    parser.add_argument("--thresholds", default="0.3,0.5,0.7")
    parser.add_argument("--runs", type=Path, default=Path("runs/standard"))
    parser.add_argument("--out", type=Path, default=Path("docs/results"))
    parser.add_argument("--note", default="", help="recorded in run_info.json (e.g. what the cache held)")
    parser.add_argument("--offsets", default="", help="per-benchmark first question, e.g. gsm8k=200")
    parser.add_argument("--workers", type=int, default=1,
                        help="above 1: both models behind llama.cpp servers, this many questions at once")
    parser.add_argument("--step-format", default="react", choices=("react", "paragraphs"))
    args = parser.parse_args()

    benchmarks = [b.strip() for b in args.benchmarks.split(",") if b.strip()]
    limits = {name: args.limit for name in benchmarks} | parse_limits(args.limits)
    offsets = parse_limits(args.offsets)
    served = args.workers > 1
    models = ["--local", "server:qwen2.5-coder-0.5b", "--cloud", "server:qwen2.5-coder-1.5b",
              "--workers", str(args.workers), "--server-slots", str(args.workers)] if served else []
    timings = {}
    for name in benchmarks:
        started = time.perf_counter()
        command = [sys.executable, "-m", "adaswitch.cli.__main__", "sweep", name, "--limit", str(limits[name]),
                   "--offset", str(offsets.get(name, 0)), "--out", str(args.runs / name),
                   "--thresholds", args.thresholds, "--step-format", args.step_format, "--no-progress", *models]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        timings[name] = round(time.perf_counter() - started, 1)
        print(f"{name}: {timings[name]} s", flush=True)
    run_dirs = sorted(str(p) for name in benchmarks for p in (args.runs / name).iterdir() if p.is_dir())
    subprocess.run([sys.executable, "-m", "adaswitch.cli.__main__", "report", *run_dirs, "--out", str(args.out)],
                   check=True, stdout=subprocess.DEVNULL)
    manifest = sweep_manifest(args.runs, benchmarks)
    manifest_path = args.runs / "headline_runs.json"
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    subprocess.run([sys.executable, str(Path(__file__).with_name("headline.py")), "--manifest", str(manifest_path),
                    "--out", str(args.out)], check=True, stdout=subprocess.DEVNULL)
    info = {
        "command": " ".join(["python", *sys.argv]),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} CPUs, no GPU",
        "local": "qwen2.5-coder-0.5b " + ("(llama.cpp server)" if served else "(in process)"),
        "cloud": "qwen2.5-coder-1.5b " + ("(llama.cpp server stand-in)" if served else "(in-process stand-in)"),
        "workers": args.workers,
        "step_format": args.step_format,
        "slice": "N questions of each benchmark's evaluation split from its offset (default 0)",
        "offsets": {name: offsets.get(name, 0) for name in benchmarks},
        "questions_per_benchmark": {name: limits[name] for name in benchmarks},
        "thresholds": args.thresholds,
        "seconds_per_benchmark": timings,
        "total_seconds": round(sum(timings.values()), 1),
    }
    if args.note:
        info["note"] = args.note
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "run_info.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
