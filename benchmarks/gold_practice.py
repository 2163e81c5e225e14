"""Gold self-practice records for every training split, written with no model in the loop.

Converts GSM8K, MATH, StrategyQA and HotpotQA train (``adaswitch.learning.gold``) and writes
``OUT_DIR/gold-<split>.jsonl`` (supervised step records) and ``OUT_DIR/summary.json`` (per split:
questions, conversions, refusals by reason, steps by tool, records, seconds); ``--summary`` writes
the same summary to a second path too (the committed ``docs/results/gold_practice.json``).

Usage: python benchmarks/gold_practice.py OUT_DIR [--summary docs/results/gold_practice.json]
       [--limit N] [--examples]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any


def convert_split(split: str, out_dir: Path, limit: int | None, examples: bool) -> dict[str, Any]:
    """Write one split's records; return its counts with the seconds it took and the file's size."""
    from adaswitch.learning.gold import gold_records
    from adaswitch.learning.records import write_jsonl

    started = time.perf_counter()
    records, stats = gold_records(split, limit=limit, examples=examples)
    path = out_dir / f"gold-{split}.jsonl"
    write_jsonl(path, records)
    return {**stats, "seconds": round(time.perf_counter() - started, 1), "file": path.name,
            "file_mb": round(path.stat().st_size / 2**20, 1)}


def summary(out_dir: Path, limit: int | None, examples: bool) -> dict[str, Any]:
    from adaswitch.learning.gold import MAX_STEP_CHARS, SPLITS

    return {
        "description": "Gold trajectories from the training splits (adaswitch.learning.gold); "
                       "one record per step; refusals counted by the first rule that failed.",
        "prompt": "few-shot" if examples else "zero-shot",
        "max_step_chars": MAX_STEP_CHARS,
        "limit": limit,
        "splits": {split: convert_split(split, out_dir, limit, examples) for split in SPLITS},
    }


def main() -> None:
    from adaswitch.jsonfile import write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="directory for the record files and summary.json")
    parser.add_argument("--summary", type=Path, help="also write the summary here")
    parser.add_argument("--limit", type=int, help="convert only the first N questions of each split")
    parser.add_argument("--examples", action="store_true",
                        help="keep the few-shot examples in the records' system prompt")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    result = summary(args.out_dir, args.limit, args.examples)
    for path in filter(None, (args.out_dir / "summary.json", args.summary)):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, result)
    for split, counts in result["splits"].items():
        print(f"{split}: {counts['converted']}/{counts['total']} converted, {counts['records']} records, "
              f"{counts['seconds']} s")


if __name__ == "__main__":
    main()
