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
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from adaswitch.backends.base import ProbeRequest
from adaswitch.benchmarks import Benchmark, Sample
from adaswitch.evaluation.machine import describe_machine
from adaswitch.grading.records import CONFIG_FILE, RECORDS_FILE, EvalRecord, RunConfig
from adaswitch.introspection.base import share_of_first
from adaswitch.introspection.factory import FITTED_SIGNALS
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
    judged = method.name in ("adaswitch", "self-reflection") or (solver.settings.judge_steps and method.name != "cloud")
    probe = solver.settings.probe_path if judged and solver.settings.introspection in FITTED_SIGNALS else None
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
        machines=[describe_machine()],
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
    return run_methods([(run_dir, method)], benchmark, samples, solver, split, workers, progress)[0]


def run_methods(
    runs: list[tuple[Path, Method]],
    benchmark: Benchmark,
    samples: list[Sample],
    solver: Solver,
    split: str = "test",
    workers: int = 1,
    progress: ProgressFactory | None = None,
) -> list[RunOutcome]:
    """Several methods on the same slice, each into its own run directory, through one pool of workers.

    The questions of all the runs are queued method by method (a method's questions before the
    next method's), so a later method finds the earlier ones' identical local steps in the response
    cache, and the pool stays full across the end of one method and the start of the next: a
    backend that batches concurrent requests is never left with a few stragglers."""
    with ExitStack() as stack:
        writers = [stack.enter_context(_RunWriter(run_dir, benchmark, samples, method, solver, split, progress))
                   for run_dir, method in runs]
        tasks = [_Task(writer, sample) for writer in writers for sample in writer.todo]
        _solve_all(tasks, lambda task: _evaluate(task.sample, benchmark, task.writer.method, solver),
                   lambda task, record, error: task.writer.finish(task.sample, record, error), workers)
        return [writer.outcome() for writer in writers]


class _RunWriter:
    """One run directory while its samples are solved: the checked configuration, the samples
    still to run, and the records file, appended to and fsynced one record at a time."""

    def __init__(self, run_dir: Path, benchmark: Benchmark, samples: list[Sample], method: Method, solver: Solver,
                 split: str, progress: ProgressFactory | None):
        run_dir.mkdir(parents=True, exist_ok=True)
        config = run_config(benchmark, split, samples, method, solver)
        stored = _check_or_write_config(run_dir, config)
        self.run_dir, self.method = run_dir, method
        self.records_path = run_dir / RECORDS_FILE
        done = completed_ids(self.records_path)
        self.todo = [s for s in samples if s.id not in done]
        if self.todo and config.machines[0] not in stored.machines:  # this machine is about to work on it
            write_atomic(run_dir / CONFIG_FILE, stored.model_copy(
                update={"machines": [*stored.machines, config.machines[0]]}).model_dump_json(indent=2))
        self.total = len(samples)
        self.failed: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._bar = progress(len(samples), config.label) if progress else Progress()
        self._bar.update(len(samples) - len(self.todo))

    def __enter__(self) -> "_RunWriter":
        self._out = self.records_path.open("a", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        self._out.close()
        self._bar.close()

    def finish(self, sample: Sample, record: EvalRecord | None, error: str | None) -> None:
        with self._lock:
            if record is not None:
                self._out.write(record.model_dump_json() + "\n")
                self._out.flush()
                os.fsync(self._out.fileno())
            else:
                self.failed.append((sample.id, error or "unknown error"))
            self._bar.update(1)

    def outcome(self) -> RunOutcome:
        return RunOutcome(self.run_dir, self.total - len(self.todo), len(self.todo) - len(self.failed), self.failed)


@dataclass(frozen=True)
class _Task:
    writer: _RunWriter
    sample: Sample

    def __str__(self) -> str:
        return f"{self.writer.run_dir.name}/{self.sample.id}"


def _solve_all(tasks: list[_Task], evaluate, finish, workers: int) -> None:  # noqa: ANN001
    if workers <= 1:
        for task in tasks:
            finish(task, *_safe(evaluate, task))
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_safe, evaluate, task): task for task in tasks}
        for future in as_completed(futures):
            finish(futures[future], *future.result())


def _safe(evaluate, task: _Task) -> tuple[EvalRecord | None, str | None]:  # noqa: ANN001
    try:
        return evaluate(task), None
    except Exception as error:  # a bug or bad data must not stop the other samples
        log.exception("%s failed", task)
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
    usage = Usage(
        calls=1,
        prompt_tokens=reply.result.prompt_tokens,
        recomputed_prompt_tokens=reply.result.recomputed_prompt_tokens,
        latency_s=reply.result.latency_s,
    )
    return share_of_first(reply.result.probs, "No", "Yes"), usage


def _prompts_of(trace: Trace, benchmark: Benchmark, sample: Sample) -> TaskPrompts:
    """The prompts ``trace`` was solved with (its step format, the benchmark's answer type)."""
    step_format = trace.settings.get("step_format") or "react"
    return task_prompts(step_format, trace.family, answer_type_for(trace.family, benchmark.answer_type), sample.knowledge)


def completed_ids(records_path: Path) -> set[str]:
    """Ids already recorded; a torn last line (a killed writer) is cut off the file first."""
    return {EvalRecord.model_validate_json(line).sample_id for line in complete_lines(records_path)}


def _probe_sha256(path: str) -> str:
    from adaswitch.introspection.probe import file_sha256

    return file_sha256(path)


def _check_or_write_config(run_dir: Path, config: RunConfig) -> RunConfig:
    """The run directory's configuration: the stored one where it matches ``config``, else ``config``,
    written there; a stored one that holds another run raises :class:`RunMismatch`."""
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
        return old
    write_atomic(path, config.model_dump_json(indent=2))
    return config


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
