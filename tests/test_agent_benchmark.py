"""benchmarks/agent.py: the figures it computes from run records, on hand-made records."""

from __future__ import annotations

import pytest

from adaswitch.actions import Action
from adaswitch.grading.records import EvalRecord
from adaswitch.scoring import Extraction, Score
from adaswitch.trace import CallRecord, StepRecord, Trace


@pytest.fixture(scope="module")
def agent(benchmark_script):
    return benchmark_script("agent")


def _record(steps: list[StepRecord], correct: bool, status: str = "finished", f1: float | None = None) -> EvalRecord:
    trace = Trace(question="?", family="math", mode="local", local_model="m", steps=steps, status=status)
    return EvalRecord(sample_id="q", benchmark="gsm8k", gold="7", prediction="7" if correct else "8",
                      extraction=Extraction(answer="7", ok=True, method="finish"),
                      score=Score(correct=correct, value=float(correct), f1=f1), trace=trace)


def _step(index: int, action: Action | None = None, **kw) -> StepRecord:
    calls = [CallRecord(agent=kw.pop("agent", "local"), purpose="step", completion_tokens=10, latency_s=0.5)]
    return StepRecord(index=index, author=kw.pop("author", "local"), text=f"step {index}", action=action,
                      calls=calls, **kw)


def test_forced_steps_are_unreadable_failing_repeated_or_repaired_and_paragraphs_are_not(agent):
    calc = Action(tool="calculate", argument="3 + 4")
    records = [
        _record([_step(1, calc), _step(2, calc), _step(3, Action(tool="finish", argument="7"))], True),
        _record([_step(1, None, parse_error="no action found"), _step(2, calc, tool_ok=False),
                 _step(3, Action(tool="finish", argument="8"), repairs=["boxed_answer"])], False),
        _record([_step(1, None), _step(2, None), _step(3, Action(tool="finish", argument="7"))], True),
        _record([_step(1, calc, author="cloud", agent="cloud"), _step(2, calc)], False, status="max_steps"),
    ]
    counts = agent.step_counts(records)
    # local steps: 3 + 3 + 3 + 1; forced: a repeat, an unreadable one, a failing one, a repair,
    # and the local repeat of the cloud's call
    assert counts == {"steps": 10, "forced": 5}
    summary = agent.summarize(records)
    assert summary["n"] == 4 and summary["accuracy"] == 0.5
    assert summary["forced_share"] == 0.5 and summary["step_limit_share"] == 0.25
    # 10 tokens in 0.5 s per local call; the cloud's call is not the local agent's speed
    assert summary["tokens_per_s"] == 20.0


def test_f1_is_reported_when_the_benchmark_scores_it(agent):
    records = [_record([_step(1, Action(tool="finish", argument="x"))], True, f1=1.0),
               _record([_step(1, Action(tool="finish", argument="y"))], False, f1=0.5)]
    assert agent.summarize(records)["f1"] == 0.75
    assert agent.summarize([]) == {"n": 0}


def test_the_hand_off_effect_counts_repairs_and_breaks_on_shared_questions(agent):
    def rec(sample_id: str, correct: bool) -> EvalRecord:
        record = _record([_step(1, Action(tool="finish", argument="7"))], correct)
        return record.model_copy(update={"sample_id": sample_id})

    local = [rec("a", True), rec("b", False), rec("c", True), rec("d", False)]
    handoff = [rec("a", False), rec("b", True), rec("c", True), rec("e", True)]
    assert agent.handoff_effect(local, handoff) == {"paired": 3, "repaired": 1, "broken": 1}


def test_a_rebuilt_entry_keeps_what_was_measured_elsewhere_and_an_empty_one_changes_nothing(agent):
    old = {"step_format": "react", "n": 200, "accuracy": 0.37, "react": {"n": 200, "accuracy": 0.37},
           "cot_accuracy": 0.46, "cot_n": 200, "backend": "llama-server",
           "paired": {"react/local - cot": {"difference": -0.09}}}
    new = {"step_format": "paragraphs", "n": 200, "accuracy": 0.41, "paragraphs": {"n": 200, "accuracy": 0.41},
           "paired": {"paragraphs/local - cot": {"difference": -0.05}}}
    merged = agent.merge_entry(old, new)
    assert merged["step_format"] == "paragraphs" and merged["accuracy"] == 0.41
    assert merged["react"] == old["react"] and merged["paragraphs"] == new["paragraphs"]
    assert merged["cot_accuracy"] == 0.46 and merged["backend"] == "llama-server"
    assert set(merged["paired"]) == {"react/local - cot", "paragraphs/local - cot"}
    assert agent.merge_entry(old, {"step_format": "paragraphs"}) == old
    result = {"benchmarks": {}}
    agent._update(result, "svamp", "m", {"step_format": "paragraphs"})
    assert result == {"benchmarks": {"svamp": {}}}  # no run, no entry


def test_a_cloud_only_run_is_summarized_by_the_cloud_steps(agent):
    record = _record([_step(1, Action(tool="finish", argument="7"), author="cloud", agent="cloud")], True)
    record.trace.mode = "cloud"
    summary = agent.summarize([record])
    assert summary["forced_share"] == 0.0 and summary["tokens_per_s"] == 20.0
    assert agent.summarize([record], author="local")["forced_share"] is None


def test_the_math_chain_of_thought_gets_a_longer_cap_and_hand_offs_get_the_cloud(agent):
    math_cot = agent.solver_settings("math500", "qwen2.5-coder-0.5b", "cot", "paragraphs", workers=8)
    gsm8k_cot = agent.solver_settings("gsm8k", "qwen2.5-coder-0.5b", "cot", "paragraphs")
    assert math_cot.cot_max_tokens == 1024 and math_cot.local == "server:qwen2.5-coder-0.5b"
    assert gsm8k_cot.cot_max_tokens == 400 and gsm8k_cot.local == "qwen2.5-coder-0.5b"
    handoff = agent.solver_settings("gsm8k", "qwen2.5-coder-0.5b", "handoff2", "paragraphs+code")
    assert handoff.mode == "handoff" and handoff.cloud_steps == (2,) and handoff.cloud == "qwen2.5-coder-1.5b"
    assert handoff.step_format == "paragraphs" and handoff.run_code
