"""Self-practice, the examination and the reflective-learning records on the scripted fake backend."""

from __future__ import annotations

import json

import pytest

from adaswitch.backends.fake import FakeBackend, FakeReply, FakeScript
from adaswitch.benchmarks import Sample
from adaswitch.learning.exam import ExamSettings, examine, exam_records, labelled_steps, sit_exam
from adaswitch.learning.journal import Journal
from adaswitch.learning.practice import annotate, hint_for, practice_records
from adaswitch.learning.records import SFTRecord, read_records, reflection_records, step_body, write_jsonl
from adaswitch.prompts import JUDGMENT_PREFIX, prompts_for
from adaswitch.solver import Solver, SolverSettings

SAMPLE = Sample(
    id="natalia", benchmark="gsm8k", family="math",
    question="Natalia sold clips to 48 friends in April, and half as many in May. How many altogether?",
    answer="72", gold_values=["24", "72"], rationale="48/2 = 24 in May. 48+24 = 72 altogether.",
)


def step(n: int, text: str, after: str = "") -> FakeReply:
    return FakeReply(match=rf"{after}Thought {n}:$", text=text)


def local_script() -> FakeScript:
    return FakeScript(rules=[
        step(1, " Half of 48 were sold in May.\nAction 1: calculate[48/2]"),
        step(2, " Add both months.\nAction 2: calculate[48 + 25]", after=r"Observation 1: 24\n"),
        step(3, " That is the total.\nAction 3: finish[72]", after=r"Observation 2: 72\n"),
        step(3, " That is the total.\nAction 3: finish[73]", after=r"Observation 2: 73\n"),
    ])


def cloud_script() -> FakeScript:
    return FakeScript(rules=[
        step(1, " May is half of April.\nAction 1: calculate[48 / 2]"),
        step(2, " April plus May.\nAction 2: calculate[48 + 24]"),
        step(3, " The total is 72.\nAction 3: finish[72]"),
    ])


def solver(local: FakeScript | None = None, cloud: FakeScript | None = None) -> tuple[Solver, FakeBackend, FakeBackend]:
    lb, cb = FakeBackend(local or local_script(), "fake-local"), FakeBackend(cloud or cloud_script(), "fake-cloud")
    return Solver(SolverSettings(local="fake", cloud="fake", mode="local"), local=lb, cloud=cb), lb, cb


def test_practice_keeps_right_trajectories_and_shows_the_hint_to_the_cloud_only(tmp_path):
    s, local, cloud = solver()
    wrong = SAMPLE.model_copy(update={"id": "wrong", "answer": "99"})
    journal = tmp_path / "practice.jsonl"
    summary = annotate(s, [SAMPLE, wrong], journal)
    assert (summary.questions, summary.kept) == (2, 1)
    rows = {r["sample_id"]: r for r in Journal(journal).rows()}
    assert rows["natalia"]["kept"] and rows["wrong"]["reason"] == "wrong-answer"
    assert all("The correct final answer is: 72" in r.messages[1].content for r in cloud.requests[:3])
    assert "reference solution" in cloud.requests[0].messages[1].content
    assert not local.requests  # the cloud writes every practice step

    records = practice_records(journal)
    assert [r.kind for r in records] == ["step", "step", "step"]
    assert [r.completion for r in records] == [
        " May is half of April.\nAction 1: calculate[48 / 2]",
        " April plus May.\nAction 2: calculate[48 + 24]",
        " The total is 72.\nAction 3: finish[72]",
    ]
    # the records carry the inference prompt: no hint, earlier steps and observations in the prompt
    for record in records:
        assert "Hint" not in json.dumps(record.to_json())
        assert record.messages[1].content == f"Question: {SAMPLE.question}"
    assert records[2].messages[-1].content.endswith("Observation 2: 72\nThought 3:")
    # resumable: a second call runs nothing new
    calls = len(cloud.requests)
    annotate(s, [SAMPLE, wrong], journal)
    assert len(cloud.requests) == calls


def test_the_exam_corrects_the_first_mistake_and_the_local_agent_carries_on():
    s, local, cloud = solver()
    result = examine(s, SAMPLE)
    assert not result.local_correct and result.correct and result.corrections == 1
    assert [st.author for st in result.steps] == ["local", "cloud", "local"]
    assert "48 + 24" in result.steps[1].text and "48 + 25" in result.steps[1].replaced[0].text
    verdicts = [(st.index, st.wrong, st.rule) for st in result.labelled]
    assert verdicts == [(1, False, "gold-value"), (2, True, "non-gold-value"), (3, False, "finish-right")]
    assert result.labelled[1].correction.startswith("Thought 2: April plus May.")
    # the cloud corrected from the same prefix, with the hint; the local agent never saw the hint
    assert len(cloud.requests) == 1 and "Observation 1: 24\nThought 2:" in cloud.requests[0].messages[-1].content
    assert all("Hint" not in r.messages[1].content for r in local.requests)


def test_the_exam_leaves_a_mistake_once_the_budget_is_spent():
    s, _, cloud = solver()
    result = examine(s, SAMPLE, ExamSettings(max_corrections=0))
    assert result.corrections == 0 and not result.correct
    assert result.uncorrected is not None and "48 + 25" in result.uncorrected.text
    assert [st.wrong for st in result.labelled] == [False, True]
    assert not cloud.requests


def test_reflection_records_train_judgments_and_corrections_with_the_wrong_step_as_context():
    s, _, _ = solver()
    result = examine(s, SAMPLE)
    records = reflection_records(SAMPLE.question, prompts_for("math"), result.steps)
    assert [r.kind for r in records] == ["judged_step", "judgment", "correction", "judged_step"]
    judged, judgment, correction, last = records
    assert judged.completion == " Half of 48 were sold in May.\nAction 1: calculate[48/2]\nCheck: right"
    # the wrong step is in the prompt (context), the trained text is only the judgment
    assert judgment.messages[-1].content.endswith("Thought 2: Add both months.\nAction 2: calculate[48 + 25]" + JUDGMENT_PREFIX)
    assert judgment.completion == " wrong"
    # the correction is trained from the same prefix, without the wrong step
    assert correction.messages[-1].content.endswith("Observation 1: 24\nThought 2:")
    assert "48 + 25" not in correction.messages[-1].content
    assert correction.completion == " April plus May.\nAction 2: calculate[48 + 24]\nCheck: right"
    assert last.messages[-1].content.endswith("Observation 2: 72\nThought 3:")


def test_an_uncorrected_mistake_gives_only_its_wrong_judgment():
    s, _, _ = solver()
    result = examine(s, SAMPLE, ExamSettings(max_corrections=0))
    records = reflection_records(SAMPLE.question, prompts_for("math"), result.steps, uncorrected=result.uncorrected)
    assert [(r.kind, r.completion[-6:]) for r in records] == [("judged_step", " right"), ("judgment", " wrong")]


def test_sit_exam_journals_each_question_once_and_writes_records_and_labelled_steps(tmp_path):
    s, local, _ = solver()
    journal = tmp_path / "exam.jsonl"
    sit_exam(s, [SAMPLE], journal)
    n = len(local.requests)
    sit_exam(s, [SAMPLE], journal)
    assert len(local.requests) == n and len(Journal(journal).rows()) == 1
    assert len(exam_records(journal, {SAMPLE.id: SAMPLE})) == 4
    steps = labelled_steps(journal)
    assert [st.wrong for st in steps] == [False, True, False]
    assert steps[1].trajectory.endswith("Observation 1: 24\n")


def test_records_round_trip_through_jsonl(tmp_path):
    record = SFTRecord(messages=prompts_for("qa").step_messages("Who?", "", 1), completion=" x", kind="step",
                       source={"sample_id": "a"})
    path = tmp_path / "r.jsonl"
    assert write_jsonl(path, [record, record]) == 2
    assert read_records(path) == [record, record]
    path.write_text("not json\n")
    with pytest.raises(ValueError, match="r.jsonl:1"):
        read_records(path)


def test_step_body_refuses_a_step_without_its_label():
    assert step_body("Thought 2: go\nAction 2: finish[1]", 2) == " go\nAction 2: finish[1]"
    with pytest.raises(ValueError):
        step_body("Thought 3: go", 2)


def test_hint_carries_the_answer_and_rationale():
    assert "72" in hint_for(SAMPLE) and "48+24" in hint_for(SAMPLE)
    assert "48+24" not in hint_for(SAMPLE, with_rationale=False)
