"""Fine-tuning speed and memory: bf16 autocast on and off, with and without activation checkpointing.

Each configuration trains the same LoRA steps on the same records in its own process (so that peak
memory is its own) and reports the median wall time of an optimiser step, the first step apart
(it carries one-off warm-up), and the peak resident memory. Writes
``benchmarks/results/finetune_speed.json``.

Usage: python benchmarks/finetune_speed.py RECORDS.jsonl [--base qwen2.5-coder-0.5b] [--n-records 40]
       [--steps 4] [--configs bf16-off,bf16-on,bf16-on-no-checkpointing]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CONFIGS = {
    "bf16-off": {"bf16": "off", "gradient_checkpointing": True},
    "bf16-on": {"bf16": "on", "gradient_checkpointing": True},
    "bf16-on-no-checkpointing": {"bf16": "on", "gradient_checkpointing": False},
}


def train_one(records: Path, base: str, n_records: int, steps: int, config: str, out: Path) -> dict:
    """Train ``steps`` LoRA steps in this process and return the figures."""
    from adaswitch.learning.finetune import FinetuneSettings, finetune
    from adaswitch.learning.records import read_records

    settings = FinetuneSettings(max_steps=steps, **CONFIGS[config])
    result = finetune(base, read_records(records)[:n_records], out, settings, progress=False, overwrite=True)
    after_first = result.step_seconds[1:] or result.step_seconds
    return {
        "config": config,
        "steps": result.steps,
        "step_seconds": [round(t, 2) for t in result.step_seconds],
        "median_step_seconds": round(statistics.median(after_first), 2),
        "peak_rss_mb": round(result.peak_rss_mb),
        "losses": [round(loss, 4) for loss in result.losses],
        "bf16": result.bf16,
    }


def main() -> None:
    from adaswitch.learning.finetune_settings import FinetuneSettings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=Path, help="SFT records (JSONL), e.g. an exam's records.jsonl")
    parser.add_argument("--base", default="qwen2.5-coder-0.5b")
    parser.add_argument("--n-records", type=int, default=40, help="train on the first N records")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/finetune_speed.json"))
    parser.add_argument("--one", help=argparse.SUPPRESS)  # run one configuration, print its figures
    args = parser.parse_args()

    if args.one:
        with tempfile.TemporaryDirectory() as tmp:
            figures = train_one(args.records, args.base, args.n_records, args.steps, args.one, Path(tmp))
        print(json.dumps(figures))
        return

    results = []
    for config in args.configs.split(","):
        if config not in CONFIGS:
            parser.error(f"unknown configuration {config!r}; choose from {', '.join(CONFIGS)}")
        command = [sys.executable, __file__, str(args.records), "--base", args.base, "--n-records", str(args.n_records),
                   "--steps", str(args.steps), "--one", config]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            results.append({"config": config, "error": done.stderr.strip().splitlines()[-1:]})
        else:
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    report = {
        "command": " ".join(["python", *sys.argv]),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs, no GPU",
        "base": args.base, "records": str(args.records), "n_records": args.n_records, "batch_size": FinetuneSettings().batch_size,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
