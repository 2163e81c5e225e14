"""A real misbehaving HTTP cloud endpoint drives the engine: every question completes as configured."""

from __future__ import annotations

import socket
import time

import pytest
from faultserver import delay, drop, invalid_json, no_choices, ok, status, truncated

from adaswitch.backends.fake import FakeBackend, FakeReply, FakeScript
from adaswitch.backends.openai_compat import OpenAIBackend
from adaswitch.engine import Collaboration, EngineSettings
from adaswitch.introspection import VerifierIntrospector
from adaswitch.model import Model, RetryPolicy
from adaswitch.policies import make_policy

QUESTION = "Ann has 3 apples and buys 4 more. How many apples does she have?"


def local_fake() -> FakeBackend:
    """A local agent that always doubts its first step, so step 1 goes to the cloud."""
    return FakeBackend(
        FakeScript(
            rules=[
                FakeReply(match=r"Thought 1:$", text=" Add them.\nAction 1: calculate[3 + 4]"),
                FakeReply(match=r"Thought 2:$", text=" Seven.\nAction 2: finish[7]"),
            ],
            probe_rules=[
                FakeReply(match=r"step 1\b", probs={"Yes": 0.1, "No": 0.9}),
                FakeReply(match=r"step 2\b", probs={"Yes": 0.9, "No": 0.1}),
            ],
        )
    )


def collaboration(base_url: str, on_cloud_error: str = "fallback", attempts: int = 2, timeout_s: float = 0.5):
    cloud = OpenAIBackend("stand-in", base_url=base_url, timeout_s=timeout_s)
    retry = RetryPolicy(max_attempts=attempts, base_delay_s=0.01, max_delay_s=0.05)
    return Collaboration(
        Model(local_fake(), "local"),
        Model(cloud, "cloud", retry),
        make_policy("adaswitch", threshold=0.5),
        VerifierIntrospector(),
        EngineSettings(on_cloud_error=on_cloud_error),  # type: ignore[arg-type]
    )


FAULTS = {
    "timeout": lambda: delay(3.0),
    "server_error": lambda: status(500),
    "rate_limit": lambda: status(429, headers={"Retry-After": "0"}),
    "connection": lambda: drop(),
    "bad_response": lambda: invalid_json(),
}


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_cloud_fault_falls_back_to_local_and_is_traced(fault_server, kind):
    fault_server.script(FAULTS[kind](), FAULTS[kind]())
    started = time.perf_counter()
    trace = collaboration(fault_server.base_url).solve(QUESTION)
    assert time.perf_counter() - started < 5.0
    assert trace.status == "finished" and trace.answer == "7"
    first = trace.steps[0]
    assert first.author == "local" and first.p_error == pytest.approx(0.9)
    assert [f.kind for f in first.faults] == [kind, kind]
    assert [f.outcome for f in first.faults] == ["retried", "fell_back_to_local"]


@pytest.mark.parametrize("behaviour", [truncated, no_choices], ids=["truncated", "no_choices"])
def test_garbage_bodies_are_bad_responses(fault_server, behaviour):
    fault_server.script(behaviour(), behaviour())
    trace = collaboration(fault_server.base_url).solve(QUESTION)
    assert trace.answer == "7" and {f.kind for f in trace.faults} == {"bad_response"}


def test_a_transient_fault_then_a_real_cloud_step(fault_server):
    fault_server.script(status(503), ok(" Add 4 and 3.\nAction 1: calculate[4 + 3]"))
    trace = collaboration(fault_server.base_url).solve(QUESTION)
    first = trace.steps[0]
    assert first.author == "cloud" and first.action.argument == "4 + 3" and first.observation == "7"
    assert [f.outcome for f in first.faults] == ["retried"]
    assert first.calls[-1].bytes_sent > 0
    # the cloud saw the question (folded conversation) and nothing it should not
    sent = fault_server.requests[-1]["messages"]
    assert any(QUESTION in m["content"] for m in sent)


def test_fail_mode_ends_the_question_with_a_clear_error(fault_server):
    fault_server.script(status(500), status(500))
    trace = collaboration(fault_server.base_url, on_cloud_error="fail").solve(QUESTION)
    assert trace.status == "error" and "cloud agent failed" in trace.error
    assert trace.faults[-1].outcome == "failed_question"


def test_refused_connection_falls_back():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    trace = collaboration(f"http://127.0.0.1:{port}/v1").solve(QUESTION)
    assert trace.answer == "7" and trace.faults[-1].kind == "connection"
