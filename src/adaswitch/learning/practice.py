"""Self-practice: the cloud agent annotates training questions with trajectories.

The cloud agent solves each training question with the gold answer (and the dataset's rationale
where it has one) as a hint shown to it only; the trajectory is kept when its answer is right
(and, for math, when it used the calculator at least once, so that the local agent learns steps
rather than a bare answer). Kept trajectories become supervised step records.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adaswitch.benchmarks import Sample, get_benchmark
from adaswitch.learning.journal import Journal
from adaswitch.learning.records import SFTRecord, step_records
from adaswitch.prompts import prompts_for
from adaswitch.solver import Solver
from adaswitch.trace import Trace

HINT = (
    "(Hint for you only. The correct final answer is: {answer}. Work towards it step by step with "
    "the tools, one step at a time, as in the examples; do not state the answer before you have "
    "computed or found it.{rationale})"
)
RATIONALE = "\nA reference solution:\n{rationale}"


@dataclass(frozen=True)
class PracticeSettings:
    hint_rationale: bool = True
    """Show the dataset's rationale too, where it has one."""
    require_tool_step: bool = True
    """Keep a math trajectory only when it used the calculator at least once."""


@dataclass(frozen=True)
class PracticeSummary:
    questions: int
    kept: int
    records: int
    failed: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"questions": self.questions, "kept": self.kept, "records": self.records,
                "failed": self.failed, "seconds": round(self.seconds, 1),
                "kept_share": round(self.kept / self.questions, 4) if self.questions else 0.0}


def hint_for(sample: Sample, with_rationale: bool = True) -> str:
    rationale = RATIONALE.format(rationale=sample.rationale.strip()) if with_rationale and sample.rationale else ""
    return HINT.format(answer=sample.answer, rationale=rationale)


def annotate(
    solver: Solver,
    samples: Sequence[Sample],
    journal_path: Path,
    settings: PracticeSettings | None = None,
    on_done: Callable[[], None] | None = None,
) -> PracticeSummary:
    """Have the cloud agent solve every sample not yet in the journal; append one row per sample."""
    settings = settings or PracticeSettings()
    journal = Journal(journal_path)
    done = journal.done_ids()
    started = time.perf_counter()
    collaboration = solver.collaboration("cloud")
    for sample in samples:
        if sample.id in done:
            continue
        trace = collaboration.solve(
            sample.question, sample.family, sample.knowledge, sample.id,
            cloud_hint=hint_for(sample, settings.hint_rationale),
        )
        journal.append(_row(sample, trace, settings))
        if on_done:
            on_done()
    return summarize(journal_path, time.perf_counter() - started)


def _row(sample: Sample, trace: Trace, settings: PracticeSettings) -> dict[str, Any]:
    correct = trace.answer is not None and get_benchmark(sample.benchmark).score(trace.answer, sample).correct
    reason = keep_reason(trace, sample.family, correct, settings)
    return {"sample_id": sample.id, "benchmark": sample.benchmark, "kept": reason == "kept", "reason": reason,
            "correct": correct, "trace": trace.model_dump(mode="json")}


def keep_reason(trace: Trace, family: str, correct: bool, settings: PracticeSettings) -> str:
    """Why a trajectory is kept ("kept") or dropped."""
    if trace.status == "error":
        return "error"
    if not correct:
        return "wrong-answer"
    if trace.answer_source != "finish":
        return "no-finish"
    if any(step.action is None or not step.tool_ok for step in trace.steps):
        return "bad-step"
    if family == "math" and settings.require_tool_step and not any(
        step.action is not None and step.action.tool == "calculate" for step in trace.steps
    ):
        return "no-tool-step"
    return "kept"


def practice_records(journal_path: Path) -> list[SFTRecord]:
    """Supervised step records from every kept trajectory in the journal."""
    out: list[SFTRecord] = []
    for row in Journal(journal_path).rows():
        if not row["kept"]:
            continue
        trace = Trace.model_validate(row["trace"])
        out += step_records(trace.question, prompts_for(trace.family), trace.steps,
                            source={"sample_id": row["sample_id"], "stage": "practice"})
    return out


def summarize(journal_path: Path, seconds: float = 0.0) -> PracticeSummary:
    rows = Journal(journal_path).rows()
    kept = [r for r in rows if r["kept"]]
    records = sum(len(r["trace"]["steps"]) for r in kept)
    failed = sum(1 for r in rows if r["reason"] == "error")
    return PracticeSummary(questions=len(rows), kept=len(kept), records=records, failed=failed, seconds=seconds)
