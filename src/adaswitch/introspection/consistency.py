"""Step-level self-consistency: re-sample the step and see whether the alternatives do the same.

The local model writes ``samples`` alternatives of the step from the same prefix (the request that
produced the step, at ``temperature`` with their own seeds). Each alternative and the proposal are
reduced to what the step *does*: the exact value a calculation returns, the answer of a ``finish``,
the normalised query of a search. p = the share of alternatives that do something else. Agreement of
exact results is a discrete, cheap form of semantic entropy; the alternatives are ordinary
completions, so a batching backend serves them beside other questions' steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from adaswitch.actions import Action
from adaswitch.introspection.base import Judgment, StepView
from adaswitch.model import Model
from adaswitch.parsing import extract_answer_from_text, parse_step, read_paragraph
from adaswitch.tools.calculator import calculate
from adaswitch.trajectory import final_answer


@dataclass
class ConsistencyIntrospector:
    samples: int = 3
    temperature: float = 0.7
    name: str = "consistency"
    needs_logprobs: bool = False

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError(f"consistency needs at least one alternative sample, got {self.samples}")
        if self.temperature <= 0:
            raise ValueError("consistency samples need a temperature above 0")

    def prepare(self, local: Model) -> None:
        pass

    def judge(self, view: StepView, local: Model) -> Judgment:
        if view.request is None:
            raise ValueError("the consistency signal needs the request that wrote the step")
        family = view.prompts.family
        paragraphs = view.prompts.step_format == "paragraphs"
        own = step_outcome(view.parsed.thought, view.parsed.action, family)
        replies, agree = [], 0
        for k in range(1, self.samples + 1):
            request = view.request.model_copy(update={
                "temperature": self.temperature, "seed": (view.request.seed or 0) * 7_919 + view.index * 97 + k,
                "logprobs": False})
            reply = local.complete(request)
            replies.append(reply)
            text = reply.completion.text
            parsed = read_paragraph(text, family) if paragraphs else parse_step(f"Thought {view.index}:{text}", family)
            agree += own is not None and step_outcome(parsed.thought, parsed.action, family) == own
        share = agree / self.samples
        return Judgment(p_error=1.0 - share, replies=replies, features={"agreement": share})


def outcome_of(action: Action | None, family: str) -> str | None:
    """What a step does, reduced so that two ways of writing it compare equal: ``calc:VALUE``,
    ``finish:ANSWER``, ``TOOL:query`` (lower case, spaces collapsed); None without an action or
    for a calculation that fails."""
    if action is None:
        return None
    if action.tool == "finish":
        answer, _ = final_answer(action.argument, family)
        return "finish:" + " ".join(answer.lower().split())
    if action.tool == "calculate" and family != "qa":
        result = calculate(action.argument)
        return "calc:" + result.text.strip() if result.ok else None
    return f"{action.tool}:" + " ".join(action.argument.lower().split())


def step_outcome(thought: str, action: Action | None, family: str) -> str | None:
    """What a step does (:func:`outcome_of` of its action); a paragraph step with no action says what
    its last number is (``says:VALUE``, math only): two paragraphs that reach the same value agree
    however they are worded. None when there is nothing to compare."""
    if action is not None:
        return outcome_of(action, family)
    if family == "qa" or not thought:
        return None
    value, method = extract_answer_from_text(thought, family)
    return f"says:{value}" if value is not None and method == "last_number" else None
