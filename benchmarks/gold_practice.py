"""Gold self-practice records for every training split, written with no model in the loop.

Converts GSM8K, MATH, StrategyQA and HotpotQA train (``adaswitch.learning.gold``) and writes
``OUT_DIR/gold-<split>.jsonl`` (supervised step records) and ``OUT_DIR/summary.json`` (per split:
questions, conversions, refusals by reason, steps by tool, records, seconds); ``--summary`` writes
the same summary to a second path too (the committed ``docs/results/gold_practice.json``).
``--tokenizer MODEL.gguf`` counts each step's tokens with that model's vocabulary (loaded alone, no
weights run) instead of estimating them from characters.

Usage: python benchmarks/gold_practice.py OUT_DIR [--summary docs/results/gold_practice.json]
       [--tokenizer MODEL.gguf] [--limit N] [--examples]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def gguf_token_counter(path: Path) -> Callable[[str], int]:
    """Count tokens with the vocabulary of a GGUF model (llama.cpp loads the vocabulary only)."""
    import llama_cpp

    vocabulary = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    return lambda text: len(vocabulary.tokenize(text.encode("utf-8"), add_bos=False, special=False))


def convert_split(split: str, out_dir: Path, limit: int | None, examples: bool,
                  count_tokens: Callable[[str], int] | None) -> dict[str, Any]:
    """Write one split's records; return its counts with the seconds it took and the file's size."""
    from adaswitch.learning.gold import approximate_tokens, gold_records
    from adaswitch.learning.records import write_jsonl

    started = time.perf_counter()
    records, stats = gold_records(split, limit=limit, examples=examples,
                                  count_tokens=count_tokens or approximate_tokens)
    path = out_dir / f"gold-{split}.jsonl"
    write_jsonl(path, records)
    return {**stats, "seconds": round(time.perf_counter() - started, 1), "file": path.name,
            "file_mb": round(path.stat().st_size / 2**20, 1)}


def summary(out_dir: Path, limit: int | None = None, examples: bool = False,
            tokenizer: Path | None = None) -> dict[str, Any]:
    """Convert every split into ``out_dir``; the summary of counts."""
    from adaswitch.learning.gold import CHARS_PER_TOKEN, MAX_STEP_TOKENS, SPLITS

    count_tokens = gguf_token_counter(tokenizer) if tokenizer else None
    return {
        "description": "Gold trajectories from the training splits (adaswitch.learning.gold); "
                       "one record per step; refusals counted by the first rule that failed.",
        "prompt": "few-shot" if examples else "zero-shot",
        "max_step_tokens": MAX_STEP_TOKENS,
        "tokens_counted_by": tokenizer.name if tokenizer else f"characters / {CHARS_PER_TOKEN}",
        "limit": limit,
        "splits": {split: convert_split(split, out_dir, limit, examples, count_tokens) for split in SPLITS},
    }


def main() -> None:
    from adaswitch.jsonfile import write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="directory for the record files and summary.json")
    parser.add_argument("--summary", type=Path, help="also write the summary here")
    parser.add_argument("--tokenizer", type=Path, help="a GGUF model whose vocabulary counts step tokens")
    parser.add_argument("--limit", type=int, help="convert only the first N questions of each split")
    parser.add_argument("--examples", action="store_true",
                        help="keep the few-shot examples in the records' system prompt")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    result = summary(args.out_dir, args.limit, args.examples, args.tokenizer)
    for path in filter(None, (args.out_dir / "summary.json", args.summary)):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, result)
    for split, counts in result["splits"].items():
        print(f"{split}: {counts['converted']}/{counts['total']} converted, {counts['records']} records, "
              f"{counts['seconds']} s")


if __name__ == "__main__":
    main()
