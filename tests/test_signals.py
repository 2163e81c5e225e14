"""The free step features, the consistency signal and the fitted combiner."""

from __future__ import annotations

import numpy as np
import pytest

from adaswitch.actions import Action, ParsedStep, ToolResult
from adaswitch.backends.base import Completion, TokenLogprob
from adaswitch.backends.fake import FakeBackend, FakeReply, FakeScript
from adaswitch.engine import Collaboration, EngineSettings
from adaswitch.grading.metrics import auroc
from adaswitch.introspection import (
    CombinedIntrospector,
    CombinerModel,
    ConsistencyIntrospector,
    StepView,
    fit_combiner,
    make_introspector,
)
from adaswitch.introspection.consistency import outcome_of, step_outcome
from adaswitch.introspection.features import entropy_of, step_features, token_features
from adaswitch.model import Model, RetryPolicy
from adaswitch.parsing import read_paragraph
from adaswitch.policies import make_policy
from adaswitch.prompts import task_prompts

QUESTION = "Ann has 13 apples and buys 25 more. How many apples does she have?"


def view(action: Action, result: ToolResult | None, index: int = 1, trajectory: str = "",
         completion: Completion | None = None) -> StepView:
    return StepView(question=QUESTION, prompts=task_prompts("react", "math"), trajectory=trajectory, index=index,
                    step_text=f"Thought {index}: t\nAction {index}: {action.render()}",
                    parsed=ParsedStep(thought="t", action=action), result=result,
                    completion=completion or Completion(text=""))


def test_structural_features_flag_what_is_odd_on_its_face():
    calc = step_features(view(Action(tool="calculate", argument="13 + 25"), ToolResult(text="38")))
    assert calc["numbers_unsupported"] == 0.0
    assert calc["result_negative"] == calc["result_fractional"] == calc["result_known"] == 0.0
    assert calc["position"] == 1.0 and calc["is_finish"] == 0.0
    odd = step_features(view(Action(tool="calculate", argument="13 - 40 / 3"), ToolResult(text="-0.3333333333")))
    assert odd["numbers_unsupported"] == pytest.approx(1 / 3)  # 40 comes from nowhere; 13 and 3 do
    assert odd["result_negative"] == odd["result_fractional"] == 1.0
    # a finish at step 1 with a number nobody computed, ignoring both numbers of the question
    early = step_features(view(Action(tool="finish", argument="7"), None))
    assert early["finish_first"] == early["finish_unsupported"] == early["question_numbers_unused"] == 1.0
    trajectory = "Thought 1: add\nAction 1: calculate[13 + 25]\nObservation 1: 38\n"
    done = step_features(view(Action(tool="finish", argument="38"), None, index=2, trajectory=trajectory))
    assert done["finish_first"] == done["finish_unsupported"] == done["question_numbers_unused"] == 0.0
    again = step_features(view(Action(tool="calculate", argument="25 + 13"), ToolResult(text="38"), index=2,
                               trajectory=trajectory))
    assert again["result_known"] == 1.0


def paragraph_view(text: str, index: int = 1, trajectory: str = "") -> StepView:
    parsed = read_paragraph(text, "math")
    return StepView(question=QUESTION, prompts=task_prompts("paragraphs", "math"), trajectory=trajectory,
                    index=index, step_text=text, parsed=parsed, result=None, completion=Completion(text=text))


def test_paragraph_features_check_the_arithmetic_a_paragraph_states():
    right = step_features(paragraph_view("She buys 25 more, so 13 + 25 = 38 apples."))
    assert right["equations"] == 1.0 and right["arithmetic_wrong"] == 0.0
    assert right["numbers_unsupported"] == 0.0 and right["is_finish"] == 0.0
    assert right["result_known"] == right["result_negative"] == right["result_fractional"] == 0.0
    wrong = step_features(paragraph_view("So 13 + 25 = 48 apples, and 48 / 3 = 16."))
    assert wrong["equations"] == 2.0 and wrong["arithmetic_wrong"] == 1.0
    rounded = step_features(paragraph_view("Each gets 25 / 3 = 8.33 apples, or $13 x 2 = $26."))
    assert rounded["equations"] == 2.0 and rounded["arithmetic_wrong"] == 0.0
    assert rounded["result_fractional"] == 0.0  # the last number stated is 26
    invented = step_features(paragraph_view("She had 9 baskets of 13, so 9 * 13 = 117."))
    assert invented["numbers_unsupported"] == pytest.approx(2 / 5)  # both 9s; 117 is its own result
    trajectory = "She buys 25 more, so 13 + 25 = 38 apples.\n\n"
    answer = step_features(paragraph_view("She has 38 apples.\nAnswer: 38", index=2, trajectory=trajectory))
    assert answer["is_finish"] == 1.0 and answer["finish_unsupported"] == 0.0
    assert answer["finish_first"] == answer["question_numbers_unused"] == 0.0
    guess = step_features(paragraph_view("Answer: 40"))
    assert guess["finish_unsupported"] == guess["finish_first"] == guess["question_numbers_unused"] == 1.0
    restated = step_features(paragraph_view("So she has 38.", index=2, trajectory=trajectory))
    assert restated["result_known"] == 1.0


def test_token_features_read_the_action_and_the_first_tokens():
    tokens = [TokenLogprob(token=t, logprob=lp, top=top) for t, lp, top in [
        (" add", -0.5, {" add": -0.5, " sum": -1.0}), ("\nAction", -0.1, {}), (" 1", -0.1, {}), (":", -0.1, {}),
        (" calculate", -2.0, {}), ("[", -0.2, {}),
    ]]
    features = token_features(Completion(text="", logprobs=tokens), 1)
    assert features["action_mean_logprob"] == pytest.approx(-1.1)
    assert features["action_min_logprob"] == -2.0 and features["min_logprob"] == -2.0
    assert features["first_logprob"] == pytest.approx(-0.2)
    p = np.exp([-0.5, -1.0])
    expected = -(p * np.log(p)).sum() - (1 - p.sum()) * np.log(1 - p.sum())
    assert features["first_entropy"] == pytest.approx(expected)  # only the first token has alternatives
    assert entropy_of(TokenLogprob(token="a", logprob=0.0)) is None
    assert token_features(Completion(text="x"), 1) == {}


def test_outcome_of_compares_what_steps_do():
    assert outcome_of(Action(tool="calculate", argument="3 + 4"), "math") == outcome_of(
        Action(tool="calculate", argument="4+3"), "math")
    assert outcome_of(Action(tool="finish", argument="2 + 5"), "math") == outcome_of(
        Action(tool="finish", argument="7"), "math")
    assert outcome_of(Action(tool="calculate", argument="1 / 0"), "math") is None
    assert outcome_of(Action(tool="search", argument="Paris  France"), "qa") == "search:paris france"
    assert outcome_of(None, "math") is None


def _engine(local: FakeBackend, introspector) -> Collaboration:
    retry = RetryPolicy(max_attempts=1, base_delay_s=0.0)
    cloud = Model(FakeBackend(name="fake-cloud"), "cloud", retry, sleep=lambda s: None)
    return Collaboration(Model(local, "local", retry, sleep=lambda s: None), cloud,
                         make_policy("adaswitch", threshold=1.0), introspector, EngineSettings(waste_retries=0))


def test_consistency_signal_is_the_share_of_samples_that_do_something_else():
    samples = [" Add.\nAction 1: calculate[25 + 13]", " Add.\nAction 1: calculate[13+25]",
               " Take away.\nAction 1: calculate[25 - 13]"]
    local = FakeBackend(FakeScript(queue=[FakeReply(text=" Add them.\nAction 1: calculate[13 + 25]"),
                                          *[FakeReply(text=t) for t in samples]],
                                   rules=[FakeReply(match=r"Thought 2:$", text=" Done.\nAction 2: finish[38]")]),
                        name="fake-local")
    trace = _engine(local, ConsistencyIntrospector(samples=3)).solve(QUESTION)
    first, second = trace.steps
    assert first.p_error == pytest.approx(1 / 3) and first.features["agreement"] == pytest.approx(2 / 3)
    assert first.features["position"] == 1.0 and "numbers_unsupported" in first.features
    assert [c.purpose for c in first.calls].count("judge") == 3
    sampled = [r for r in local.requests if getattr(r, "temperature", 0) > 0]
    assert len(sampled) == 6 and len({r.seed for r in sampled}) == 6  # three per step, each its own seed
    assert second.features["is_finish"] == 1.0
    assert trace.answer == "38" and not any(s.switched for s in trace.steps)  # τ = 1: judged, never switched


def test_a_paragraph_step_is_compared_by_the_last_value_it_states():
    assert step_outcome("13 and 25 make 38 apples.", None, "math") == step_outcome("So 25 + 13 = 38.", None, "math")
    assert step_outcome("13 and 25 make 38 apples.", None, "math") != step_outcome("25 - 13 = 12.", None, "math")
    assert step_outcome("First we add the apples.", None, "math") is None  # nothing to compare
    assert step_outcome("It was 1990.", None, "qa") is None
    assert step_outcome("x", Action(tool="finish", argument="38"), "math") == outcome_of(
        Action(tool="finish", argument="38"), "math")


def test_consistency_in_the_paragraph_format_compares_the_values_reached():
    samples = ["25 + 13 is 38.", "Together 38 apples.", "She has 12 left."]
    local = FakeBackend(FakeScript(queue=[FakeReply(text="She has 13 + 25 = 38 apples."),
                                          *[FakeReply(text=t) for t in samples]],
                                   default=FakeReply(text="Answer: 38")), name="fake-local")
    retry = RetryPolicy(max_attempts=1, base_delay_s=0.0)
    collaboration = Collaboration(
        Model(local, "local", retry, sleep=lambda s: None),
        Model(FakeBackend(name="fake-cloud"), "cloud", retry, sleep=lambda s: None),
        make_policy("adaswitch", threshold=1.0), ConsistencyIntrospector(samples=3),
        EngineSettings(waste_retries=0, step_format="paragraphs"))
    trace = collaboration.solve(QUESTION)
    first = trace.steps[0]
    assert first.action is None and first.features["agreement"] == pytest.approx(2 / 3)
    assert first.p_error == pytest.approx(1 / 3) and trace.answer == "38"


def test_combiner_learns_a_feature_and_its_file_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    signal, noise = rng.standard_normal(n), rng.standard_normal(n)
    wrong = (signal + 0.5 * rng.standard_normal(n)) > 0.5
    rows = [{"result_negative": float(s), "position": float(z)} for s, z in zip(signal, noise)]
    for row in rows[::7]:
        del row["position"]  # a missing feature weighs nothing
    groups = [f"q{i // 3}" for i in range(n)]
    model, held = fit_combiner(rows, wrong.tolist(), groups, ["result_negative", "position", "absent"],
                               fitted_on={"slice": "synthetic"})
    assert model.names == ("result_negative", "position")  # a feature no row has is dropped
    assert auroc(held.tolist(), wrong.tolist()) > 0.8
    assert model.weights[0] > 1.0 and abs(model.weights[1]) < model.weights[0] / 3
    assert model.fitted_on["questions"] == 100 and model.fitted_on["slice"] == "synthetic"
    path = model.save(tmp_path / "combiner.json")
    loaded = CombinerModel.load(path)
    assert loaded.p_error(rows[0]) == pytest.approx(model.p_error(rows[0]))
    signal_from_file = make_introspector("combined", probe_path=path)
    assert isinstance(signal_from_file, CombinedIntrospector) and not signal_from_file.needs_logprobs
    step = view(Action(tool="calculate", argument="13 - 40"), ToolResult(text="-27"))
    assert signal_from_file.judge(step, None).p_error == pytest.approx(model.p_error(step_features(step)))


def test_combiner_files_and_fits_refuse_bad_input(tmp_path):
    with pytest.raises(ValueError, match="needs a combiner file"):
        make_introspector("combined")
    with pytest.raises(ValueError, match="does not exist"):
        CombinerModel.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1, "names": ["a"], "weights": [1, 2], "bias": 0, "mean": [0], "std": [1]}')
    with pytest.raises(ValueError, match="malformed"):
        CombinerModel.load(bad)
    with pytest.raises(ValueError, match="both wrong and right"):
        fit_combiner([{"a": 1.0}], [True], ["q"], ["a"])
    with pytest.raises(ValueError, match="at least one alternative"):
        ConsistencyIntrospector(samples=0)


def test_recorded_features_are_scored_like_the_run_summary():
    from adaswitch.benchmarks.base import Sample
    from adaswitch.grading.metrics import summarize_run
    from adaswitch.grading.signals import feature_figures, feature_score, labelled_rows, rescored_with
    from tests.test_metrics import CONFIG, PRICES, record, step_computing
    from tests.test_metrics import finish as finish_step

    def with_features(step, **features):
        return step.model_copy(update={"features": features})

    # "a": steps 1 right (9), 2 wrong (13, off gold), then the wrong path; "b" right all along
    went_wrong = [with_features(step_computing(1, "16 - 7", "9", 0.5), min_logprob=-0.2, position=1),
                  with_features(step_computing(2, "9 + 4", "13", 0.2), min_logprob=-3.0, position=2),
                  with_features(finish_step(3, "local", "13", [], p=0.8), min_logprob=-2.0, position=3)]
    went_right = [with_features(step_computing(1, "16 - 7", "9", 0.1), min_logprob=-0.1, position=1),
                  with_features(step_computing(2, "9 * 2", "18", 0.3), min_logprob=-0.5, position=2),
                  finish_step(3, "local", "18", [], p=0.4)]  # judged, but its features were not recorded
    records = [record("a", went_wrong, False, answer="13"), record("b", went_right, True)]
    samples = {i: Sample(id=i, benchmark="gsm8k", family="math", question="q", answer="18", gold_values=["9", "18"])
               for i in "ab"}
    rows = labelled_rows(records, samples)
    assert [(r.question, r.position, r.wrong, r.before_first_error) for r in rows] == [
        ("a", 0, False, True), ("a", 1, True, True), ("a", 2, True, False),
        ("b", 0, False, True), ("b", 1, False, True), ("b", 2, False, True)]
    figures = feature_figures(records, "min_logprob", samples)
    # up to the first error: wrong {-3.0} is the least sure of right {-0.2, -0.1, -0.5, missing -> median}
    assert figures["auroc_first"] == 1.0 and figures["auroc_first_n"] == 5
    assert feature_score("min_logprob", {"min_logprob": -3.0}) > feature_score("min_logprob", {"min_logprob": -0.1})
    assert feature_score("position", {}) is None
    # a combiner that reads only the step's position scores exactly as the summary's position baseline
    summary = summarize_run(CONFIG, records, samples=samples, prices=PRICES)
    by_position = rescored_with(records, lambda f: f.get("position", 3.0) / 10, samples)
    assert by_position["auroc_first"] == summary.auroc_first_position
    assert by_position["auroc_within_wrong"] == summary.auroc_within_wrong_position


def test_answer_figures_rank_only_the_answers_the_rules_score():
    from adaswitch.benchmarks.base import Sample
    from adaswitch.grading.signals import answer_figures
    from tests.test_metrics import record, step_computing
    from tests.test_metrics import finish as finish_step

    def answer(step, logprob):
        return step.model_copy(update={"features": {"mean_logprob": logprob, "is_finish": 1.0}})

    def step_one(p):  # a sure-looking first step: it must not count, only the answers do
        return step_computing(1, "16 - 7", "9", p).model_copy(update={"features": {"mean_logprob": -0.01, "is_finish": 0.0}})

    # the wrong answers are the less sure ones, except "d", which is wrong and surer than "c"
    records = [record("a", [step_one(0.1), answer(finish_step(2, "local", "13", [], p=0.6), -2.0)], False, answer="13"),
               record("b", [step_one(0.1), answer(finish_step(2, "local", "18", [], p=0.2), -0.1)], True),
               record("c", [step_one(0.1), answer(finish_step(2, "local", "18", [], p=0.3), -0.3)], True),
               record("d", [step_one(0.1), answer(finish_step(2, "local", "7", [], p=0.2), -0.2)], False, answer="7")]
    samples = {i: Sample(id=i, benchmark="gsm8k", family="math", question="q", answer="18", gold_values=["9", "18"])
               for i in "abcd"}
    figures = answer_figures(records, "mean_logprob", samples)
    assert (figures["n"], figures["wrong"], figures["questions"]) == (4, 2, 4)
    # (wrong, right) pairs ordered right: a over b and c, d over b; not d over c (-0.2 is surer than -0.3)
    assert figures["auroc"] == 0.75
    assert figures["ci"] is not None and figures["ci"][0] <= 0.75 <= figures["ci"][1]
    assert answer_figures(records, "first_entropy", samples)["auroc"] is None  # not recorded: nothing to rank
