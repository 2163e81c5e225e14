"""The step-error rules on real traces from the scripted engine (and a few hand-built steps)."""

from __future__ import annotations

from adaswitch.actions import Action
from adaswitch.backends.fake import FakeBackend, FakeReply, FakeScript
from adaswitch.benchmarks.base import Sample
from adaswitch.benchmarks.gsm8k import parse_solution
from adaswitch.documents import Document
from adaswitch.engine import Collaboration, EngineSettings
from adaswitch.grading.rules import (
    first_mistake, is_gold_value, label_steps, local_judgments, retrieved_titles,
)
from adaswitch.introspection import VerifierIntrospector
from adaswitch.model import Model, RetryPolicy
from adaswitch.policies import make_policy
from adaswitch.trace import Proposal, StepRecord, Trace

# GSM8K test question 0, in the upstream format: gold values 9 and 18
JANET = ("Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins "
         "for her friends every day with four. She sells the remainder at the farmers' market daily for $2 "
         "per fresh duck egg. How much in dollars does she make every day at the farmers' market?")
JANET_SOLUTION = ("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n"
                  "She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer's market.\n#### 18")


def gsm8k_sample() -> Sample:
    rationale, final, values = parse_solution(JANET_SOLUTION)
    return Sample(id="test-0", benchmark="gsm8k", family="math", question=JANET, answer=final,
                  gold_values=values, rationale=rationale)


def step(n: int, text: str, times: int | None = None) -> FakeReply:
    return FakeReply(match=rf"Thought {n}:$", text=text, times=times)


def judge(n: int, p_no: float) -> FakeReply:
    return FakeReply(match=rf"step {n}\b", probs={"Yes": 1 - p_no, "No": p_no})


def solve(local: list[FakeReply], cloud: list[FakeReply] | None = None, mode: str = "local",
          probes: list[FakeReply] | None = None, question: str = JANET, family: str = "math",
          knowledge: list[Document] | None = None, **settings) -> Trace:
    """Run the real engine on scripted fake models."""
    policy = make_policy(mode, threshold=0.5)
    retry = RetryPolicy(max_attempts=1, base_delay_s=0.0)
    local_model = Model(FakeBackend(FakeScript(rules=local, probe_rules=probes or []), "fake-local"), "local", retry)
    cloud_model = Model(FakeBackend(FakeScript(rules=cloud or []), "fake-cloud"), "cloud", retry) if cloud else None
    engine = Collaboration(local_model, cloud_model, policy, VerifierIntrospector() if policy.needs_probability else None,
                           EngineSettings(**settings))
    return engine.solve(question, family=family, knowledge=knowledge)


def verdicts(trace: Trace, sample: Sample, correct: bool) -> list[tuple[str, str]]:
    return [(label.label, label.rule) for label in label_steps(trace, sample, correct)]


def test_gold_values_come_from_the_gsm8k_marks():
    assert gsm8k_sample().gold_values == ["9", "18"]


def test_a_trajectory_that_ends_right_is_right_throughout():
    trace = solve([step(1, " Eggs left.\nAction 1: calculate[16 - 3 - 4]"),
                   step(2, " Money.\nAction 2: calculate[2 * 9]"), step(3, " Done.\nAction 3: finish[18]")])
    assert verdicts(trace, gsm8k_sample(), True) == [
        ("right", "ends-right"), ("right", "ends-right"), ("right", "finish-right")]
    assert first_mistake(trace.steps, gsm8k_sample(), True) is None


def test_a_calculation_off_the_gold_values_is_the_first_mistake_of_a_wrong_trajectory():
    trace = solve([step(1, " Eggs left.\nAction 1: calculate[16 - 3 - 4]"),
                   step(2, " Money.\nAction 2: calculate[9 * 3]"), step(3, " Done.\nAction 3: finish[27]")])
    assert verdicts(trace, gsm8k_sample(), False) == [
        ("right", "gold-value"), ("wrong", "non-gold-value"), ("wrong", "finish-wrong")]
    assert first_mistake(trace.steps, gsm8k_sample(), False) == 1


def test_a_finish_with_a_wrong_answer_is_a_mistake_even_after_gold_steps():
    trace = solve([step(1, " Eggs left.\nAction 1: calculate[16 - 3 - 4]"), step(2, " Done.\nAction 2: finish[9]")])
    assert first_mistake(trace.steps, gsm8k_sample(), False) == 1


def test_unparseable_and_failing_steps_are_wrong_in_any_trajectory():
    trace = solve([step(1, " I wonder what to do."), step(2, " Divide.\nAction 2: calculate[18 / 0]"),
                   step(3, " Eggs.\nAction 3: calculate[16 - 3 - 4]"), step(4, " Money.\nAction 4: calculate[9 * 2]"),
                   step(5, " Done.\nAction 5: finish[18]")])
    labels = verdicts(trace, gsm8k_sample(), True)
    assert labels[:2] == [("wrong", "unparseable"), ("wrong", "tool-failed")]
    assert labels[2:] == [("right", "ends-right")] * 2 + [("right", "finish-right")]
    assert first_mistake(trace.steps, gsm8k_sample(), True) == 0


def test_a_repeated_tool_call_is_wrong_even_on_a_gold_value_and_in_a_right_trajectory():
    # a loop on a gold value used to earn one "right" label per repeat
    trace = solve([step(1, " Eggs left.\nAction 1: calculate[16 - 3 - 4]"),
                   step(2, " Again.\nAction 2: Calculate[16-3-4 ]"), step(3, " Money.\nAction 3: calculate[9 * 2]"),
                   step(4, " Done.\nAction 4: finish[18]")])
    assert verdicts(trace, gsm8k_sample(), False)[:2] == [("right", "gold-value"), ("wrong", "repeated-call")]
    assert verdicts(trace, gsm8k_sample(), True) == [
        ("right", "ends-right"), ("wrong", "repeated-call"), ("right", "ends-right"), ("right", "finish-right")]
    assert first_mistake(trace.steps, gsm8k_sample(), True) == 1


def test_a_repeated_finish_is_not_a_repeated_call():
    assert not Action(tool="finish", argument="18").repeats([Action(tool="finish", argument="18")])
    assert Action(tool="search", argument="Kiss and Tell").repeats([Action(tool="search", argument="kiss  and tell")])


def test_decimal_gold_values_match_the_exact_result_they_round():
    assert is_gold_value("3.3333333333", ["3.33"]) and is_gold_value("0.3333333333", ["1/3"])
    assert not is_gold_value("3.34", ["3.33"]) and not is_gold_value("calculate error", ["3"])
    assert is_gold_value("18", ["9", "18.0"]) and not is_gold_value("180", ["18"])


def test_math_without_gold_values_leaves_calculations_unknown():
    sample = gsm8k_sample().model_copy(update={"gold_values": []})
    trace = solve([step(1, " Money.\nAction 1: calculate[9 * 3]"), step(2, " Done.\nAction 2: finish[27]")])
    assert verdicts(trace, sample, False) == [("unknown", "no-rule"), ("wrong", "finish-wrong")]


DOCS = [Document(title="Blue Lake", text="Blue Lake lies in the town of Marrow."),
        Document(title="Marrow", text="Marrow was founded in 1820 by settlers."),
        Document(title="Red Hill", text="Red Hill is a granite mountain.")]


def qa_sample() -> Sample:
    return Sample(id="q", benchmark="hotpotqa", family="qa", question="When was the town of Blue Lake founded?",
                  answer="1820", knowledge=DOCS, gold_titles=["Blue Lake", "Marrow"])


def test_titles_are_read_from_search_observations():
    assert retrieved_titles("[Blue Lake] Blue Lake lies...\n[Red Hill] Red...", ["Blue Lake", "Marrow"]) == {"Blue Lake"}
    assert retrieved_titles("Blue Lake is mentioned but not as a title", ["Blue Lake"]) == set()


def test_a_search_without_a_new_gold_paragraph_is_wrong_when_the_answer_is_wrong():
    trace = solve([step(1, " Find it.\nAction 1: search[Blue Lake]"), step(2, " Again.\nAction 2: search[Blue Lake]"),
                   step(3, " Other.\nAction 3: search[granite mountain]"), step(4, " Done.\nAction 4: finish[1900]")],
                  question=qa_sample().question, family="qa", knowledge=DOCS)
    assert "[Blue Lake]" in trace.steps[0].observation and "[Red Hill]" in trace.steps[2].observation
    assert verdicts(trace, qa_sample(), False) == [
        ("right", "new-gold-paragraph"), ("wrong", "repeated-call"),
        ("wrong", "no-new-gold-paragraph"), ("wrong", "finish-wrong")]
    assert first_mistake(trace.steps, qa_sample(), False) == 1
    # in a trajectory that ends right the searches are right, but a repeated call is still wrong
    assert [v for v, _ in verdicts(trace, qa_sample(), True)][:3] == ["right", "wrong", "right"]


def test_a_switched_step_labels_the_replaced_local_proposal():
    local = [step(1, " Guess.\nAction 1: calculate[16 - 3]"), step(2, " Money.\nAction 2: calculate[9 * 2]"),
             step(3, " Done.\nAction 3: finish[18]")]
    cloud = [step(1, " Eggs left.\nAction 1: calculate[16 - 3 - 4]")]
    probes = [judge(1, 0.9), judge(2, 0.2), judge(3, 0.1)]
    trace = solve(local, cloud, "adaswitch", probes)
    assert trace.steps[0].author == "cloud" and trace.answer == "18"
    labels = label_steps(trace, gsm8k_sample(), True)
    first = labels[0]
    assert (first.label, first.author, first.switched) == ("right", "cloud", True)
    # a successful catch: the replaced calculation is off the gold values, so it is judged wrong on its
    # own merits although the trajectory the cloud's step put back on course ends right
    assert (first.replaced[0].label, first.replaced[0].rule) == ("wrong", "non-gold-value")
    assert first.replaced[0].p_error == 0.9
    # and in a trajectory that ends wrong it is wrong as well
    wrong = label_steps(trace, gsm8k_sample(), False)[0].replaced[0]
    assert (wrong.label, wrong.rule) == ("wrong", "non-gold-value")
    # p_error pairs: the replaced proposal (not the cloud step), then the two local steps
    pairs = local_judgments(label_steps(trace, gsm8k_sample(), False))
    assert [(round(p, 2), v) for p, v, _, _ in pairs] == [(0.9, "wrong"), (0.2, "right"), (0.1, "wrong")]
    assert [j.position for j in pairs] == [0, 1, 2]


def test_replaced_proposals_judged_alone_parse_errors_and_finish_answers():
    cloud = [step(1, " Eggs left.\nAction 1: calculate[16 - 3 - 4]"), step(2, " Money.\nAction 2: calculate[9 * 2]"),
             step(3, " Done.\nAction 3: finish[18]")]
    local = [step(1, " Hmm, let me think."), step(2, " Done.\nAction 2: finish[18]"), step(3, " Done.\nAction 3: finish[17]")]
    trace = solve(local, cloud, "adaswitch", [judge(2, 0.8), judge(3, 0.9)])
    assert [s.author for s in trace.steps] == ["cloud", "cloud", "cloud"]
    replaced = [label.replaced[0] for label in label_steps(trace, gsm8k_sample(), True)]
    assert [(r.label, r.rule) for r in replaced] == [
        ("wrong", "unparseable"), ("right", "finish-right"), ("wrong", "finish-wrong")]


def test_self_reflection_retries_are_labelled_with_their_own_probability():
    local = [step(1, " Guess.\nAction 1: calculate[16 - 3]", times=1), step(1, " Eggs.\nAction 1: calculate[16 - 3 - 4]"),
             step(2, " Money.\nAction 2: calculate[9 * 2]"), step(3, " Done.\nAction 3: finish[18]")]
    probes = [judge(1, 0.8).model_copy(update={"times": 1}), judge(1, 0.3), judge(2, 0.1), judge(3, 0.1)]
    trace = solve(local, mode="self-reflection", probes=probes)
    assert trace.steps[0].switched and trace.steps[0].author == "local"
    labels = label_steps(trace, gsm8k_sample(), False)
    assert labels[0].label == "right" and labels[0].replaced[0].label == "wrong"
    pairs = [(round(j.p_error, 2), j.verdict) for j in local_judgments(labels)]
    # the switched step's own p_error (0.8) belongs to the replaced first try; the kept retry has none
    assert pairs[0] == (0.8, "wrong") and (0.3, "right") not in pairs


def test_the_placeholder_of_a_failed_question_is_not_a_step():
    cloud = FakeScript(rules=[], faults=["auth"])
    retry = RetryPolicy(max_attempts=1, base_delay_s=0.0)
    engine = Collaboration(
        Model(FakeBackend(FakeScript(rules=[step(1, " Eggs.\nAction 1: calculate[16 - 3 - 4]")],
                                     probe_rules=[judge(1, 0.9)])), "local", retry),
        Model(FakeBackend(cloud), "cloud", retry), make_policy("adaswitch", 0.5), VerifierIntrospector(),
        EngineSettings(on_cloud_error="fail"))
    trace = engine.solve(JANET)
    assert trace.status == "error"
    assert verdicts(trace, gsm8k_sample(), False) == [("unknown", "no-step")]


def test_hand_built_steps():
    steps = [StepRecord(index=1, author="local", text="Thought 1: x\nAction 1: calculate[16-3-4]",
                        action=Action(tool="calculate", argument="16-3-4"), observation="9"),
             StepRecord(index=2, author="local", text="Thought 2: y\nAction 2: calculate[9*2.5]",
                        action=Action(tool="calculate", argument="9*2.5"), observation="22.5")]
    assert first_mistake(steps, gsm8k_sample(), False) == 1
    assert first_mistake(steps, gsm8k_sample(), True) is None


def test_a_replaced_proposal_on_the_gold_values_is_right_whatever_the_ending():
    local = [step(1, " Eggs left.\nAction 1: calculate[16 - 4 - 3]"), step(2, " Money.\nAction 2: calculate[9 * 2]"),
             step(3, " Done.\nAction 3: finish[18]")]
    cloud = [step(1, " Eggs left.\nAction 1: calculate[16 - 3 - 4]")]
    trace = solve(local, cloud, "adaswitch", [judge(1, 0.9), judge(2, 0.2), judge(3, 0.1)])
    for ends_right in (True, False):
        proposal = label_steps(trace, gsm8k_sample(), ends_right)[0].replaced[0]
        assert (proposal.label, proposal.rule) == ("right", "gold-value")


def test_a_replaced_search_is_judged_by_the_paragraphs_it_brings_in_any_trajectory():
    sample = qa_sample()
    before = [StepRecord(index=1, author="local", text="Thought 1: x\nAction 1: search[Blue Lake]",
                         action=Action(tool="search", argument="Blue Lake"),
                         observation="[Blue Lake] Blue Lake lies in the town of Marrow.")]
    stale = Proposal(author="local", text="Thought 2: x\nAction 2: search[lake]", action=Action(tool="search",
                     argument="lake"), observation="[Blue Lake] Blue Lake lies in the town of Marrow.", p_error=0.7)
    fresh = stale.model_copy(update={"action": Action(tool="search", argument="Marrow"),
                                     "observation": "[Marrow] Marrow was founded in 1820."})
    cloud = StepRecord(index=2, author="cloud", text="Thought 2: y\nAction 2: finish[Marrow]",
                       action=Action(tool="finish", argument="Marrow"), switched=True, replaced=[stale, fresh])
    trace = Trace(id="q", question="q", family="qa", mode="adaswitch", local_model="loc", steps=[*before, cloud],
                  answer="Marrow")
    replaced = label_steps(trace, sample, True, judge=lambda answer: None)[1].replaced
    assert [(r.label, r.rule) for r in replaced] == [("wrong", "no-new-gold-paragraph"),
                                                     ("right", "new-gold-paragraph")]


def test_a_paragraph_step_is_judged_by_the_results_it_writes():
    from adaswitch.benchmarks.base import Sample
    from adaswitch.grading.rules import step_verdicts
    from adaswitch.trace import StepRecord

    sample = Sample(id="q", benchmark="gsm8k", family="math", question="?", answer="9", gold_values=["13", "9"])
    steps = [
        StepRecord(index=1, author="local", text="Let's think."),
        StepRecord(index=2, author="local", text="She sells 16 - 3 = 13 eggs."),
        StepRecord(index=3, author="local", text="That gives 13 * 2 = 26 dollars."),
    ]
    verdicts = step_verdicts(steps, sample, final_correct=False)
    assert verdicts == [("unknown", "no-rule"), ("right", "gold-value"), ("wrong", "non-gold-value")]
    # a paragraph is never "unparseable"
    assert all(rule != "unparseable" for _, rule in verdicts)
