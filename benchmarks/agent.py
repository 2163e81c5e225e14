"""How competent the agent is, per benchmark and model: accuracy in the step format, the same model's
chain-of-thought accuracy, how many steps the engine had to force or repair, how often a trajectory
hits the step limit, decoding speed, and (for local agents) the accuracy when the cloud writes
exactly step 1 (or step 2) and the local agent the rest.

Each (benchmark, model, method) is an ordinary resumable run directory under ``--work``; rerunning
the command continues where a killed sitting stopped, and the summary is rewritten from every
record present. ``docs/results/agent.json`` keeps entries of benchmarks and models not run this
time, so the table can be filled in sittings.

The step-format methods (``local``, ``handoff1``, ``handoff2``) run in each format of
``--formats`` (``react``: Thought / Action / Observation with tools under the step grammar;
``paragraphs``: plain chain of thought, one paragraph per step; ``paragraphs+code``: the same, the
python a step writes run by the engine, ``--run-code``); ``cot`` runs once. An entry's
top-level figures are those of the first format given; every format's figures are kept under its
name.

Usage: python benchmarks/agent.py [--benchmarks gsm8k,svamp] [--models qwen2.5-coder-0.5b]
       [--methods local,cot,handoff1,handoff2] [--formats react,paragraphs] [--limit 50]
       [--offsets gsm8k=200] [--work runs/agent] [--out docs/results/agent.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from adaswitch.benchmarks import get_benchmark
from adaswitch.grading.metrics import paired_difference, question_outcomes
from adaswitch.grading.records import EvalRecord, RunConfig
from adaswitch.evaluation.runner import Method, run_method, select_samples
from adaswitch.prompts import STEP_FORMATS
from adaswitch.solver import EndpointSettings, Solver, SolverSettings

CODE_FORMAT = "paragraphs+code"
"""The paragraph format with the python a step writes run by the engine (``--run-code``)."""
AGENT_FORMATS = (*STEP_FORMATS, CODE_FORMAT)

ALL = ("gsm8k", "svamp", "asdiv", "math500", "hotpotqa", "2wiki", "strategyqa")
CLOUD = "qwen2.5-coder-1.5b"
DEFAULT_OFFSETS = {"gsm8k": 200}
DEFAULT_LIMITS = {"gsm8k": 200}
METHODS = ("local", "cot", "handoff1", "handoff2")
COT_MAX_TOKENS = {"math500": 1024}
"""Chain-of-thought token caps above the default 400 (``cot.DEFAULT_COT_MAX_TOKENS``): MATH solutions
outgrow it (24 of the 0.5B's first 50 stopped at 400 tokens, mid-derivation)."""
FORCING_RULES = ("unreadable action", "failing tool", "repeated call", "parser repair")


def step_counts(records: Iterable[EvalRecord], author: str = "local") -> dict[str, int]:
    """Steps written by ``author``, and those the engine had to force (an unreadable action, a
    failing tool call, a repeated call) or the reader had to repair (a paragraph format answer read
    from the text included). A paragraph of free reasoning has no action and is not forced."""
    steps = forced = 0
    for record in records:
        earlier: list = []
        for step in record.trace.steps:
            if step.author == author:
                steps += 1
                repeated = step.action is not None and step.action.repeats(earlier)
                if step.parse_error is not None or not step.tool_ok or repeated or step.repairs:
                    forced += 1
            if step.action is not None:
                earlier.append(step.action)
    return {"steps": steps, "forced": forced}


def tokens_per_second(records: Iterable[EvalRecord], agent: str) -> float | None:
    """Completion tokens over the time of the calls that wrote them (steps and re-samples)."""
    tokens = seconds = 0.0
    for record in records:
        for step in record.trace.steps:
            for call in step.calls:
                if call.agent == agent and call.purpose in ("step", "resample", "retry") and not call.cached:
                    tokens += call.completion_tokens
                    seconds += call.latency_s
    return round(tokens / seconds, 1) if seconds else None


def summarize(records: list[EvalRecord], author: str | None = None) -> dict:
    """The figures of one run: n, accuracy (and F1 for QA), forced share, step-limit share, speed.
    The steps counted are ``author``'s; by default the cloud's in a cloud-only run (an
    ``adaswitch eval --mode cloud`` run of a model stands for that model alone), else the local's."""
    n = len(records)
    summary: dict = {"n": n}
    if not n:
        return summary
    if author is None:
        author = "cloud" if all(r.trace.mode == "cloud" for r in records) else "local"
    summary["accuracy"] = round(sum(r.score.value for r in records) / n, 4)
    f1 = [r.score.f1 for r in records if r.score.f1 is not None]
    if f1:
        summary["f1"] = round(sum(f1) / len(f1), 4)
    counts = step_counts(records, author)
    summary["forced_share"] = round(counts["forced"] / counts["steps"], 4) if counts["steps"] else None
    summary["step_limit_share"] = round(sum(r.trace.status == "max_steps" for r in records) / n, 4)
    summary["tokens_per_s"] = tokens_per_second(records, author)
    summary["steps_per_question"] = round(statistics.mean(len(r.trace.steps) for r in records), 2)
    return summary


def handoff_effect(local: list[EvalRecord], handoff: list[EvalRecord]) -> dict[str, int]:
    """On the questions both runs answered: how many the cloud's step repaired (local alone wrong,
    with the hand-off right) and how many it broke (the reverse)."""
    alone = {r.sample_id: r.score.correct for r in local}
    pairs = [(alone[r.sample_id], r.score.correct) for r in handoff if r.sample_id in alone]
    return {"paired": len(pairs), "repaired": sum(not a and b for a, b in pairs),
            "broken": sum(a and not b for a, b in pairs)}


def read_records(run_dir: Path) -> list[EvalRecord]:
    path = run_dir / "records.jsonl"
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as f:
        return [EvalRecord.model_validate_json(line) for line in f if line.strip()]


def solver_settings(benchmark_name: str, model: str, method: str, step_format: str, workers: int = 1) -> SolverSettings:
    """The solver of one method of one model: behind llama.cpp servers when ``workers`` is above 1,
    the cloud (the 1.5B) only for hand-offs, the chain of thought's cap from ``COT_MAX_TOKENS``."""
    handoff = method.startswith("handoff")
    served = (lambda spec: f"server:{spec}") if workers > 1 else (lambda spec: spec)
    return SolverSettings(
        local=served(model),
        cloud=served(CLOUD) if handoff else None,
        mode="handoff" if handoff else method,
        cloud_steps=(int(method.removeprefix("handoff")),) if handoff else (1,),
        step_format="paragraphs" if step_format == CODE_FORMAT else step_format,
        run_code=step_format == CODE_FORMAT,
        local_endpoint=EndpointSettings(parallel=max(workers, 1)),
        cloud_endpoint=EndpointSettings(parallel=max(workers, 1)),
        **({"cot_max_tokens": COT_MAX_TOKENS[benchmark_name]} if benchmark_name in COT_MAX_TOKENS else {}),
    )


def run_one(
    work: Path, benchmark_name: str, model: str, method: str, limit: int, offset: int, step_format: str,
    workers: int = 1,
) -> Path:
    """Run (or resume) one method of one model on one slice; return its run directory.

    With ``workers`` above 1 both models run behind llama.cpp servers (``server:MODEL``) that decode
    that many questions in one batch; the run directory is the same, but a run is never resumed on
    the other backend (the run's model identity differs)."""
    benchmark = get_benchmark(benchmark_name)
    samples = select_samples(benchmark, benchmark.splits[0], limit, offset, None)
    settings = solver_settings(benchmark_name, model, method, step_format, workers)
    run_dir = _run_dir(work, benchmark_name, model, method, step_format)
    with Solver(settings) as solver:
        outcome = run_method(run_dir, benchmark, samples, Method(name=settings.mode), solver,
                             workers=1 if solver.in_process else workers)
    if outcome.failed:
        print(f"  {len(outcome.failed)} samples failed: {outcome.failed[:3]}", flush=True)
    return run_dir


def _run_dir(work: Path, benchmark_name: str, model: str, method: str, step_format: str) -> Path:
    base = work / benchmark_name / model.replace("/", "_")
    return base / method if method == "cot" else base / step_format / method


def format_entry(work: Path, benchmark_name: str, model: str, step_format: str) -> dict:
    """The figures of one step format: the local agent alone, and with the cloud writing step 1 or 2."""
    result: dict = {}
    local_dir = _run_dir(work, benchmark_name, model, "local", step_format)
    local = read_records(local_dir)
    if local:
        result.update(summarize(local))
        result["slice"] = _slice(local_dir)
    for method in ("handoff1", "handoff2"):
        records = read_records(_run_dir(work, benchmark_name, model, method, step_format))
        if records:
            key = "handoff_accuracy" if method == "handoff1" else "handoff_accuracy_step2"
            result[key] = summarize(records)["accuracy"]
            result[f"{key}_n"] = len(records)
            result[f"{key}_effect"] = handoff_effect(local, records)
    return result


def entry(work: Path, benchmark_name: str, model: str, formats: list[str]) -> dict:
    """The agent.json entry of one benchmark and model, from the runs present: the figures of the
    first format that has runs at the top level, every format's under its name, the
    chain-of-thought baseline, and paired differences between them."""
    by_format = {f: format_entry(work, benchmark_name, model, f) for f in formats}
    first = next((f for f in formats if by_format[f]), formats[0])
    result: dict = {"step_format": first, **by_format[first]}
    cot = read_records(_run_dir(work, benchmark_name, model, "cot", ""))
    if cot:
        summary = summarize(cot)
        result["cot_accuracy"] = summary["accuracy"]
        if "f1" in summary:
            result["cot_f1"] = summary["f1"]
        result["cot_n"] = len(cot)
    for step_format, figures in by_format.items():
        if figures:
            result[step_format] = figures
    runs = {f"{f}/{m}": read_records(_run_dir(work, benchmark_name, model, m, f))
            for f in formats for m in ("local", "handoff1", "handoff2")}
    runs["cot"] = cot
    comparisons = [(f"{f}/handoff{k}", f"{f}/local") for f in formats for k in (1, 2)]
    comparisons += [(f"{f}/local", "cot") for f in formats]
    comparisons += [(f"{a}/local", f"{b}/local") for i, a in enumerate(formats) for b in formats[i + 1:]]
    paired = {f"{a} - {b}": difference for a, b in comparisons if (difference := _paired(runs[a], runs[b]))}
    if paired:
        result["paired"] = paired
    return result


FIGURES = ("n", "cot_accuracy")
"""An entry with neither figure has no run behind it."""


def merge_entry(old: dict | None, new: dict) -> dict:
    """The entry to write when ``new`` was rebuilt from this work folder's runs and ``old`` is what
    the results file held: an entry with no run behind it changes nothing; otherwise the new figures
    win, and what the old entry measured elsewhere (another step format's figures, the
    chain-of-thought baseline, paired differences, notes) is kept where the new one has none."""
    if not old:
        return new
    if not any(key in new for key in FIGURES):
        return old
    merged = dict(new)
    for key, value in old.items():
        if key in AGENT_FORMATS or key.startswith("cot_") or key == "backend":
            merged.setdefault(key, value)
    if "paired" in old:
        merged["paired"] = {**old["paired"], **new.get("paired", {})}
    return merged


def _paired(records: list[EvalRecord], reference: list[EvalRecord]) -> dict | None:
    """The accuracy difference on the shared questions, with its 95% paired bootstrap interval."""
    if not records or not reference:
        return None
    difference = paired_difference(question_outcomes(records), question_outcomes(reference))
    if difference is None:
        return None
    low, high = difference.interval
    return {"n": difference.n, "difference": round(difference.difference, 4),
            "interval": [round(low, 4), round(high, 4)]}


def _slice(run_dir: Path) -> str:
    config = RunConfig.model_validate_json((run_dir / "config.json").read_text())
    ids = config.sample_ids
    return f"{config.split} {ids[0]} .. {ids[-1]} ({len(ids)})" if ids else config.split


def parse_pairs(text: str) -> dict[str, int]:
    pairs = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = item.partition("=")
        pairs[name.strip()] = int(value)
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmarks", default=",".join(ALL))
    parser.add_argument("--models", default="qwen2.5-coder-0.5b,qwen2.5-coder-1.5b")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--formats", default="paragraphs,react",
                        help="step formats of the local and hand-off runs; the first one heads the entry")
    parser.add_argument("--limit", type=int, default=50, help="questions per benchmark (GSM8K: 200)")
    parser.add_argument("--limits", default="", help="per-benchmark overrides, e.g. gsm8k=200")
    parser.add_argument("--offsets", default="", help="per-benchmark first question, e.g. gsm8k=200")
    parser.add_argument("--work", type=Path, default=Path("runs/agent"))
    parser.add_argument("--out", type=Path, default=Path("docs/results/agent.json"))
    parser.add_argument("--no-run", action="store_true", help="rewrite the entries from the runs present")
    parser.add_argument("--workers", type=int, default=1,
                        help="above 1: run the models behind llama.cpp servers, this many questions at once")
    args = parser.parse_args()

    benchmarks = [b for b in args.benchmarks.split(",") if b]
    models = [m for m in args.models.split(",") if m]
    methods = [m for m in args.methods.split(",") if m]
    formats = [f for f in args.formats.split(",") if f]
    limits = {b: DEFAULT_LIMITS.get(b, args.limit) for b in benchmarks} | parse_pairs(args.limits)
    offsets = {b: DEFAULT_OFFSETS.get(b, 0) for b in benchmarks} | parse_pairs(args.offsets)
    result = json.loads(args.out.read_text()) if args.out.is_file() else {"benchmarks": {}}
    timings = result.setdefault("seconds", {})
    for name in benchmarks:
        for model in models:
            for step_format in formats:
                for method in methods:
                    if method.startswith("handoff") and model == CLOUD:
                        continue  # the cloud does not hand off to itself
                    if method == "cot" and step_format != formats[0]:
                        continue  # one baseline run, whatever the step format
                    if args.no_run:
                        continue
                    started = time.perf_counter()
                    run_one(args.work, name, model, method, limits[name], offsets[name], step_format, args.workers)
                    spent = round(time.perf_counter() - started, 1)
                    key = f"{name}/{model}/{method}" if method == "cot" else f"{name}/{model}/{step_format}/{method}"
                    timings[key] = round(timings.get(key, 0.0) + spent, 1)
                    print(f"{key}: {spent} s", flush=True)
                    _update(result, name, model, entry(args.work, name, model, formats))
                    _write(args.out, result)
            _update(result, name, model, entry(args.work, name, model, formats))
    result["machine"] = f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs, no GPU"
    result["updated_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    _write(args.out, result)
    print(json.dumps(result["benchmarks"], indent=1))


def _update(result: dict, benchmark_name: str, model: str, new: dict) -> None:
    entries = result["benchmarks"].setdefault(benchmark_name, {})
    merged = merge_entry(entries.get(model), new)
    if any(key in merged for key in FIGURES):
        entries[model] = merged


def _write(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(path)


if __name__ == "__main__":
    main()
