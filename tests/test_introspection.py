"""Helpers the signals share: the two-candidate normalisation, the on-its-face rules, fit_confidence."""

from __future__ import annotations

import numpy as np
import pytest

from adaswitch.actions import Action, ParsedStep, ToolResult
from adaswitch.introspection import (
    ConfidenceIntrospector,
    face_failure,
    fit_confidence,
    forced_error,
    share_of_first,
)
from adaswitch.logistic import sigmoid


def test_share_of_first_normalises_two_candidates():
    assert share_of_first({"No": 0.3, "Yes": 0.1}, "No", "Yes") == pytest.approx(0.75)
    assert share_of_first({"Yes": 0.4}, "No", "Yes") == 0.0
    assert share_of_first({}, "No", "Yes") == 0.5  # neither candidate has any probability


def test_forced_error_is_the_face_rule_of_the_evaluation():
    calc = Action(tool="calculate", argument="2 + 3")
    ok, failed = ToolResult(ok=True, text="5"), ToolResult(ok=False, text="error")
    cases = [
        (ParsedStep(action=None, error=None), None, [], None),  # a paragraph of free reasoning
        (ParsedStep(action=None, error="no action"), None, [], "unparseable"),
        (ParsedStep(action=calc), failed, [], "tool-failed"),
        (ParsedStep(action=calc), ok, [calc], "repeated-call"),
        (ParsedStep(action=calc), ok, [], None),
    ]
    for parsed, result, earlier, rule in cases:
        tool_ok = result is None or result.ok
        assert face_failure(parsed.action, tool_ok, earlier, parsed.error) == rule
        assert forced_error(parsed, result, earlier) is (rule is not None)


def test_fit_confidence_learns_that_unsure_steps_are_wrong():
    rng = np.random.default_rng(0)
    mean = rng.uniform(-3, 0, 200)
    low = mean - rng.uniform(0, 2, 200)
    wrong = (mean + 0.3 * rng.standard_normal(200)) < -1.5
    features = [{"mean_logprob": float(m), "min_logprob": float(n)} for m, n in zip(mean, low)]
    signal = fit_confidence(features, wrong.tolist())
    assert isinstance(signal, ConfidenceIntrospector)
    p = sigmoid(signal.bias + signal.w_mean * mean + signal.w_min * low)
    assert signal.w_mean < 0 and p[wrong].mean() > 0.7 and p[~wrong].mean() < 0.3
    with pytest.raises(ValueError, match="both wrong and right"):
        fit_confidence(features[:3], [True, True, True])
    with pytest.raises(ValueError, match="as many labels"):
        fit_confidence(features[:3], [True])


def test_sigmoid_does_not_overflow():
    assert float(sigmoid(0.0)) == 0.5
    assert np.allclose(sigmoid(np.array([-1000.0, 1000.0])), [0.0, 1.0])
