"""Retries, backoff and fault records of the Model wrapper; the fake backend's own contract."""

from __future__ import annotations

import json

import pytest

from adaswitch.backends import make_backend
from adaswitch.backends.base import BackendError, CompletionRequest, Message, ProbeRequest
from adaswitch.backends.fake import FakeBackend, FakeReply, FakeScript
from adaswitch.model import Model, ModelFailure, RetryPolicy

MESSAGES = [Message(role="user", content="hello there")]


def test_retries_with_exponential_backoff_then_succeeds():
    waits: list[float] = []
    backend = FakeBackend(FakeScript(faults=["timeout", "server_error", None], default=FakeReply(text="ok")))
    model = Model(backend, "cloud", RetryPolicy(max_attempts=3, base_delay_s=0.5), sleep=waits.append)
    reply = model.complete(CompletionRequest(messages=MESSAGES))
    assert reply.completion.text == "ok" and reply.attempts == 3
    assert waits == [0.5, 1.0]
    assert [f.kind for f in reply.faults] == ["timeout", "server_error"]
    assert reply.bytes_sent == len("hello there")


def test_retry_after_is_honoured_and_capped():
    policy = RetryPolicy(max_delay_s=5.0)
    assert policy.delay(1, BackendError("rate_limit", "slow down", retryable=True, retry_after_s=2.0)) == 2.0
    assert policy.delay(1, BackendError("rate_limit", "slow down", retryable=True, retry_after_s=60.0)) == 5.0


def test_non_retryable_errors_fail_at_once():
    waits: list[float] = []
    model = Model(FakeBackend(FakeScript(faults=["auth"])), "cloud", sleep=waits.append)
    with pytest.raises(ModelFailure) as info:
        model.complete(CompletionRequest(messages=MESSAGES))
    assert waits == [] and [f.outcome for f in info.value.faults] == ["gave_up"]


def test_exhausted_retries_raise_with_every_fault():
    model = Model(FakeBackend(FakeScript(faults=["timeout"] * 5)), "cloud", RetryPolicy(max_attempts=3), sleep=lambda s: None)
    with pytest.raises(ModelFailure, match="after 3 attempt"):
        model.probe(ProbeRequest(messages=MESSAGES, candidates=["Yes", "No"]))


def test_fake_backend_applies_stops_token_limit_and_logprobs():
    backend = FakeBackend(FakeScript(default=FakeReply(text="one two three\nObservation: x", logprob=-0.5)))
    completion = backend.complete(
        CompletionRequest(messages=MESSAGES, stop=["\nObservation"], logprobs=True, max_tokens=10)
    )
    assert completion.text == "one two three" and completion.completion_tokens == 3
    assert [t.logprob for t in completion.logprobs] == [-0.5] * 3
    short = backend.complete(CompletionRequest(messages=MESSAGES, max_tokens=2))
    assert short.finish_reason == "length" and short.completion_tokens == 2


def test_fake_backend_is_selectable_by_spec_with_a_script_file(tmp_path):
    script = {"queue": [{"text": "first"}, {"text": "second"}], "default": {"text": "rest"}}
    path = tmp_path / "script.json"
    path.write_text(json.dumps(script))
    backend = make_backend(f"fake:{path}")
    texts = [backend.complete(CompletionRequest(messages=MESSAGES)).text for _ in range(3)]
    assert texts == ["first", "second", "rest"]
    with pytest.raises(ValueError, match="unknown backend"):
        make_backend("nosuch:thing")
