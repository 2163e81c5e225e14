"""Redaction of personal data from what is sent to the cloud, counted in the trace."""

from __future__ import annotations

import pytest

from adaswitch.backends.fake import FakeBackend, FakeReply, FakeScript
from adaswitch.redaction import Redactor
from adaswitch.solver import Solver, SolverSettings


def test_builtin_patterns_replace_personal_data():
    redactor = Redactor.from_names(["email", "phone", "ipv4"])
    text, n = redactor.redact("Mail ann.lee@example.org or call +1 415 555 0199 from 10.0.0.12; 3 + 4 = 7.")
    assert n == 3
    assert "[EMAIL]" in text and "[PHONE]" in text and "[IPV4]" in text
    assert "example.org" not in text and "555" not in text
    assert "3 + 4 = 7" in text  # arithmetic is untouched


def test_custom_patterns_and_errors():
    redactor = Redactor.from_names([], {"account": r"ACC-\d+"})
    assert redactor.redact("pay ACC-12345 now") == ("pay [ACCOUNT] now", 1)
    with pytest.raises(ValueError, match="unknown redaction"):
        Redactor.from_names(["passport"])
    with pytest.raises(ValueError, match="not a valid regular expression"):
        Redactor.from_names([], {"bad": "("})


def test_the_cloud_never_sees_redacted_data_and_the_trace_counts_it():
    question = "Ann (ann@example.org) has 3 apples and buys 4 more. How many?"
    local = FakeBackend(FakeScript(
        rules=[FakeReply(match="Thought 1:$", text=" Add.\nAction 1: calculate[3 + 4]"),
               FakeReply(match="Thought 2:$", text=" Done.\nAction 2: finish[7]")],
        probe_default={"Yes": 0.1, "No": 0.9},
    ))
    cloud = FakeBackend(FakeScript(rules=[FakeReply(match="Thought 1:$", text=" Sum.\nAction 1: calculate[4 + 3]")]))
    settings = SolverSettings(local="fake", cloud="fake", threshold=0.5, redact=["email"])
    trace = Solver(settings, local=local, cloud=cloud).solve(question)
    sent = " ".join(m.content for r in cloud.requests for m in r.messages)
    assert "ann@example.org" not in sent and "[EMAIL]" in sent
    # the local model, on this machine, still sees the question as asked
    assert "ann@example.org" in local.requests[0].messages[1].content
    cloud_calls = [c for s in trace.steps for c in s.calls if c.agent == "cloud"]
    assert cloud_calls and all(c.redactions >= 1 and c.bytes_sent > 0 for c in cloud_calls)
