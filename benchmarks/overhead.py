"""Engine overhead on the embedded default pair, on a few GSM8K questions.

Prints and writes (``benchmarks/results/overhead.json``):
(a) the share of wall time spent outside backend calls (target: under 2%);
(b) prompt tokens recomputed per step against new trajectory tokens per step (target: at most 1.5x);
(c) tokens per second of the local agent inside the engine against llama-cpp-python's own
    ``create_completion`` on the same prompt (target: at least 95%).

Usage: python benchmarks/overhead.py [--questions 3] [--repeats 3] [--out benchmarks/results/overhead.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

from adaswitch.backends.base import CompletionRequest
from adaswitch.benchmarks import get_benchmark
from adaswitch.solver import Solver, SolverSettings
from adaswitch.trace import Trace


def outside_share(trace: Trace) -> float:
    inside = sum(call.latency_s for step in trace.steps for call in step.calls)
    return max(trace.wall_time_s - inside, 0.0) / trace.wall_time_s


def recompute_ratio(trace: Trace, agent: str) -> tuple[int, int]:
    """Recomputed prompt tokens of an agent's calls after its first one, and the new tokens they saw.

    New tokens of a call are the growth of its prompt since the agent's previous call of the same
    purpose (the trajectory text added meanwhile); recomputed tokens are what the backend evaluated.
    """
    calls = [call for step in trace.steps for call in step.calls if call.agent == agent]
    recomputed = new = 0
    previous: dict[str, int] = {}
    for call in calls:
        if call.purpose in previous:
            recomputed += call.recomputed_prompt_tokens
            new += max(call.prompt_tokens - previous[call.purpose], 0)
        previous[call.purpose] = call.prompt_tokens
    return recomputed, new


def engine_vs_raw_tokens_per_second(solver: Solver, question: str, max_tokens: int, repeats: int) -> dict:
    """Greedy generation of ``max_tokens`` from the same prompt by the engine and by llama-cpp-python.

    ``cold``: the KV cache is reset first, so the prompt is processed too. ``warm``: the same call
    again, with the prompt already cached (both reuse it), so generation dominates.
    """
    backend = solver.local.backend
    llm = backend._llm  # noqa: SLF001 - the benchmark compares against the very same model object
    messages = _first_step_messages(question)
    prompt_text = backend.render_prompt(messages, continue_final=True)
    request = CompletionRequest(messages=messages, continue_final=True, max_tokens=max_tokens, temperature=0.0)
    figures: dict[str, list[float]] = {"engine_cold": [], "engine_warm": [], "raw_cold": [], "raw_warm": []}
    for _ in range(repeats):
        for label, run in (("engine", lambda: _engine_tps(solver, request)), ("raw", lambda: _raw_tps(llm, prompt_text, max_tokens))):
            llm.reset()
            figures[f"{label}_cold"].append(run())
            figures[f"{label}_warm"].append(run())
    llm.reset()
    medians = {key: statistics.median(values) for key, values in figures.items()}
    return {
        **{f"{key}_tokens_per_s": round(value, 2) for key, value in medians.items()},
        "ratio_cold": round(medians["engine_cold"] / medians["raw_cold"], 3),
        "ratio_warm": round(medians["engine_warm"] / medians["raw_warm"], 3),
        "runs": repeats,
        "max_tokens": max_tokens,
    }


def _engine_tps(solver: Solver, request: CompletionRequest) -> float:
    completion = solver.local.complete(request).completion
    return completion.completion_tokens / completion.latency_s


def _raw_tps(llm, prompt_text: str, max_tokens: int) -> float:  # noqa: ANN001
    started = time.perf_counter()
    out = llm.create_completion(prompt_text, max_tokens=max_tokens, temperature=0.0, top_k=1)
    return out["usage"]["completion_tokens"] / (time.perf_counter() - started)


def _first_step_messages(question: str):  # noqa: ANN202
    from adaswitch.prompts import prompts_for

    return prompts_for("math").step_messages(question, "", 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threshold", type=float, default=0.3)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/overhead.json"))
    args = parser.parse_args()

    samples = get_benchmark("gsm8k").load(limit=args.questions)
    results: dict = {"machine": f"{platform.machine()}, {_cpus()} CPUs", "questions": [s.id for s in samples]}
    with Solver(SolverSettings(max_steps=8)) as solver:
        solver.solve(samples[0].question, mode="local")  # warm up: load, page in weights
        per_mode = {}
        for mode in ("local", "adaswitch"):
            traces = [solver.solve(s.question, mode=mode, threshold=args.threshold) for s in samples]
            local_re, local_new = map(sum, zip(*(recompute_ratio(t, "local") for t in traces)))
            cloud_re, cloud_new = map(sum, zip(*(recompute_ratio(t, "cloud") for t in traces)))
            per_mode[mode] = {
                "outside_backend_share_median": statistics.median(outside_share(t) for t in traces),
                "local_recomputed_per_new_token": local_re / local_new if local_new else None,
                "cloud_recomputed_per_new_token": cloud_re / cloud_new if cloud_new else None,
                "steps": sum(len(t.steps) for t in traces),
                "cloud_steps": sum(t.cloud_steps for t in traces),
                "wall_time_s": sum(t.wall_time_s for t in traces),
            }
        results["modes"] = per_mode
        results["tokens_per_second"] = engine_vs_raw_tokens_per_second(
            solver, samples[0].question, args.max_tokens, args.repeats
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
