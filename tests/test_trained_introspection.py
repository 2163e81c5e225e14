"""The trained judgment (``Check: right|wrong``) on the fake backend, and hidden states on the real tiny model."""

from __future__ import annotations

import numpy as np
import pytest

from adaswitch.backends.base import (
    CompletionRequest,
    HiddenStateRequest,
    Message,
    ProbeRequest,
)
from adaswitch.backends.fake import FakeBackend, FakeReply, FakeScript
from adaswitch.embedded import EmbeddedModelError, resolve_model
from adaswitch.engine import read_step
from adaswitch.introspection import StepView, TrainedJudgmentIntrospector
from adaswitch.model import Model
from adaswitch.prompts import (
    JUDGMENT_RIGHT,
    JUDGMENT_WRONG,
    TaskPrompts,
    prompts_for,
    step_stops,
)
from adaswitch.solver import Solver, SolverSettings

QUESTION = "Ann has 3 apples and buys 4 more. How many apples does she have?"


def judgment(step: str, right: float, wrong: float, spaced: bool = True) -> FakeReply:
    """Scripted next-token probabilities after '<step>\\nCheck:' (keys with or without the space)."""
    keys = (JUDGMENT_RIGHT, JUDGMENT_WRONG) if spaced else ("right", "wrong")
    return FakeReply(match=step + r"\nCheck:$", probs={keys[0]: right, keys[1]: wrong})


def fake_local() -> FakeBackend:
    rules = [
        FakeReply(match=r"Thought 1:$", text=" Subtract.\nAction 1: calculate[3 - 4]"),
        FakeReply(match=r"Thought 2:$", text=" She has 7.\nAction 2: finish[7]"),
    ]
    probes = [judgment(r"calculate\[3 - 4\]", 0.2, 0.6), judgment(r"finish\[7\]", 0.8, 0.1, spaced=False)]
    return FakeBackend(FakeScript(rules=rules, probe_rules=probes), name="fake-local")


def fake_cloud() -> FakeBackend:
    rules = [
        FakeReply(match=r"Thought 1:$", text=" Add.\nAction 1: calculate[3 + 4]"),
        FakeReply(match=r"Thought 2:$", text=" The total is 7.\nAction 2: finish[7]"),
    ]
    return FakeBackend(FakeScript(rules=rules), name="fake-cloud")


def test_trained_judgment_switches_the_step_the_model_calls_wrong():
    local = fake_local()
    settings = SolverSettings(local="fake", cloud="fake", introspection="trained")
    with Solver(settings, local=local, cloud=fake_cloud()) as solver:
        trace = solver.solve(QUESTION, threshold=0.5)
    first, second = trace.steps
    assert trace.introspection == "trained" and trace.answer == "7"
    assert first.switched and first.author == "cloud" and first.p_error == pytest.approx(0.6 / 0.8)
    assert second.author == "local" and not second.switched and second.p_error == pytest.approx(0.1 / 0.9)
    assert [c.purpose for c in first.calls] == ["step", "judge", "step"]
    probe = next(r for r in local.requests if isinstance(r, ProbeRequest))
    assert probe.continue_final and probe.candidates == [JUDGMENT_RIGHT, JUDGMENT_WRONG]
    assert probe.messages[-1].content.endswith("Thought 1: Subtract.\nAction 1: calculate[3 - 4]\nCheck:")
    # the judgment extends the step prompt: only the step and 'Check:' are new
    judge = first.calls[1]
    assert 0 < judge.recomputed_prompt_tokens < judge.prompt_tokens / 2


@pytest.mark.parametrize(("right", "wrong", "p"), [(0.3, 0.1, 0.25), (0.0, 0.2, 1.0), (0.0, 0.0, 0.5)])
def test_trained_judgment_probability_is_the_normalised_wrong_mass(right, wrong, p):
    prompts = prompts_for("math")
    _, parsed, text = read_step(" Add.\nAction 1: calculate[3 + 4]", 1, "math")
    backend = FakeBackend(FakeScript(probe_default={" right": right, " wrong": wrong}))
    view = StepView(QUESTION, prompts, "", 1, text, parsed, None, completion=None)  # type: ignore[arg-type]
    judged = TrainedJudgmentIntrospector().judge(view, Model(backend, "local"))
    assert judged.p_error == pytest.approx(p)
    assert judged.features == {"p_right": right, "p_wrong": wrong}


# ---------------------------------------------------------------- the real tiny model


@pytest.fixture(scope="module")
def backend():
    pytest.importorskip("llama_cpp")
    from adaswitch.backends.llamacpp import LlamaCppBackend

    try:
        path = resolve_model("smollm2-135m")
    except EmbeddedModelError as err:
        pytest.skip(str(err))
    b = LlamaCppBackend(path, n_ctx=1024, seed=0)
    yield b
    b.close()


SHORT = [Message(role="system", content="You add numbers."), Message(role="user", content="What is 3 + 4?")]


def step_request(prompt: str) -> CompletionRequest:
    return CompletionRequest(messages=SHORT + [Message(role="assistant", content=prompt)], continue_final=True,
                             max_tokens=12, logprobs=True)


@pytest.mark.realmodel
def test_hidden_state_has_the_embedding_size_and_is_deterministic(backend):
    request = HiddenStateRequest(messages=SHORT + [Message(role="assistant", content="Thought 1: add")],
                                 continue_final=True)
    first = backend.hidden_state(request)
    again = backend.hidden_state(request)  # all but the last token cached
    assert first.vector.shape == (576,) == (backend.hidden_size,) and first.vector.dtype == np.float32
    assert np.all(np.isfinite(first.vector)) and np.linalg.norm(first.vector) > 1
    assert again.recomputed_prompt_tokens == 1
    np.testing.assert_array_equal(first.vector, again.vector)
    other = backend.hidden_state(HiddenStateRequest(messages=SHORT + [Message(role="assistant", content="Thought 1: x")],
                                                    continue_final=True))
    assert not np.allclose(other.vector, first.vector)
    # after an unrelated prompt, the prompt is recomputed (all but the template's opening), with the same result
    backend.complete(CompletionRequest(messages=[Message(role="user", content="Hello there")], max_tokens=2))
    fresh = backend.hidden_state(request)
    assert fresh.recomputed_prompt_tokens > fresh.prompt_tokens / 2
    np.testing.assert_allclose(fresh.vector, first.vector, rtol=1e-3, atol=1e-3)


@pytest.mark.realmodel
def test_a_hidden_state_read_does_not_disturb_the_next_completion(backend):
    request = step_request("Thought 1:")
    backend.complete(CompletionRequest(messages=[Message(role="user", content="Something else")], max_tokens=1))
    plain = backend.complete(request)
    # the reference is the same completion from the cached prompt: recomputing the prompt in another
    # batch shape moves log-probabilities by more than a disturbed cache would on some CPUs (0.15 with
    # AVX2 alone)
    cached = backend.complete(request)
    # read a state that shares the prompt and goes past it, then complete again from the cache
    extended = SHORT + [Message(role="assistant", content="Thought 1: I add 3 and 4.\nCheck:")]
    read = backend.hidden_state(HiddenStateRequest(messages=extended, continue_final=True))
    assert backend._llm.n_tokens == read.prompt_tokens
    tokens = backend.tokenize_prompt(extended, continue_final=True)
    assert list(backend._llm.input_ids[: backend._llm.n_tokens]) == tokens
    after = backend.complete(request)
    assert after.recomputed_prompt_tokens < after.prompt_tokens
    assert after.text == plain.text == cached.text
    assert after.recomputed_prompt_tokens == cached.recomputed_prompt_tokens
    assert [t.logprob for t in after.logprobs] == pytest.approx([t.logprob for t in cached.logprobs], abs=0.01)


@pytest.mark.realmodel
def test_trained_judgment_on_the_real_model_recomputes_only_the_judgment_prefix(backend):
    prompts = TaskPrompts("math", "Solve the problem step by step with calculate[...] and finish[...].", "")
    local = Model(backend, "local")
    step = local.complete(CompletionRequest(messages=prompts.step_messages(QUESTION, "", 1), continue_final=True,
                                            max_tokens=32, stop=step_stops(1)))
    _, parsed, _ = read_step(step.completion.text, 1, "math")
    # the judgment of the step as written, so the KV cache of the generation covers it
    written = "Thought 1:" + step.completion.text
    view = StepView(QUESTION, prompts, "", 1, written, parsed, None, step.completion)
    judged = TrainedJudgmentIntrospector().judge(view, local)
    result = judged.probe.result
    assert result.exact and 0.0 < judged.p_error < 1.0
    assert 0 < judged.features["p_right"] < 1 and 0 < judged.features["p_wrong"] < 1
    # the last generated token (never fed back), '\n', 'Check', ':' at most
    assert result.recomputed_prompt_tokens <= 4 < result.prompt_tokens
