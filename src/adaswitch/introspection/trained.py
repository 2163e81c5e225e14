"""A reflectively trained local model's own judgment of its step."""

from __future__ import annotations

from adaswitch.backends.base import ProbeRequest
from adaswitch.introspection.base import Judgment, StepView, share_of_first
from adaswitch.model import Model
from adaswitch.prompts import JUDGMENT_RIGHT, JUDGMENT_WRONG


class TrainedJudgmentIntrospector:
    """A reflectively trained local model judges its own step: after the step it writes
    ``Check: right`` or ``Check: wrong``; p = P(wrong) / (P(right) + P(wrong)) of the next token.

    The judgment prompt extends the step prompt with the step just written, so an in-process model
    recomputes only the few tokens after its KV cache.
    """

    name = "trained"
    needs_logprobs = False

    def prepare(self, local: Model) -> None:
        pass

    def judge(self, view: StepView, local: Model) -> Judgment:
        messages = view.prompts.judgment_messages(view.question, view.trajectory, view.step_text)
        request = ProbeRequest(messages=messages, continue_final=True, candidates=[JUDGMENT_RIGHT, JUDGMENT_WRONG])
        reply = local.probe(request)
        right = reply.result.probs.get(JUDGMENT_RIGHT, 0.0)
        wrong = reply.result.probs.get(JUDGMENT_WRONG, 0.0)
        p = share_of_first(reply.result.probs, JUDGMENT_WRONG, JUDGMENT_RIGHT)
        return Judgment(p_error=p, probe=reply, features={"p_right": right, "p_wrong": wrong})
