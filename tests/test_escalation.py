"""Question-level escalation after a collaborative trajectory: in the engine and composed from runs."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from adaswitch.cli import _register, cli
from adaswitch.escalation import should_escalate, trajectory_risk
from adaswitch.evaluation.headline import benchmark_headline, markdown
from adaswitch.grading.metrics import auroc, default_escalation_thresholds, escalation_points, summarize_run
from adaswitch.grading.rundir import load_run
from adaswitch.trace import StepRecord, Trace

# GSM8K test 0-3 (gold 18, 3, 70000, 540), solved one at a time: the local agent answers 18 to
# everything; it is unsure of its first step on the first two questions (token log-probabilities
# -0.9) and sure of everything else (-0.01). The cloud answers 3 to everything.
LOCAL = {"rules": [
    {"match": "Thought 1:$", "text": " Compute.\nAction 1: calculate[9 * 2]", "logprob": -0.9, "times": 2},
    {"match": "Thought 1:$", "text": " Compute.\nAction 1: calculate[9 * 2]", "logprob": -0.01},
    {"match": "Thought 2:$", "text": " Done.\nAction 2: finish[18]", "logprob": -0.01}]}
CLOUD = {"rules": [{"match": "Thought 1:$", "text": " Half of 2 is 1, and 2 + 1 = 3.\nAction 1: finish[3]"}]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    _register()
    root = tmp_path_factory.mktemp("escalation")
    local, cloud = root / "local.json", root / "cloud.json"
    local.write_text(json.dumps(LOCAL))
    cloud.write_text(json.dumps(CLOUD))
    common = ["gsm8k", "--limit", "4", "--cache", "off", "--no-progress", "--workers", "1",
              "--local", f"fake:{local}", "--cloud", f"fake:{cloud}"]
    # nothing is switched at threshold 0.99: every step stays local
    adaswitch = ["--mode", "adaswitch", "--introspection", "confidence", "-t", "0.99"]
    commands = {
        "local": ["--mode", "local"],
        "cloud": ["--mode", "cloud"],
        "adaswitch": adaswitch,
        "escalated": [*adaswitch, "--escalate-above", "0.5"],
    }
    for name, args in commands.items():
        result = CliRunner().invoke(cli, ["eval", *common, *args, "--out", str(root / name)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return root


def _by_id(run):
    return {r.sample_id: r for r in load_run(run)[1]}


def test_a_risky_trajectory_goes_to_the_cloud_whole_and_both_are_paid_for(runs):
    records = _by_id(runs / "escalated")
    first, third = records["test-0"].trace, records["test-2"].trace
    # the first two questions had an unsure local step: the cloud's answer stands
    assert first.answer == "3" and [s.author for s in first.steps] == ["cloud"]
    assert first.escalation is not None and first.escalation.threshold == 0.5
    assert first.escalation.risk == max(s.p_error for s in first.escalation.trajectory.steps) > 0.5
    assert first.escalation.trajectory.answer == "18" and first.mode == "adaswitch"
    assert [s.author for s in first.paid_steps] == ["local", "local", "cloud"]
    assert first.usage_of("local").calls == 2 and first.usage_of("cloud").calls == 1
    assert not records["test-0"].score.correct and records["test-1"].score.correct
    # the other two were sure of every step: left as they were
    plain = _by_id(runs / "adaswitch")["test-2"].trace
    assert third.escalation is None and third.answer == "18" and [(s.text, s.p_error) for s in third.steps] == [(s.text, s.p_error) for s in plain.steps]
    # the record keeps the set-aside trajectory through a round trip
    assert Trace.from_json(first.to_json()).escalation == first.escalation


def test_composing_a_switching_run_with_the_cloud_only_run_gives_what_the_engine_gives(runs):
    config, engine_records = load_run(runs / "escalated")
    engine = summarize_run(config, engine_records)
    composed, = escalation_points(load_run(runs / "adaswitch")[1], load_run(runs / "cloud")[1], [0.5])
    assert composed.method == "escalation" and composed.note == "2 of 4 questions escalated to the cloud"
    assert composed.correct == engine.correct == {"test-0": False, "test-1": True, "test-2": False, "test-3": False}
    assert composed.cloud_share_steps == engine.cloud_share_steps == pytest.approx(2 / 10)
    assert composed.cloud.completion_tokens == engine.cloud.completion_tokens > 0
    assert composed.local.completion_tokens == engine.local.completion_tokens
    # the risk's AUROC against wrong answers: the wrong test-1 ties the right test-0 (both unsure), the
    # wrong test-2 and test-3 are surer than it: 0.5 of 3 pairs
    assert (composed.auroc, composed.auroc_n, composed.auroc_wrong) == (pytest.approx(0.5 / 3), 4, 3)
    # a threshold above every risk escalates nothing: the switching run itself
    untouched, = escalation_points(load_run(runs / "adaswitch")[1], load_run(runs / "cloud")[1], [0.99])
    assert untouched.correct == {"test-0": True, "test-1": False, "test-2": False, "test-3": False}
    assert untouched.cloud_share_steps == 0.0


def test_risk_is_the_least_sure_local_step_and_no_answer_always_escalates():
    steps = [StepRecord(index=1, author="local", text="a", p_error=0.2),
             StepRecord(index=2, author="cloud", text="b", p_error=0.9),  # the switched proposal's p: not the risk
             StepRecord(index=3, author="local", text="c", p_error=0.4)]
    trace = Trace(question="q", family="math", mode="adaswitch", local_model="m", steps=steps, answer="1")
    assert trajectory_risk(trace) == 0.4
    assert should_escalate(trace, 0.3) and not should_escalate(trace, 0.4)
    unanswered = trace.model_copy(update={"answer": None})
    assert trajectory_risk(unanswered) == 1.0 and should_escalate(unanswered, 1.0)


def test_thresholds_escalate_the_asked_shares_and_the_headline_shows_the_curve(runs):
    switching = load_run(runs / "adaswitch")[1]
    sure = trajectory_risk(switching[2].trace)
    # two risks (the unsure twice, the sure twice): escalating 10-30% of the questions escalates the tied two
    # unsure ones (just above the sure questions' risk); 100% would take the sure ones too, and the
    # lowest risk has nothing below it to set a threshold at
    assert default_escalation_thresholds(switching, shares=(0.1, 0.3)) == [sure]
    assert default_escalation_thresholds(switching, shares=(0.3, 1.0)) == [sure]
    assert default_escalation_thresholds([], shares=(0.1,)) == []
    h = benchmark_headline(runs / "local", runs / "cloud", [runs / "adaswitch"])
    escalations = [r for r in h.methods if r.method == "escalation"]
    assert [r.note for r in escalations] == ["2 of 4 questions escalated to the cloud"]
    assert escalations[0].question_auroc == pytest.approx(0.5 / 3, abs=1e-4)
    # the cascade's rows carry its final check's AUROC on the local run's answered questions
    checked = [(r.final_check_p, not r.score.correct) for r in load_run(runs / "local")[1] if r.final_check_p is not None]
    assert len(checked) == 4
    check_auroc = auroc([p for p, _ in checked], [w for _, w in checked])
    assert {r.question_auroc for r in h.methods if r.method == "cascade"} == {round(check_auroc, 4)}
    assert all(r.question_auroc is None for r in h.methods if r.method not in ("cascade", "escalation"))
    assert (f"the cascade's final check {check_auroc:.2f}; the risk of adaswitch confidence, τ 0.99 0.17."
            in markdown(h))
    assert escalations[0].label.startswith("adaswitch confidence, τ 0.99 + escalation@")
    assert {p.reference for p in h.paired if p.label == escalations[0].label} >= {"adaswitch confidence, τ 0.99"}


def test_an_engine_run_with_escalation_is_its_own_family_in_the_headline(runs):
    h = benchmark_headline(runs / "local", runs / "cloud", [runs / "escalated"])
    row, = (r for r in h.methods if r.run is not None and r.run.endswith("escalated"))
    assert row.method == "escalation" and row.label == "adaswitch confidence, τ 0.99 (escalation above 0.5)"
    assert row.cloud_share_steps == pytest.approx(2 / 10) and row.accuracy == 0.25


def test_solve_says_when_it_escalated(runs):
    result = CliRunner().invoke(cli, [
        "solve", "Natalia sold 9 clips twice. How many?", "--local", f"fake:{runs / 'local.json'}",
        "--cloud", f"fake:{runs / 'cloud.json'}", "--introspection", "confidence", "-t", "0.99",
        "--escalate-above", "0.5"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Answer: 3" in result.output
    assert "Escalated: the collaborative trajectory (2 steps, answer 18) had risk" in result.output


def test_a_bound_on_tokens_covers_the_trajectory_and_the_cloud_solution_together(runs):
    from adaswitch.solver import Solver, SolverSettings

    settings = SolverSettings(local=f"fake:{runs / 'local.json'}", cloud=f"fake:{runs / 'cloud.json'}",
                              introspection="confidence", threshold=0.99, escalate_above=0.5)
    with Solver(settings) as solver:
        spent = solver.solve("Natalia sold 9 clips twice. How many?")
        assert spent.escalation is not None
        used = sum(spent.escalation.trajectory.usage_of(a).completion_tokens for a in ("local", "cloud"))
        # a bound the trajectory used up leaves nothing for the cloud: the trajectory stands
        kept = solver.solve("Natalia sold 9 clips twice. How many?", max_tokens=used)
        assert kept.escalation is None and kept.answer == "18"
