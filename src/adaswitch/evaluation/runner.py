"""Run one method over a benchmark slice into a run directory, resumably.

Each finished sample is appended to ``records.jsonl`` as one line, written with a single call and
flushed to disk, so a run killed at any moment loses at most the samples in flight. On restart the
directory's configuration is checked against the request, a torn last line is cut off, and only the
samples without a record are run: no sample is lost or recorded twice.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from adaswitch.backends.base import ProbeRequest
from adaswitch.benchmarks import Benchmark, Sample
from adaswitch.evaluation.records import CONFIG_FILE, RECORDS_FILE, EvalRecord, RunConfig
from adaswitch.jsonfile import write_atomic
from adaswitch.jsonl import complete_lines
from adaswitch.model import ModelFailure
from adaswitch.grammar import answer_type_for
from adaswitch.prompts import TaskPrompts, prompts_for, task_prompts
from adaswitch.solver import Solver
from adaswitch.trace import Agent, Trace
from adaswitch.trajectory import render_trajectory
from adaswitch.usage import Usage

log = logging.getLogger(__name__)


class RunMismatch(ValueError):
    """The run directory holds a different run than the one asked for."""


@dataclass(frozen=True)
class Method:
    name: str
    threshold: float | None = None
    switch_rate: float | None = None
    model: Agent = "local"
    """The model the chain-of-thought baseline (``cot``) runs on; the other methods ignore it."""

    @property
    def uses_cloud(self) -> bool:
        return self.name in ("cloud", "adaswitch", "random", "handoff") or (self.name == "cot" and self.model == "cloud")


@dataclass
class RunOutcome:
    run_dir: Path
    done_before: int
    ran: int
    failed: list[tuple[str, str]]


ProgressFactory = Callable[[int, str], "Progress"]


class Progress:
    """A no-op progress reporter; the CLI passes a tqdm-backed one."""

    def update(self, n: int = 1) -> None: ...

    def close(self) -> None: ...


def run_config(
    benchmark: Benchmark, split: str, samples: list[Sample], method: Method, solver: Solver
) -> RunConfig:
    settings = solver.settings.model_dump(exclude={"local_endpoint": {"api_key"}, "cloud_endpoint": {"api_key"}})
    judged = method.name in ("adaswitch", "self-reflection")
    probe = solver.settings.probe_path if judged and solver.settings.introspection == "probe" else None
    return RunConfig(
        benchmark=benchmark.name,
        split=split,
        sample_ids=[s.id for s in samples],
        method=method.name,
        threshold=method.threshold if method.name in ("adaswitch", "self-reflection") else None,
        switch_rate=method.switch_rate if method.name == "random" else None,
        introspection=solver.settings.introspection if judged else None,
        probe=probe,
        probe_sha256=_probe_sha256(probe) if probe else None,
        local_model=solver.local.name,
        cloud_model=solver.cloud.name if solver.cloud and method.uses_cloud else None,
        cot_model=method.model if method.name == "cot" else None,
        local_identity=solver.local.identity,
        cloud_identity=solver.cloud.identity if solver.cloud and method.uses_cloud else None,
        local_parameters=solver.local.parameters,
        cloud_parameters=solver.cloud.parameters if solver.cloud else None,
        solver=settings,
        versions=_versions(),
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def run_method(
    run_dir: Path,
    benchmark: Benchmark,
    samples: list[Sample],
    method: Method,
    solver: Solver,
    split: str = "test",
    workers: int = 1,
    progress: ProgressFactory | None = None,
) -> RunOutcome:
    """Solve every sample of the slice that has no record yet, appending one record per sample."""
    run_dir.mkdir(parents=True, exist_ok=True)
    config = run_config(benchmark, split, samples, method, solver)
    _check_or_write_config(run_dir, config)
    records_path = run_dir / RECORDS_FILE
    done = completed_ids(records_path)
    todo = [s for s in samples if s.id not in done]
    bar = progress(len(samples), config.label) if progress else Progress()
    bar.update(len(samples) - len(todo))
    failed: list[tuple[str, str]] = []
    lock = threading.Lock()
    with records_path.open("a", encoding="utf-8") as out:

        def finish(sample: Sample, record: EvalRecord | None, error: str | None) -> None:
            with lock:
                if record is not None:
                    out.write(record.model_dump_json() + "\n")
                    out.flush()
                    os.fsync(out.fileno())
                else:
                    failed.append((sample.id, error or "unknown error"))
                bar.update(1)

        _solve_all(todo, lambda s: _evaluate(s, benchmark, method, solver), finish, workers)
    bar.close()
    return RunOutcome(run_dir, len(samples) - len(todo), len(todo) - len(failed), failed)


def _solve_all(samples: list[Sample], evaluate, finish, workers: int) -> None:  # noqa: ANN001
    if workers <= 1:
        for sample in samples:
            finish(sample, *_safe(evaluate, sample))
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_safe, evaluate, sample): sample for sample in samples}
        for future in as_completed(futures):
            finish(futures[future], *future.result())


def _safe(evaluate, sample: Sample) -> tuple[EvalRecord | None, str | None]:  # noqa: ANN001
    try:
        return evaluate(sample), None
    except Exception as error:  # a bug or bad data must not stop the other samples
        log.exception("sample %s failed", sample.id)
        return None, f"{type(error).__name__}: {error}"


def _evaluate(sample: Sample, benchmark: Benchmark, method: Method, solver: Solver) -> EvalRecord:
    if method.name == "cot":
        trace = solver.solve_cot(sample.question, sample.family, sample.knowledge or None, sample.id,
                                 model=method.model, benchmark=benchmark.name)
    else:
        trace = solver.solve(
            sample.question,
            sample.family,
            sample.knowledge or None,
            question_id=sample.id,
            mode=method.name,
            threshold=method.threshold,
            switch_rate=method.switch_rate,
            answer_type=benchmark.answer_type,
        )
    score = benchmark.score(trace.answer, sample)
    record = EvalRecord(
        sample_id=sample.id,
        benchmark=benchmark.name,
        gold=sample.answer,
        prediction=trace.answer,
        extraction=score.extraction or benchmark.extract(trace.answer),
        score=score,
        trace=trace,
    )
    if method.name == "local" and trace.answer is not None:
        record.final_check_p, record.final_check_usage = final_check(solver, trace, _prompts_of(trace, benchmark, sample))
    return record


def final_check(solver: Solver, trace: Trace, prompts: TaskPrompts | None = None) -> tuple[float | None, Usage | None]:
    """The local agent's probability that its own final answer is wrong: P(No) / (P(Yes) + P(No)).

    ``prompts`` are those the trace was solved with (by default the family's react prompts), so the
    check's prompt extends the solve's and an in-process model reuses its cache."""
    prompts = prompts or prompts_for(trace.family)
    messages = prompts.final_check_messages(
        trace.question, render_trajectory(trace.steps, prompts.separator), trace.answer or ""
    )
    try:
        reply = solver.local.probe(ProbeRequest(messages=messages, candidates=["Yes", "No"]))
    except ModelFailure:
        return None, None
    yes, no = reply.result.probs.get("Yes", 0.0), reply.result.probs.get("No", 0.0)
    usage = Usage(
        calls=1,
        prompt_tokens=reply.result.prompt_tokens,
        recomputed_prompt_tokens=reply.result.recomputed_prompt_tokens,
        latency_s=reply.result.latency_s,
    )
    return (no / (yes + no) if yes + no > 0 else 0.5), usage


def _prompts_of(trace: Trace, benchmark: Benchmark, sample: Sample) -> TaskPrompts:
    """The prompts ``trace`` was solved with (its step format, the benchmark's answer type)."""
    step_format = trace.settings.get("step_format") or "react"
    return task_prompts(step_format, trace.family, answer_type_for(trace.family, benchmark.answer_type), sample.knowledge)


def completed_ids(records_path: Path) -> set[str]:
    """Ids already recorded; a torn last line (a killed writer) is cut off the file first."""
    return {EvalRecord.model_validate_json(line).sample_id for line in complete_lines(records_path)}


def _probe_sha256(path: str) -> str:
    from adaswitch.learning.probe import file_sha256

    return file_sha256(path)


def _check_or_write_config(run_dir: Path, config: RunConfig) -> None:
    path = run_dir / CONFIG_FILE
    if path.exists():
        old = RunConfig.model_validate_json(path.read_text(encoding="utf-8"))
        for field in ("benchmark", "split", "sample_ids", "method", "threshold", "switch_rate", "cot_model",
                      "introspection", "probe_sha256", "local_model", "cloud_model"):
            if getattr(old, field) != getattr(config, field):
                raise RunMismatch(
                    f"{run_dir} holds a different run ({field}: {getattr(old, field)!r} there, "
                    f"{getattr(config, field)!r} now); use another directory"
                )
        for field in ("local_identity", "cloud_identity"):  # runs recorded before identities have none
            if getattr(old, field) and getattr(config, field) and getattr(old, field) != getattr(config, field):
                raise RunMismatch(
                    f"{run_dir} was run with another model under the same name ({field}: {getattr(old, field)} "
                    f"there, {getattr(config, field)} now); use another directory"
                )
        return
    write_atomic(path, config.model_dump_json(indent=2))


def _versions() -> dict[str, str]:
    versions = {}
    for name in ("adaswitch", "llama_cpp_python", "openai", "pydantic"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def select_samples(benchmark: Benchmark, split: str, limit: int | None, offset: int, ids: Iterable[str] | None) -> list[Sample]:
    return benchmark.load(split, limit=limit, offset=offset, ids=list(ids) if ids else None)
