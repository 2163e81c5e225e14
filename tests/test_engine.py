"""The collaboration loop on the scripted fake backend: switching, policies, faults, accounting."""

from __future__ import annotations

import pytest

from adaswitch.backends.base import CompletionRequest
from adaswitch.backends.fake import FakeBackend, FakeReply, FakeScript
from adaswitch.documents import Document
from adaswitch.engine import Collaboration, EngineSettings
from adaswitch.introspection import (
    ConfidenceIntrospector,
    PositionIntrospector,
    VerifierIntrospector,
    make_introspector,
)
from adaswitch.model import Model, RetryPolicy
from adaswitch.policies import make_policy
from adaswitch.trace import Trace

QUESTION = "Ann has 3 apples and buys 4 more. How many apples does she have?"


def step(n: int, text: str, **kw) -> FakeReply:
    return FakeReply(match=rf"Thought {n}:$", text=text, **kw)


def judge(n: int, p_no: float) -> FakeReply:
    return FakeReply(match=rf"step {n}\b", probs={"Yes": 1 - p_no, "No": p_no})


def local_backend(**script) -> FakeBackend:
    script.setdefault(
        "rules",
        [step(1, " She adds the apples.\nAction 1: calculate[3 + 4]"), step(2, " She has 7.\nAction 2: finish[7]")],
    )
    return FakeBackend(FakeScript(**script), name="fake-local")


def cloud_backend(**script) -> FakeBackend:
    script.setdefault(
        "rules",
        [step(1, " Add 3 and 4.\nAction 1: calculate[4 + 3]"), step(2, " The total is 7.\nAction 2: finish[7]")],
    )
    return FakeBackend(FakeScript(**script), name="fake-cloud")


def engine(local: FakeBackend, cloud: FakeBackend | None, mode: str, threshold: float = 0.5, **kw) -> Collaboration:
    policy = make_policy(mode, threshold=threshold, switch_rate=kw.pop("switch_rate", 0.2))
    introspector = kw.pop("introspector", VerifierIntrospector() if policy.needs_probability else None)
    settings = EngineSettings(**kw)
    retry = RetryPolicy(max_attempts=3, base_delay_s=0.0)
    cloud_model = Model(cloud, "cloud", retry, sleep=lambda s: None) if cloud else None
    return Collaboration(Model(local, "local", retry, sleep=lambda s: None), cloud_model, policy, introspector, settings)


def test_local_mode_solves_with_tools_and_accounts_tokens():
    local = local_backend()
    trace = engine(local, None, "local").solve(QUESTION)
    assert trace.status == "finished"
    assert trace.answer == "7" and trace.answer_source == "finish"
    assert [s.author for s in trace.steps] == ["local", "local"]
    assert trace.steps[0].action.render() == "calculate[3 + 4]"
    assert trace.steps[0].observation == "7"
    usage = trace.usage_of("local")
    assert usage.calls == 2 and trace.usage_of("cloud").calls == 0
    # the second prompt extends the first: only the new part is recomputed
    second = trace.steps[1].calls[0]
    assert 0 < second.recomputed_prompt_tokens < second.prompt_tokens
    # the second prompt contains the first step and its observation
    assert "Action 1: calculate[3 + 4]\nObservation 1: 7\nThought 2:" in local.requests[1].messages[-1].content


def test_adaswitch_hands_a_flagged_step_to_the_cloud_then_returns_to_local():
    local = local_backend(probe_rules=[judge(1, 0.9), judge(2, 0.1)])
    cloud = cloud_backend()
    trace = engine(local, cloud, "adaswitch", threshold=0.5).solve(QUESTION)
    first, second = trace.steps
    assert first.author == "cloud" and first.switched and first.p_error == pytest.approx(0.9)
    assert first.text == "Thought 1: Add 3 and 4.\nAction 1: calculate[4 + 3]"
    assert first.replaced[0].author == "local" and first.replaced[0].action.argument == "3 + 4"
    assert second.author == "local" and not second.switched and second.p_error == pytest.approx(0.1)
    # the cloud was given the same trajectory the local agent had for step 1
    assert cloud.requests[0].messages == local.requests[0].messages
    # and the local agent continued from the cloud's step
    assert "calculate[4 + 3]" in local.requests[-2].messages[-1].content
    assert trace.cloud_steps == 1 and trace.switch_count == 1
    purposes = [c.purpose for c in first.calls]
    assert purposes == ["step", "judge", "step"]


def test_threshold_decides_the_switch():
    for threshold, expected in [(0.95, ["local", "local"]), (0.05, ["cloud", "cloud"])]:
        local = local_backend(probe_rules=[judge(1, 0.9), judge(2, 0.1)])
        trace = engine(local, cloud_backend(), "adaswitch", threshold=threshold).solve(QUESTION)
        assert [s.author for s in trace.steps] == expected


def test_unparseable_or_failing_step_has_probability_one_without_asking():
    local = local_backend(
        rules=[step(1, " I think about it for a while."), step(2, " Done.\nAction 2: finish[7]")],
        probe_rules=[judge(2, 0.0)],
    )
    trace = engine(local, cloud_backend(), "adaswitch", threshold=0.99).solve(QUESTION)
    assert trace.steps[0].author == "cloud" and trace.steps[0].p_error == 1.0
    assert trace.steps[0].replaced[0].parse_error
    assert all(c.purpose != "judge" for c in trace.steps[0].calls)

    local = local_backend(rules=[step(1, " Divide.\nAction 1: calculate[7 / 0]"), step(2, " ok\nAction 2: finish[7]")])
    trace = engine(local, cloud_backend(), "adaswitch", threshold=0.99).solve(QUESTION)
    assert trace.steps[0].p_error == 1.0 and trace.steps[0].replaced[0].tool_ok is False


def test_local_mode_keeps_an_invalid_step_and_shows_the_error_as_observation():
    local = local_backend(rules=[step(1, " Hmm."), step(2, " ok\nAction 2: finish[7]")])
    trace = engine(local, None, "local").solve(QUESTION)
    assert trace.steps[0].action is None and trace.steps[0].tool_ok is False
    assert "Invalid step" in trace.steps[0].observation
    assert "Observation 1: Invalid step" in local.requests[1].messages[-1].content
    assert trace.answer == "7"


def test_cloud_errors_fall_back_to_the_local_step_and_are_recorded():
    local = local_backend(probe_rules=[judge(1, 0.9), judge(2, 0.1)])
    cloud = cloud_backend(faults=["server_error", "timeout", "server_error"])
    trace = engine(local, cloud, "adaswitch").solve(QUESTION)
    assert trace.status == "finished" and trace.answer == "7"
    first = trace.steps[0]
    assert first.author == "local" and not first.switched
    assert [f.kind for f in first.faults] == ["server_error", "timeout", "server_error"]
    assert [f.outcome for f in first.faults] == ["retried", "retried", "fell_back_to_local"]
    assert len(trace.faults) == 3


def test_cloud_errors_can_fail_the_question_instead():
    local = local_backend(probe_rules=[judge(1, 0.9)])
    cloud = cloud_backend(faults=["auth"])
    trace = engine(local, cloud, "adaswitch", on_cloud_error="fail").solve(QUESTION)
    assert trace.status == "error" and "cloud agent failed" in trace.error
    assert trace.faults[-1].outcome == "failed_question" and trace.faults[-1].kind == "auth"
    assert trace.answer is None


def test_a_retry_succeeds_after_transient_faults():
    local = local_backend(probe_rules=[judge(1, 0.9), judge(2, 0.1)])
    cloud = cloud_backend(faults=["rate_limit", None])
    trace = engine(local, cloud, "adaswitch").solve(QUESTION)
    assert trace.steps[0].author == "cloud"
    assert [f.outcome for f in trace.steps[0].faults] == ["retried"]
    assert trace.steps[0].calls[-1].attempts == 2


def test_cloud_mode_writes_every_step_and_falls_back_when_down():
    trace = engine(local_backend(), cloud_backend(), "cloud").solve(QUESTION)
    assert [s.author for s in trace.steps] == ["cloud", "cloud"] and trace.usage_of("local").calls == 0
    trace = engine(local_backend(), cloud_backend(faults=["connection"] * 3), "cloud").solve(QUESTION)
    assert trace.steps[0].author == "local" and trace.steps[0].faults[-1].outcome == "fell_back_to_local"


def test_self_reflection_redoes_a_flagged_step_locally():
    local = local_backend(
        rules=[
            step(1, " Subtract.\nAction 1: calculate[3 - 4]", times=1),
            step(1, " Add.\nAction 1: calculate[3 + 4]"),
            step(2, " Done.\nAction 2: finish[7]"),
        ],
        probe_rules=[judge(1, 0.8).model_copy(update={"times": 1}), judge(1, 0.2), judge(2, 0.1)],
    )
    trace = engine(local, None, "self-reflection", threshold=0.5).solve(QUESTION)
    first = trace.steps[0]
    assert first.author == "local" and first.switched
    assert first.action.argument == "3 + 4" and first.replaced[0].action.argument == "3 - 4"
    assert [c.purpose for c in first.calls] == ["step", "judge", "retry", "judge"]
    retry_request = local.requests[2]
    assert retry_request.temperature > 0
    assert trace.answer == "7"


def test_random_switching_follows_its_rate():
    all_cloud = engine(local_backend(), cloud_backend(), "random", switch_rate=1.0).solve(QUESTION)
    assert [s.author for s in all_cloud.steps] == ["cloud", "cloud"]
    none = engine(local_backend(), cloud_backend(), "random", switch_rate=0.0).solve(QUESTION)
    assert [s.author for s in none.steps] == ["local", "local"]


def test_confidence_introspection_reads_step_logprobs():
    local = local_backend(
        rules=[
            step(1, " Add.\nAction 1: calculate[3 + 4]", logprob=-3.0),
            step(2, " Done.\nAction 2: finish[7]", logprob=-0.01),
        ]
    )
    trace = engine(local, cloud_backend(), "adaswitch", threshold=0.5, introspector=ConfidenceIntrospector()).solve(QUESTION)
    assert trace.steps[0].author == "cloud" and trace.steps[0].p_error > 0.9
    assert trace.steps[1].author == "local" and trace.steps[1].p_error < 0.5
    assert local.requests[0].logprobs is True


def test_position_baseline_hands_later_steps_to_the_cloud_without_asking_the_model():
    local = local_backend()
    position = PositionIntrospector()
    trace = engine(local, cloud_backend(), "adaswitch", threshold=0.3, introspector=position).solve(QUESTION)
    # p = (index - 1) / (index - 1 + 2): 0 for step 1, 1/3 for step 2
    assert [s.p_error for s in trace.steps] == [0.0, pytest.approx(1 / 3)]
    assert [s.author for s in trace.steps] == ["local", "cloud"]
    assert all(c.purpose == "step" for s in trace.steps for c in s.calls)  # no judge calls
    assert trace.answer == "7"
    kept = engine(local_backend(), cloud_backend(), "adaswitch", threshold=0.5,
                  introspector=make_introspector("position")).solve(QUESTION)
    assert [s.author for s in kept.steps] == ["local", "local"]
    with pytest.raises(ValueError, match="positive"):
        PositionIntrospector(scale=0)


def test_step_budget_ends_with_fallback_extraction():
    local = local_backend(rules=[FakeReply(match="Thought", text=" The answer is 12.\nAction: calculate[6 * 2]")])
    trace = engine(local, None, "local", max_steps=3).solve(QUESTION)
    assert trace.status == "max_steps" and len(trace.steps) == 3
    assert trace.answer_source in ("fallback", "none")


def test_qa_family_searches_the_knowledge_base():
    docs = [
        Document(title="Blue Lake", text="Blue Lake is a lake in the town of Marrow."),
        Document(title="Marrow", text="Marrow is a town founded in 1820."),
    ]
    local = local_backend(
        rules=[step(1, " Find the town.\nAction 1: search[Blue Lake]"), step(2, " Marrow.\nAction 2: finish[Marrow]")]
    )
    trace = engine(local, None, "local").solve("Which town is Blue Lake in?", family="qa", knowledge=docs)
    assert "Marrow" in trace.steps[0].observation and trace.answer == "Marrow"
    with pytest.raises(ValueError, match="knowledge base"):
        engine(local_backend(), None, "local").solve("Which town?", family="qa")


def test_trace_round_trips_through_json():
    local = local_backend(probe_rules=[judge(1, 0.9), judge(2, 0.1)])
    trace = engine(local, cloud_backend(faults=["server_error", None]), "adaswitch").solve(QUESTION, question_id="q1")
    text = trace.to_json()
    back = Trace.from_json(text)
    assert back == trace
    assert back.usage["cloud"].calls == trace.usage_of("cloud").calls == 1
    assert '"version":1' in text.replace(" ", "")


def test_modes_validate_their_inputs():
    with pytest.raises(ValueError, match="needs a cloud"):
        engine(local_backend(), None, "adaswitch")
    with pytest.raises(ValueError):
        make_policy("bogus")
    with pytest.raises(ValueError):
        make_policy("adaswitch", threshold=1.5)


def test_a_step_repeating_an_earlier_tool_call_has_probability_one():
    local = local_backend(
        rules=[
            step(1, " Add.\nAction 1: calculate[3 + 4]"),
            step(2, " Add again.\nAction 2: calculate[3+4]"),
            step(3, " Done.\nAction 3: finish[7]"),
        ],
        probe_rules=[judge(1, 0.0), judge(2, 0.0), judge(3, 0.0)],
    )
    cloud = cloud_backend(rules=[step(2, " The total is 7.\nAction 2: finish[7]")])
    trace = engine(local, cloud, "adaswitch", threshold=0.9).solve(QUESTION)
    assert trace.steps[0].author == "local"
    assert trace.steps[1].author == "cloud" and trace.steps[1].p_error == 1.0
    assert trace.answer == "7"


@pytest.mark.parametrize(
    "argument,family,expected",
    [("4 + 5", "math", ("9", "finish_calculated")), ("18", "math", ("18", "finish")),
     ("$1,200", "math", ("$1,200", "finish")), ("2/3 * 6", "math", ("4", "finish_calculated")),
     ("1990-1995", "qa", ("1990-1995", "finish")), ("yes", "math", ("yes", "finish"))],
)
def test_a_finish_with_arithmetic_is_computed_for_math(argument, family, expected):
    from adaswitch.trajectory import final_answer

    assert final_answer(argument, family) == expected


def test_a_wasted_step_is_resampled_and_the_first_useful_try_is_kept():
    local = local_backend(
        rules=[
            step(1, " Add.\nAction 1: calculate[3 + 4]"),
            step(2, " Add again.\nAction 2: calculate[3+4]", times=1),
            step(2, " She has 7.\nAction 2: finish[7]"),
        ]
    )
    trace = engine(local, None, "local").solve(QUESTION)
    second = trace.steps[1]
    assert second.action.render() == "finish[7]" and trace.answer == "7"
    assert [w.action.render() for w in second.wasted] == ["calculate[3+4]"]
    assert [c.purpose for c in second.calls] == ["step", "resample"]
    # re-sampling draws at the retry temperature with its own seed
    resample = local.requests[2]
    assert resample.temperature > 0 and resample.seed != local.requests[1].seed


@pytest.mark.parametrize(
    "second",
    [" Again.\nAction 2: calculate[4 + 3]",  # a value an earlier observation gave
     " Copy.\nAction 2: calculate[7]"],  # computes nothing
)
def test_known_values_are_wasted_steps_too(second):
    local = local_backend(
        rules=[step(1, " Add.\nAction 1: calculate[3 + 4]"), step(2, second, times=1), step(2, " Done.\nAction 2: finish[7]")]
    )
    trace = engine(local, None, "local").solve(QUESTION)
    assert trace.steps[1].action.tool == "finish" and len(trace.steps[1].wasted) == 1


def test_a_step_wasted_on_every_try_is_kept_once_with_its_tries_recorded():
    local = local_backend(
        rules=[step(1, " Add.\nAction 1: calculate[3 + 4]"), step(2, " Again.\nAction 2: calculate[3 + 4]"),
               step(3, " Done.\nAction 3: finish[7]")]
    )
    trace = engine(local, None, "local", waste_retries=2).solve(QUESTION)
    assert trace.steps[1].action.render() == "calculate[3 + 4]"
    assert len(trace.steps[1].wasted) == 2 and len(trace.steps[1].calls) == 3
    assert trace.answer == "7"


def test_under_a_grammar_a_step_wasted_on_every_try_must_answer():
    # the fake ignores grammars, so the finish-only try is told apart by its grammar
    class AnswersWhenMade(FakeBackend):
        def complete(self, request):
            if request.grammar is not None and '"calculate["' not in request.grammar:
                return super().complete(request.model_copy(update={"messages": [
                    *request.messages[:-1], request.messages[-1].model_copy(update={"content": "FINISH ONLY"})]}))
            return super().complete(request)

    local = AnswersWhenMade(FakeScript(rules=[
        step(1, " Add.\nAction 1: calculate[3 + 4]"), step(2, " Again.\nAction 2: calculate[3 + 4]"),
        FakeReply(match="FINISH ONLY", text=" So she has 7.\nAction 2: finish[7]")]))
    local.honours_grammar = True
    trace = engine(local, None, "local", waste_retries=2).solve(QUESTION)
    second = trace.steps[1]
    assert second.action.render() == "finish[7]" and trace.answer == "7" and len(trace.steps) == 2
    assert len(second.wasted) == 3 and [c.purpose for c in second.calls] == ["step", "resample", "resample", "resample"]
    finish_only = local.requests[-1].grammar
    assert 'action ::= "finish[" answer "]"' in finish_only and "search[" not in finish_only


def test_handoff_mode_has_the_cloud_write_exactly_the_chosen_steps():
    local = local_backend(rules=[step(1, " Wrong.\nAction 1: calculate[3 * 4]"), step(2, " She has 7.\nAction 2: finish[7]")])
    cloud = cloud_backend()
    collaboration = engine(local, cloud, "handoff")
    assert collaboration.policy.cloud_steps == (1,)
    trace = collaboration.solve(QUESTION)
    assert [s.author for s in trace.steps] == ["cloud", "local"]
    assert trace.answer == "7" and trace.settings["cloud_steps"] == [1]
    # the local agent is not asked for the step the cloud writes
    assert len(local.requests) == 1 and local.requests[0].messages[-1].content.endswith("Thought 2:")


def test_handoff_needs_step_indices():
    with pytest.raises(ValueError, match="handoff"):
        make_policy("handoff", cloud_steps=())


@pytest.mark.parametrize("constrain", [True, False])
def test_steps_carry_the_step_grammar_to_backends_that_honour_one(constrain):
    local = local_backend()
    local.honours_grammar = True
    trace = engine(local, None, "local", constrain=constrain).solve(QUESTION)
    grammars = [r.grammar for r in local.requests]
    if constrain:
        assert all(g is not None for g in grammars)
        assert '"Action 1: "' in grammars[0] and '"Action 2: "' in grammars[1]
        assert all(c.constrained for s in trace.steps for c in s.calls)
    else:
        assert grammars == [None, None]
        assert not any(c.constrained for s in trace.steps for c in s.calls)


def test_backends_that_take_no_grammar_get_none_and_the_answer_type_shapes_finish():
    local = local_backend()
    engine(local, None, "local").solve(QUESTION)
    assert [r.grammar for r in local.requests] == [None, None]
    honouring = local_backend()
    honouring.honours_grammar = True
    engine(honouring, None, "local").solve(QUESTION, answer_type="latex")
    assert "lchar" in honouring.requests[0].grammar


def paragraph(n: int, text: str, **kw) -> FakeReply:
    """A reply to the prompt of paragraph ``n`` (the trajectory so far holds ``n - 1`` paragraphs)."""
    if n == 1:
        return FakeReply(match=r"^$", text=text, **kw)
    return FakeReply(match=rf"^(?:[^\n]+\n\n){{{n - 1}}}$", text=text, **kw)


def test_paragraph_format_writes_plain_reasoning_and_finishes_on_the_stated_answer():
    local = FakeBackend(FakeScript(rules=[
        paragraph(1, "Ann starts with 3 apples and buys 4, so she has 3 + 4 = 7."),
        paragraph(2, "Answer: 7"),
    ]), name="fake-local")
    trace = engine(local, None, "local", step_format="paragraphs").solve(QUESTION)
    assert trace.answer == "7" and trace.status == "finished"
    first, last = trace.steps
    assert first.action is None and first.parse_error is None and first.observation == ""
    assert last.action.tool == "finish"
    # no tools, no grammar, a blank line ends a step and separates steps in the prompt
    assert local.requests[0].stop == ["\n\n"] and local.requests[0].grammar is None
    assert local.requests[1].messages[-1].content == "Ann starts with 3 apples and buys 4, so she has 3 + 4 = 7.\n\n"
    assert "Think step by step" in local.requests[0].messages[0].content


def test_paragraph_steps_switch_to_the_cloud_like_any_step():
    local = FakeBackend(FakeScript(
        rules=[paragraph(1, "She has 3 * 4 = 12 apples."), paragraph(2, "Answer: 7")],
        probe_rules=[judge(1, 0.9), judge(2, 0.1)],
    ), name="fake-local")
    cloud = FakeBackend(FakeScript(rules=[paragraph(1, "She has 3 + 4 = 7 apples.")]), name="fake-cloud")
    trace = engine(local, cloud, "adaswitch", threshold=0.5, step_format="paragraphs").solve(QUESTION)
    assert [s.author for s in trace.steps] == ["cloud", "local"]
    assert trace.steps[0].p_error == 0.9 and trace.steps[0].replaced[0].text == "She has 3 * 4 = 12 apples."
    # the local agent carries on from the cloud's paragraph
    steps = [r for r in local.requests if isinstance(r, CompletionRequest)]
    assert steps[-1].messages[-1].content == "She has 3 + 4 = 7 apples.\n\n"


def test_a_paragraph_that_announces_what_follows_takes_the_next_paragraph_into_its_step():
    local = FakeBackend(FakeScript(rules=[
        paragraph(1, "To solve this, we follow these steps:"), paragraph(2, "She has 3 + 4 = 7 apples."),
        paragraph(3, "Answer: 7"),
    ]), name="fake-local")
    trace = engine(local, None, "local", step_format="paragraphs").solve(QUESTION)
    first, last = trace.steps
    assert first.text == "To solve this, we follow these steps:\n\nShe has 3 + 4 = 7 apples."
    assert [c.purpose for c in first.calls] == ["step", "step"] and last.action.tool == "finish"
    assert local.requests[1].messages[-1].content == "To solve this, we follow these steps:\n\n"
    # a cloud step that only announces its plan goes on the same way, and a step stops taking
    # paragraphs in after two
    cloud = FakeBackend(FakeScript(rules=[paragraph(1, "Steps:"), paragraph(2, "First:"), paragraph(3, "Then:"),
                                          paragraph(4, "Never asked.")]), name="fake-cloud")
    rest = FakeBackend(FakeScript(default=FakeReply(text="Answer: 7")), name="fake-local")
    trace = engine(rest, cloud, "handoff", step_format="paragraphs").solve(QUESTION)
    assert trace.steps[0].author == "cloud" and trace.steps[0].text == "Steps:\n\nFirst:\n\nThen:"
    assert len(cloud.requests) == 3


def test_a_paragraph_format_text_that_ends_without_an_answer_line_is_answered_from_its_last_number():
    local = FakeBackend(FakeScript(rules=[paragraph(1, "So she has 7 apples."), paragraph(2, "")]), name="fake-local")
    trace = engine(local, None, "local", step_format="paragraphs").solve(QUESTION)
    assert trace.answer == "7" and trace.steps[-1].repairs == ["answer_from_text"]


def test_a_repeated_paragraph_is_a_wasted_step():
    local = FakeBackend(FakeScript(rules=[
        paragraph(1, "She buys 4 more."), paragraph(2, "She buys 4 more.", times=1), paragraph(2, "Answer: 7"),
    ]), name="fake-local")
    trace = engine(local, None, "local", step_format="paragraphs").solve(QUESTION)
    assert trace.answer == "7" and len(trace.steps[1].wasted) == 1


def test_unknown_step_formats_are_refused():
    with pytest.raises(ValueError, match="step format"):
        EngineSettings(step_format="haiku")


def test_a_thought_that_uses_up_the_step_budget_still_gets_its_action():
    from adaswitch.engine import ACTION_TOKENS

    long_thought = " First list the numbers: " + " ".join(str(n) for n in range(40))
    script = FakeScript(rules=[
        FakeReply(match=r"Thought 1:$", text=long_thought),
        FakeReply(match=r"\nAction 1: $", text="calculate[3 + 4]\n"),
        FakeReply(match=r"Thought 2:$", text=" Done.\nAction 2: finish[7]"),
    ])
    local = FakeBackend(script, name="fake-long")
    local.honours_grammar = True
    trace = engine(local, None, "local", max_step_tokens=12).solve(QUESTION)
    first = trace.steps[0]
    assert first.action is not None and first.action.tool == "calculate" and first.observation == "7"
    assert [c.purpose for c in first.calls] == ["step", "action"]
    action_request = local.requests[1]
    assert action_request.grammar.startswith("root ::= action") and action_request.max_tokens == ACTION_TOKENS
    assert action_request.messages[-1].content.endswith(" 6 7\nAction 1: ")
    assert trace.answer == "7"
    # without a grammar the engine cannot rely on the action being readable: the step stays forced
    plain = FakeBackend(script, name="fake-long")
    unconstrained = engine(plain, None, "local", max_step_tokens=12).solve(QUESTION)
    assert unconstrained.steps[0].action is None and len(plain.requests[0].messages) and "action" not in [
        c.purpose for c in unconstrained.steps[0].calls]


def test_a_repairing_takeover_rewrites_the_wrong_first_step():
    # the local agent multiplies where it should add, then finishes with its own (wrong) value; the
    # local verifier doubts only the finish; the cloud's own version of step 1 computes another value
    local_rules = [
        step(1, " Multiply.\nAction 1: calculate[3 * 4]"),
        FakeReply(match=r"Observation 1: 12\nThought 2:$", text=" Done.\nAction 2: finish[12]"),
        FakeReply(match=r"Observation 1: 7\nThought 2:$", text=" Done.\nAction 2: finish[7]"),
    ]
    cloud_rules = [step(1, " Add them.\nAction 1: calculate[3 + 4]"),
                   FakeReply(match=r"Observation 1: 12\nThought 2:$", text=" So 12.\nAction 2: finish[12]"),
                   FakeReply(match=r"Observation 1: 7\nThought 2:$", text=" So 7.\nAction 2: finish[7]")]
    doubts_the_finish = {"probe_rules": [judge(2, 0.9)], "probe_default": {"Yes": 0.9, "No": 0.1}}
    paper = engine(local_backend(rules=local_rules, **doubts_the_finish), cloud_backend(rules=cloud_rules),
                   "adaswitch").solve(QUESTION)
    assert paper.answer == "12" and [s.author for s in paper.steps] == ["local", "cloud"]  # carries the error on

    cloud = cloud_backend(rules=cloud_rules)
    collab = engine(local_backend(rules=local_rules, **doubts_the_finish), cloud, "adaswitch")
    collab.policy = make_policy("adaswitch", threshold=0.5, repair_back=2)
    trace = collab.solve(QUESTION)
    assert trace.answer == "7"
    first, second = trace.steps
    assert first.author == "cloud" and first.index == 1 and first.action.argument == "3 + 4"
    assert first.observation == "7" and first.switched
    assert [p.action.argument for p in first.revised] == ["3 * 4"]  # the local step the cloud rewrote
    assert first.replaced[0].action.argument == "12"  # the flagged finish that set off the review
    # the cloud's version of step 1 is the repair itself: one cloud call, no second one for the step
    assert [c.purpose for c in first.calls if c.agent == "cloud"] == ["review"]
    assert sum(c.purpose == "step" and c.agent == "local" for c in first.calls) == 2  # the old step 1 is paid for
    # the review saw only the question: the cloud's version of step 1 was written from no steps at all
    assert cloud.requests[0].messages[-1].content.rstrip().endswith("Thought 1:")
    # the local verifier doubts every step 2, so the cloud writes it too; step 1 is its own now, not reviewed
    assert second.author == "cloud" and second.action.argument == "7" and not second.revised
    assert [c.purpose for c in second.calls if c.agent == "cloud"] == ["step"]
    assert trace.settings["repair_back"] == 2


def test_a_review_that_finds_nothing_wrong_is_the_papers_takeover():
    # the cloud's version of step 1 is written another way (4 + 3) but computes the same value
    local = local_backend(probe_rules=[judge(2, 0.9)], probe_default={"Yes": 0.9, "No": 0.1})
    cloud = cloud_backend()
    collab = engine(local, cloud, "adaswitch")
    collab.policy = make_policy("adaswitch", threshold=0.5, repair_back=3)
    trace = collab.solve(QUESTION)
    assert [s.author for s in trace.steps] == ["local", "cloud"] and not trace.steps[1].revised
    assert trace.steps[0].action.argument == "3 + 4"
    assert [c.purpose for c in trace.steps[1].calls if c.agent == "cloud"] == ["review", "step"]
    with pytest.raises(ValueError, match="0 or more steps back"):
        make_policy("adaswitch", repair_back=-1)


def test_a_review_version_that_cannot_be_compared_judges_nothing():
    # the cloud's version of step 1 fails in the calculator: no evidence against the local step
    local = local_backend(probe_rules=[judge(2, 0.9)], probe_default={"Yes": 0.9, "No": 0.1})
    cloud = cloud_backend(rules=[step(1, " Hmm.\nAction 1: calculate[3 / 0]"),
                                 step(2, " The total is 7.\nAction 2: finish[7]")])
    collab = engine(local, cloud, "adaswitch")
    collab.policy = make_policy("adaswitch", threshold=0.5, repair_back=1)
    trace = collab.solve(QUESTION)
    assert [s.author for s in trace.steps] == ["local", "cloud"] and trace.answer == "7"
    assert not trace.steps[1].revised and trace.steps[0].action.argument == "3 + 4"
    assert [c.purpose for c in trace.steps[1].calls if c.agent == "cloud"] == ["review", "step"]


def test_max_tokens_bounds_what_the_agents_write_in_all():
    local = local_backend()
    unbounded = engine(local, None, "local").solve(QUESTION)
    written = sum(c.completion_tokens for s in unbounded.steps for c in s.calls)
    assert unbounded.status == "finished" and written > 6
    # a budget smaller than the first step: that step is cut, and the trace ends for want of tokens
    bounded = engine(local_backend(), None, "local").solve(QUESTION, max_tokens=3)
    assert bounded.status == "max_tokens" and len(bounded.steps) == 1
    assert sum(c.completion_tokens for s in bounded.steps for c in s.calls) == 3
    # each step asks for at most what is left
    requests = []
    spy = local_backend()
    spy_complete = spy.complete
    spy.complete = lambda request: requests.append(request.max_tokens) or spy_complete(request)
    first = sum(c.completion_tokens for c in unbounded.steps[0].calls)
    engine(spy, None, "local").solve(QUESTION, max_tokens=first + 2)
    assert requests == [first + 2, 2]
    with pytest.raises(ValueError, match="at least 1"):
        engine(local_backend(), None, "local").solve(QUESTION, max_tokens=0)


def test_a_per_question_seed_replaces_the_settings_seed():
    seen = []
    local = local_backend()
    complete = local.complete
    local.complete = lambda request: seen.append(request.seed) or complete(request)
    engine(local, None, "local").solve(QUESTION, seed=1234)
    assert seen and set(seen) == {1234}
    # random switching draws from the question's seed: the same seed switches the same steps
    draws = {engine(local_backend(), cloud_backend(), "random", switch_rate=0.5).solve(QUESTION, seed=s).steps[0].author
             for s in range(12)}
    assert draws == {"local", "cloud"}
    again = [engine(local_backend(), cloud_backend(), "random", switch_rate=0.5).solve(QUESTION, seed=7).steps[0].author
             for _ in range(3)]
    assert len(set(again)) == 1


def test_a_repairing_takeover_compares_paragraphs_by_the_value_they_reach():
    local = local_backend(rules=[
        FakeReply(match=r"^$", text="She has 3 * 4 = 12 apples."),
        FakeReply(match=r"12 apples\.\n\n$", text="Answer: 12"),
        FakeReply(match=r"7 apples\.\n\n$", text="Answer: 7"),
    ], probe_rules=[judge(2, 0.9)], probe_default={"Yes": 0.9, "No": 0.1})
    cloud = cloud_backend(rules=[FakeReply(match=r"^$", text="3 + 4 = 7 apples."),
                                 FakeReply(match=r"apples\.\n\n$", text="Answer: 7")])
    collab = engine(local, cloud, "adaswitch", step_format="paragraphs")
    collab.policy = make_policy("adaswitch", threshold=0.5, repair_back=1)
    trace = collab.solve(QUESTION)
    assert trace.answer == "7"
    # step 1 is the cloud's own paragraph; the local verifier doubts every step 2, so the cloud writes it too
    assert [s.author for s in trace.steps] == ["cloud", "cloud"] and trace.steps[0].text == "3 + 4 = 7 apples."
    assert not trace.steps[1].revised
    assert [p.text for p in trace.steps[0].revised] == ["She has 3 * 4 = 12 apples."]


def test_a_per_question_temperature_is_that_of_the_sampled_writes_only():
    seen = []
    local = local_backend(probe_default={"Yes": 0.1, "No": 0.9})  # the verifier doubts every step
    complete = local.complete
    local.complete = lambda request: seen.append((request.temperature, request.seed)) or complete(request)
    collab = engine(local, None, "self-reflection")
    collab.policy = make_policy("self-reflection", threshold=0.5)
    collab.solve(QUESTION, temperature=1.3)
    assert {t for t, _ in seen} == {0.0, 1.3}  # steps greedy, the retries at the question's temperature
    seen.clear()
    engine(local, None, "self-reflection").solve(QUESTION)
    assert {t for t, _ in seen} == {0.0, 0.7}


def test_with_run_code_a_paragraph_shows_the_real_output_of_its_python_not_the_one_it_made_up():
    code = "We add them.\n```python\na = 3\nb = 4\nprint(a + b)\n```\n```output\n8\n```"

    def local() -> FakeBackend:
        return FakeBackend(FakeScript(rules=[
            FakeReply(match=r"^$", text=code),
            FakeReply(match=r"```output\n7\n```\n\n$", text="Answer: 7"),
        ], default=FakeReply(text="Answer: 8")), name="fake-local")

    backend = local()
    trace = engine(backend, None, "local", step_format="paragraphs", run_code=True).solve(QUESTION)
    assert trace.steps[0].text == "We add them.\n```python\na = 3\nb = 4\nprint(a + b)\n```\n```output\n7\n```"
    assert trace.answer == "7" and "```output" in backend.requests[0].stop
    assert trace.settings["run_code"] is True
    trace = engine(local(), None, "local", step_format="paragraphs").solve(QUESTION)
    assert trace.steps[0].text == code and trace.answer == "8"  # off: the model's own output stands
