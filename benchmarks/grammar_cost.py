"""What the step grammar costs in decoding speed: the same first-step prompts decoded greedily with
and without the grammar, in process, alternating so that machine load affects both alike.

Prints and writes (``--out``, default ``benchmarks/results/grammar_cost.json``) the median tokens
per second of each, their ratio, and how many of the unconstrained steps could not be read as
written (an action missing, unreadable or needing a parser repair).

Usage: python benchmarks/grammar_cost.py [--model qwen2.5-coder-0.5b] [--questions 12] [--offset 0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
from pathlib import Path

from adaswitch.backends.base import CompletionRequest
from adaswitch.backends.llamacpp import LlamaCppBackend
from adaswitch.benchmarks import get_benchmark
from adaswitch.embedded import resolve_model
from adaswitch.grammar import step_grammar
from adaswitch.parsing import parse_step
from adaswitch.prompts import prompts_for, step_stops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--questions", type=int, default=12, help="GSM8K train questions (not a test slice)")
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/grammar_cost.json"))
    args = parser.parse_args()

    samples = get_benchmark("gsm8k").read("train")[args.offset : args.offset + args.questions]
    backend = LlamaCppBackend(resolve_model(args.model), n_ctx=4096)
    prompts = prompts_for("math")
    speeds: dict[str, list[float]] = {"free": [], "grammar": []}
    unreadable = 0
    for sample in samples:
        messages = prompts.step_messages(sample.question, "", 1)
        backend.complete(CompletionRequest(messages=messages, continue_final=True, max_tokens=1))  # prefill once
        for kind in ("free", "grammar"):
            grammar = step_grammar("math", 1) if kind == "grammar" else None
            request = CompletionRequest(messages=messages, continue_final=True, max_tokens=160,
                                        stop=step_stops(1), grammar=grammar)
            completion = backend.complete(request)
            if completion.completion_tokens:
                speeds[kind].append(completion.completion_tokens / completion.latency_s)
            if kind == "free":
                parsed = parse_step(f"Thought 1:{completion.text}", "math")
                unreadable += parsed.action is None or bool(parsed.repairs)
    backend.close()
    free, constrained = statistics.median(speeds["free"]), statistics.median(speeds["grammar"])
    result = {
        "command": f"python benchmarks/grammar_cost.py --model {args.model} --questions {args.questions} "
                   f"--offset {args.offset}",
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs, no GPU",
        "model": args.model,
        "steps": len(samples),
        "free_tokens_per_s_median": round(free, 1),
        "grammar_tokens_per_s_median": round(constrained, 1),
        "ratio": round(constrained / free, 3),
        "free_steps_unreadable_or_repaired": unreadable,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
