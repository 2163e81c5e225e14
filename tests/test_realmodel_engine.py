"""The engine on real in-process models: the tiny SmolLM2 by default, the embedded pair when slow."""

from __future__ import annotations

import pytest

from adaswitch.solver import Solver, SolverSettings

QUESTION = "A box holds 12 eggs. Tom buys 3 boxes and breaks 5 eggs. How many eggs are left?"


@pytest.fixture(scope="module")
def tiny_solver():
    pytest.importorskip("llama_cpp")
    settings = SolverSettings(local="smollm2-135m", cloud="smollm2-135m", max_steps=3, max_step_tokens=48)
    settings.local_endpoint.n_ctx = 2048
    settings.cloud_endpoint.n_ctx = 2048
    with Solver(settings) as solver:
        yield solver


@pytest.mark.realmodel
def test_tiny_model_trace_is_consistent(tiny_solver):
    trace = tiny_solver.solve(QUESTION, mode="adaswitch", threshold=0.0)
    assert 1 <= len(trace.steps) <= 3
    for step in trace.steps:
        assert step.p_error is not None and 0.0 <= step.p_error <= 1.0
        # threshold 0: every local proposal with p > 0 goes to the cloud
        assert step.author == "cloud" and step.switched and step.replaced[0].author == "local"
        assert step.text.startswith(f"Thought {step.index}:")
    local_calls = [c for s in trace.steps for c in s.calls if c.agent == "local" and c.purpose == "step"]
    # the trajectory prefix is not re-processed: later steps recompute a small part of their prompt
    for call in local_calls[1:]:
        assert call.recomputed_prompt_tokens < call.prompt_tokens / 2
    assert trace.usage["local"].calls == sum(len([c for c in s.calls if c.agent == "local"]) for s in trace.steps)
    assert trace.wall_time_s >= sum(c.latency_s for s in trace.steps for c in s.calls)


@pytest.mark.realmodel
def test_tiny_model_verifier_probability_is_a_real_distribution(tiny_solver):
    trace = tiny_solver.solve(QUESTION, mode="adaswitch", threshold=1.0)
    assert all(s.author == "local" for s in trace.steps)
    judged = [s for s in trace.steps if any(c.purpose == "judge" for c in s.calls)]
    for step in judged:
        assert 0.0 < step.p_error < 1.0


@pytest.mark.slow
def test_default_pair_solves_a_gsm8k_question_and_switches_at_a_low_threshold():
    pytest.importorskip("llama_cpp")
    with Solver(SolverSettings(max_steps=6)) as solver:
        local = solver.solve(QUESTION, mode="local")
        switched = solver.solve(QUESTION, mode="adaswitch", threshold=0.05)
    assert local.steps and all(s.author == "local" for s in local.steps)
    assert local.answer is not None
    assert any(s.author == "cloud" and s.switched for s in switched.steps)
    assert switched.usage["cloud"].completion_tokens > 0
