"""The step oracle: the rules' verdict on a proposal as its probability of error, in eval only."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from adaswitch.actions import Action, ParsedStep, ToolResult
from adaswitch.backends.base import Completion
from adaswitch.backends.fake import FakeBackend, FakeScript
from adaswitch.benchmarks import get_benchmark
from adaswitch.benchmarks.base import Sample
from adaswitch.evaluation.runner import Method, run_method
from adaswitch.grading.records import EvalRecord
from adaswitch.grading.step_oracle import StepOracle, proposal_verdict
from adaswitch.introspection import StepView, make_introspector
from adaswitch.parsing import read_paragraph
from adaswitch.prompts import task_prompts
from adaswitch.solver import Solver, SolverSettings

MATH = Sample(id="m", benchmark="gsm8k", family="math", question="Ann has 13 apples and buys 25. She shares them "
              "equally with a friend. How many does each get?", answer="19", gold_values=["38", "19"])
QA = Sample(id="q", benchmark="hotpotqa", family="qa", question="Who directed the film?", answer="Ann Lee",
            gold_titles=["Film", "Ann Lee"])


def react_view(sample: Sample, action: Action, result: str | None, trajectory: str = "") -> StepView:
    return StepView(question=sample.question, prompts=task_prompts("react", sample.family), trajectory=trajectory,
                    index=1, step_text=f"Thought 1: t\nAction 1: {action.render()}",
                    parsed=ParsedStep(thought="t", action=action),
                    result=ToolResult(text=result) if result is not None else None, completion=Completion(text=""))


def paragraph_view(sample: Sample, text: str) -> StepView:
    return StepView(question=sample.question, prompts=task_prompts("paragraphs", "math"), trajectory="", index=1,
                    step_text=text, parsed=read_paragraph(text, "math"), result=None, completion=Completion(text=text))


@pytest.mark.parametrize(("text", "verdict"), [
    ("She has 13 + 25 = 38 apples.", "right"),
    ("She has 13 + 25 = 48 apples.", "wrong"),  # a result that is no gold value
    ("First count the apples she has in all.", "unknown"),  # no result: no rule
    ("Each gets 38 / 2 = 19. The answer is 19.", "right"),  # a finish, scored against the answer
    ("Each gets 38 / 2 = 19. The answer is 38.", "wrong"),
])
def test_a_paragraph_is_judged_by_its_results_and_its_answer(text, verdict):
    assert proposal_verdict(paragraph_view(MATH, text), MATH)[0] == verdict


def test_tool_steps_are_judged_against_gold_values_and_gold_paragraphs():
    calc = Action(tool="calculate", argument="13 + 25")
    assert proposal_verdict(react_view(MATH, calc, "38"), MATH) == ("right", "gold-value")
    assert proposal_verdict(react_view(MATH, calc, "37"), MATH) == ("wrong", "non-gold-value")
    search = Action(tool="search", argument="the film")
    found = "[Film] A 2001 film directed by Ann Lee."
    assert proposal_verdict(react_view(QA, search, found), QA)[0] == "right"
    seen_before = f"Observation 1: {found}\n"
    assert proposal_verdict(react_view(QA, search, found, trajectory=seen_before), QA)[0] == "wrong"


def test_the_oracle_maps_verdicts_to_probabilities_and_refuses_unknown_questions():
    oracle = StepOracle.for_samples([MATH])
    assert oracle.judge(paragraph_view(MATH, "So 13 + 25 = 48."), None).p_error == 1.0  # type: ignore[arg-type]
    assert oracle.judge(paragraph_view(MATH, "So 13 + 25 = 38."), None).p_error == 0.0  # type: ignore[arg-type]
    assert oracle.judge(paragraph_view(MATH, "Count them."), None).p_error == 0.5  # type: ignore[arg-type]
    stranger = MATH.model_copy(update={"question": "Another question?"})
    with pytest.raises(ValueError, match="not among the evaluated samples"):
        oracle.judge(paragraph_view(stranger, "1 + 1 = 2."), None)  # type: ignore[arg-type]
    # two samples with one question and different answers: the oracle cannot tell, so it says 0.5
    twin = MATH.model_copy(update={"id": "m2", "answer": "20", "gold_values": ["40", "20"]})
    ambiguous = StepOracle.for_samples([MATH, twin])
    assert ambiguous.judge(paragraph_view(MATH, "So 13 + 25 = 48."), None).p_error == 0.5  # type: ignore[arg-type]


def test_by_name_alone_the_oracle_is_a_clear_error_and_solve_refuses_it(tmp_path):
    with pytest.raises(ValueError, match="only adaswitch eval and sweep"):
        make_introspector("step-oracle")
    from adaswitch.cli import _register, cli

    _register()
    script = tmp_path / "s.json"
    script.write_text(json.dumps({"default": " Done.\nAction 1: finish[1]"}))
    result = CliRunner().invoke(cli, ["solve", "What is 1?", "--local", f"fake:{script}", "--cloud", f"fake:{script}",
                                      "--introspection", "step-oracle"])
    assert result.exit_code != 0 and "only adaswitch eval and sweep" in result.output


SCRIPT = {"rules": [{"match": "Thought 1:$", "text": " Compute.\nAction 1: calculate[9 * 2]"},
                    {"match": "Thought 2:$", "text": " Done.\nAction 2: finish[18]"}]}


def test_in_an_eval_the_cloud_takes_exactly_the_steps_the_rules_call_wrong(tmp_path):
    bench = get_benchmark("gsm8k")
    samples = bench.load(limit=2)  # test-0's gold path holds 18 (its answer), test-1's does not (3)
    assert samples[0].answer == "18" and "18" not in samples[1].gold_values
    local, cloud = FakeBackend(FakeScript(**SCRIPT), name="fake-local"), FakeBackend(FakeScript(**SCRIPT), name="fake-cloud")
    solver = Solver(SolverSettings(local="fake", cloud="fake", introspection="step-oracle"), local=local, cloud=cloud,
                    introspector=StepOracle.for_samples(samples))
    outcome = run_method(tmp_path / "run", bench, samples, Method("adaswitch", 0.7), solver)
    assert outcome.failed == []
    lines = (tmp_path / "run" / "records.jsonl").read_text().splitlines()
    records = {r.sample_id: r for r in (EvalRecord.model_validate_json(line) for line in lines)}
    right, wrong = records[samples[0].id].trace, records[samples[1].id].trace
    assert [s.author for s in right.steps] == ["local", "local"] and right.introspection == "step-oracle"
    assert [s.author for s in wrong.steps] == ["cloud", "cloud"]  # 18 is off test-1's gold path, and so is finish[18]
    assert wrong.steps[0].replaced[0].p_error == 1.0
