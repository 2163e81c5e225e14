"""The training-free verifier: the local model is asked whether its step is correct."""

from __future__ import annotations

from adaswitch.backends.base import ProbeRequest
from adaswitch.introspection.base import Judgment, StepView, share_of_first, trajectory_with_step
from adaswitch.model import Model


class VerifierIntrospector:
    """Training-free: ask the local model whether its step is correct; p = P(No) / (P(Yes) + P(No))."""

    name = "verifier"
    needs_logprobs = False

    def prepare(self, local: Model) -> None:
        pass

    def judge(self, view: StepView, local: Model) -> Judgment:
        messages = view.prompts.verifier_messages(view.question, trajectory_with_step(view), view.index)
        reply = local.probe(ProbeRequest(messages=messages, candidates=["Yes", "No"]))
        yes, no = reply.result.probs.get("Yes", 0.0), reply.result.probs.get("No", 0.0)
        p = share_of_first(reply.result.probs, "No", "Yes")
        return Judgment(p_error=p, probe=reply, features={"p_yes": yes, "p_no": no})
