"""Collaborative examination: the local agent sits an exam; the cloud agent corrects its first mistake.

For each training question the local agent writes a trajectory; the step-error rules
(:mod:`adaswitch.grading.rules`) find its first mistake after the steps already accepted; the
cloud agent rewrites that step from the same prefix (with the gold hint of self-practice); the local
agent carries on from the corrected step; and so on until the trajectory is right, finishes, or the
correction budget is spent. The output is the revised trajectory (each correction keeps the local
agent's wrong step in ``replaced``) and every judged local step as a :class:`LabelledStep`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adaswitch.benchmarks import Benchmark, Sample, get_benchmark
from adaswitch.grading.rules import step_verdicts
from adaswitch.learning.journal import Journal
from adaswitch.learning.practice import hint_for
from adaswitch.learning.records import LabelledStep, SFTRecord, reflection_records
from adaswitch.prompts import prompts_for
from adaswitch.solver import Solver
from adaswitch.trace import Proposal, StepRecord
from adaswitch.trajectory import final_answer, is_finish, render_trajectory


@dataclass(frozen=True)
class ExamSettings:
    max_corrections: int = 3
    """Cloud corrections per question; a mistake after the last one is left as it is."""
    hint_rationale: bool = True


@dataclass
class ExamResult:
    sample_id: str
    steps: list[StepRecord]
    """The revised trajectory: accepted local steps and cloud corrections."""
    labelled: list[LabelledStep]
    correct: bool
    """Whether the revised trajectory's answer is right."""
    local_correct: bool
    """Whether the local agent's first, uncorrected trajectory was right."""
    corrections: int
    uncorrected: StepRecord | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "sample_id": self.sample_id,
            "steps": [s.model_dump(mode="json") for s in self.steps],
            "labelled": [s.to_json() for s in self.labelled],
            "correct": self.correct,
            "local_correct": self.local_correct,
            "corrections": self.corrections,
            "uncorrected": self.uncorrected.model_dump(mode="json") if self.uncorrected else None,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExamResult:
        return cls(
            sample_id=data["sample_id"],
            steps=[StepRecord.model_validate(s) for s in data["steps"]],
            labelled=[LabelledStep.from_json(s) for s in data["labelled"]],
            correct=data["correct"],
            local_correct=data["local_correct"],
            corrections=data["corrections"],
            uncorrected=StepRecord.model_validate(data["uncorrected"]) if data.get("uncorrected") else None,
            error=data.get("error"),
        )


def examine(solver: Solver, sample: Sample, settings: ExamSettings | None = None) -> ExamResult:
    """One question of the examination (see the module docstring)."""
    settings = settings or ExamSettings()
    benchmark = get_benchmark(sample.benchmark)
    local = solver.collaboration("local")
    cloud = solver.collaboration("cloud")
    hint = hint_for(sample, settings.hint_rationale)
    accepted: list[StepRecord] = []
    labelled: list[LabelledStep] = []
    corrections, local_correct, uncorrected = 0, False, None
    for attempt in range(settings.max_corrections + 1):
        trace = local.solve(sample.question, sample.family, sample.knowledge, sample.id, prefix=accepted)
        if trace.status == "error":
            return _result(sample, benchmark, accepted, labelled, corrections, local_correct, None, trace.error)
        correct = trace.answer is not None and benchmark.score(trace.answer, sample).correct
        if attempt == 0:
            local_correct = correct
        verdicts = step_verdicts(trace.steps, sample, correct)
        new = range(len(accepted), len(trace.steps))
        mistake = next((i for i in new if verdicts[i][0] == "wrong"), None)
        end = mistake if mistake is not None else len(trace.steps)
        for i in range(len(accepted), end):
            if verdicts[i][0] != "right":
                break  # an unjudged step: what follows it cannot be called right either
            labelled.append(_labelled(sample, trace.steps, i, wrong=False, rule=verdicts[i][1]))
            accepted.append(trace.steps[i])
        else:
            if mistake is None:
                break
        if mistake is None or len(accepted) < mistake:
            break
        wrong = trace.steps[mistake]
        if corrections >= settings.max_corrections:
            labelled.append(_labelled(sample, trace.steps, mistake, wrong=True, rule=verdicts[mistake][1]))
            uncorrected = wrong
            break
        fix = cloud.solve(sample.question, sample.family, sample.knowledge, sample.id,
                          prefix=accepted, max_new_steps=1, cloud_hint=hint)
        correction = fix.steps[mistake] if fix.status != "error" and len(fix.steps) > mistake else None
        usable = correction is not None and correction.author == "cloud" and correction.action is not None \
            and correction.tool_ok
        labelled.append(_labelled(sample, trace.steps, mistake, wrong=True, rule=verdicts[mistake][1],
                                  correction=correction.text if usable else None))
        if not usable:
            uncorrected = wrong
            break
        correction.replaced = [_proposal(wrong)]
        correction.switched = True
        accepted.append(correction)
        corrections += 1
        if is_finish(correction):
            break
    return _result(sample, benchmark, accepted, labelled, corrections, local_correct, uncorrected)


def _result(sample: Sample, benchmark: Benchmark, steps: list[StepRecord], labelled: list[LabelledStep],
            corrections: int, local_correct: bool, uncorrected: StepRecord | None,
            error: str | None = None) -> ExamResult:
    correct = False
    if steps and is_finish(steps[-1]):
        answer, _ = final_answer(steps[-1].action.argument, sample.family)  # type: ignore[union-attr]
        correct = benchmark.score(answer, sample).correct
    return ExamResult(sample.id, steps, labelled, correct, local_correct, corrections, uncorrected, error)


def _labelled(sample: Sample, steps: Sequence[StepRecord], i: int, *, wrong: bool, rule: str,
              correction: str | None = None) -> LabelledStep:
    step = steps[i]
    return LabelledStep(
        sample_id=sample.id, benchmark=sample.benchmark, family=sample.family, question=sample.question,
        trajectory=render_trajectory(list(steps[:i])), index=step.index, step_text=step.text,
        wrong=wrong, rule=rule, correction=correction,
    )


def _proposal(step: StepRecord) -> Proposal:
    return Proposal(author=step.author, text=step.text, thought=step.thought, action=step.action,
                    parse_error=step.parse_error, observation=step.observation, tool_ok=step.tool_ok,
                    p_error=step.p_error)


def sit_exam(
    solver: Solver,
    samples: Sequence[Sample],
    journal_path: Path,
    settings: ExamSettings | None = None,
    on_done: Callable[[], None] | None = None,
) -> None:
    """Examine every sample not yet in the journal; one row per sample, appended as it finishes."""
    journal = Journal(journal_path)
    done = journal.done_ids()
    for sample in samples:
        if sample.id in done:
            continue
        started = time.perf_counter()
        row = examine(solver, sample, settings).to_json()
        row["benchmark"], row["seconds"] = sample.benchmark, round(time.perf_counter() - started, 2)
        journal.append(row)
        if on_done:
            on_done()


def exam_results(journal_path: Path) -> list[ExamResult]:
    return [ExamResult.from_json(row) for row in Journal(journal_path).rows()]


def exam_records(journal_path: Path, samples: dict[str, Sample]) -> list[SFTRecord]:
    """Reflective-learning records from every examined question in the journal."""
    out: list[SFTRecord] = []
    for result in exam_results(journal_path):
        sample = samples[result.sample_id]
        out += reflection_records(sample.question, prompts_for(sample.family), result.steps,
                                  source={"sample_id": sample.id, "stage": "reflect"},
                                  uncorrected=result.uncorrected)
    return out


def labelled_steps(journal_path: Path) -> list[LabelledStep]:
    return [step for result in exam_results(journal_path) for step in result.labelled]


def exam_figures(results: Sequence[ExamResult]) -> dict[str, Any]:
    n = len(results)
    steps = [s for r in results for s in r.labelled]
    return {
        "questions": n,
        "local_accuracy": round(sum(r.local_correct for r in results) / n, 4) if n else 0.0,
        "revised_accuracy": round(sum(r.correct for r in results) / n, 4) if n else 0.0,
        "corrections": sum(r.corrections for r in results),
        "labelled_steps": len(steps),
        "wrong_steps": sum(s.wrong for s in steps),
        "errors": sum(1 for r in results if r.error),
    }
