"""Rules that say whether a step was a mistake (METHOD.md section 3), without asking a model.

Any task: an action that could not be parsed, a tool call that failed, a tool call that repeats an
earlier step's call exactly (it can only return what is already known; the engine gives it p = 1 as
well), or a ``finish`` with a wrong answer is wrong. Math with gold values: in a trajectory that ends wrong, a ``calculate`` whose result
is none of the gold intermediate or final values is wrong (one that hits a gold value is right).
Multi-hop QA with gold titles: in a trajectory that ends wrong, a ``search`` that brings no new gold
supporting paragraph is wrong (one that brings one is right). In a trajectory that ends right every
step is right unless an any-task rule fires. Anything else is ``unknown``.

The replaced local proposals of a step are judged too, because the probability of error of a
switched step belongs to the local proposal the cloud replaced, not to the cloud's step. A proposal
never reached the end of a trajectory, so it is judged on its own merits, whatever the trajectory's
ending: parse and tool failures and repeated calls (wrong), the answer of a ``finish`` (scored against
the gold answer), a calculation's value against the gold values and a search's new gold paragraphs
(right when on the gold path, wrong when off it). A trajectory that ends right after a switch says
nothing about the proposal the cloud replaced: the right ending came from the replacing step. Only a
proposal no rule covers stays ``unknown``.

The rules that make a step wrong on its face (:data:`FORCED_RULES`) are the ones under which the
engine forces the local agent's probability of error to 1 without asking its signal; see
:attr:`Judgment.forced`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Literal, NamedTuple

from pydantic import BaseModel, Field

from adaswitch.actions import Action
from adaswitch.benchmarks.base import Sample
from adaswitch.introspection.base import face_failure
from adaswitch.scoring import normalize_number, numbers_equal
from adaswitch.trace import Agent, Proposal, StepRecord, Trace

Verdict = Literal["wrong", "right", "unknown"]
AnswerJudge = Callable[[str], "bool | None"]
"""Says whether an answer text is right for the sample (None when it cannot tell)."""


class ProposalLabel(BaseModel):
    """The verdict on one replaced proposal (``position`` indexes ``StepRecord.replaced``)."""

    position: int
    author: Agent
    label: Verdict
    rule: str
    p_error: float | None = None
    features: dict[str, float] = Field(default_factory=dict)


class StepLabel(BaseModel):
    """The verdict on one committed step (``index`` is its position in ``trace.steps``)."""

    index: int
    author: Agent
    label: Verdict
    rule: str
    p_error: float | None = None
    features: dict[str, float] = Field(default_factory=dict)
    """What the signal read of the local proposal at this position (``StepRecord.features``)."""
    switched: bool = False
    replaced: list[ProposalLabel] = Field(default_factory=list)


def benchmark_judge(sample: Sample) -> AnswerJudge:
    """Score answers with the sample's own benchmark (None for an unknown benchmark)."""

    def judge(answer: str) -> bool | None:
        from adaswitch.benchmarks import get_benchmark

        try:
            benchmark = get_benchmark(sample.benchmark)
        except KeyError:
            return None
        return benchmark.score(answer, sample).correct

    return judge


def first_mistake(trace_steps: Sequence[StepRecord], sample: Sample, final_correct: bool) -> int | None:
    """Index into ``trace_steps`` of the first step the rules call wrong, or None.

    ``final_correct`` is whether the trajectory's answer is right; it also decides a ``finish``.
    """
    labels = step_verdicts(trace_steps, sample, final_correct)
    return next((i for i, (label, _) in enumerate(labels) if label == "wrong"), None)


def label_steps(
    trace: Trace, sample: Sample, final_correct: bool, judge: AnswerJudge | None = None
) -> list[StepLabel]:
    """A verdict for every committed step of ``trace`` and for each proposal it replaced."""
    judge = judge or benchmark_judge(sample)
    committed = step_verdicts(trace.steps, sample, final_correct)
    out = []
    for i, (step, (label, rule)) in enumerate(zip(trace.steps, committed)):
        replaced = []
        for k, proposal in enumerate(step.replaced):
            p_label, p_rule = _proposal_label(proposal, trace.steps[:i], sample, judge)
            replaced.append(ProposalLabel(position=k, author=proposal.author, label=p_label, rule=p_rule,
                                          p_error=proposal.p_error, features=proposal.features))
        out.append(StepLabel(index=i, author=step.author, label=label, rule=rule, p_error=step.p_error,
                             features=step.features, switched=step.switched, replaced=replaced))
    return out


FORCED_RULES = frozenset({"unparseable", "tool-failed", "repeated-call"})
"""The rules for a step that is wrong on its face; the engine gives such a step p = 1 itself."""


class Judgment(NamedTuple):
    """One local proposal's probability of error and the rules' verdict on it; ``position`` is the
    index of the committed step it was proposed for (a retry shares its step's position)."""

    p_error: float
    verdict: Verdict
    rule: str
    position: int

    @property
    def forced(self) -> bool:
        """True when the probability is the engine's forced 1 (an unreadable action, a failing tool,
        a repeated call), not the signal's own estimate: a signal that says 1 elsewhere is kept."""
        return self.p_error >= 1.0 and self.rule in FORCED_RULES


def local_judgments(labels: Sequence[StepLabel]) -> list[Judgment]:
    """Every local proposal whose probability of error was estimated, in trajectory order.

    A committed local step counts unless it was switched (its ``p_error`` then belongs to the first
    replaced proposal, which is counted with its own ``p_error`` like every replaced local proposal).
    """
    out: list[Judgment] = []
    for step in labels:
        for proposal in step.replaced:  # proposed, and replaced, before the committed step
            if proposal.author == "local" and proposal.p_error is not None:
                out.append(Judgment(proposal.p_error, proposal.label, proposal.rule, step.index))
        if step.author == "local" and not step.switched and step.p_error is not None:
            out.append(Judgment(step.p_error, step.label, step.rule, step.index))
    return out


def up_to_first_error(judgments: Sequence[Judgment]) -> list[Judgment]:
    """The judgments of one trajectory up to and including its first ``wrong`` one: the decisions
    at which switching could still have kept the trajectory right (``unknown`` ones are kept)."""
    out: list[Judgment] = []
    for judgment in judgments:
        out.append(judgment)
        if judgment.verdict == "wrong":
            break
    return out


def is_placeholder(step: StepRecord) -> bool:
    """True for the empty record the engine appends to hold the faults of a failed question."""
    return not step.text and step.action is None and not step.calls


# ---------------------------------------------------------------- the rules


def step_verdicts(
    steps: Sequence[StepRecord], sample: Sample, final_correct: bool
) -> list[tuple[Verdict, str]]:
    """``(verdict, rule)`` for each committed step of a trajectory whose answer is ``final_correct``."""
    out: list[tuple[Verdict, str]] = []
    for i, step in enumerate(steps):
        if is_placeholder(step):
            out.append(("unknown", "no-step"))
            continue
        failure = _failure(step.action, step.tool_ok, steps[:i], step.parse_error)
        if failure:
            out.append(("wrong", failure))
        elif step.action is not None and step.action.tool == "finish":
            out.append(("right", "finish-right") if final_correct else ("wrong", "finish-wrong"))
        elif final_correct:
            out.append(("right", "ends-right"))
        else:
            out.append(_trajectory_rule(step.action, step.observation, _titles_seen(steps[:i], sample), sample, step.text)
                       or ("unknown", "no-rule"))
    return out


def _proposal_label(
    proposal: Proposal, before: Sequence[StepRecord], sample: Sample, judge: AnswerJudge
) -> tuple[Verdict, str]:
    """A replaced proposal judged on its own merits (see the module docstring)."""
    failure = _failure(proposal.action, proposal.tool_ok, before, proposal.parse_error)
    if failure:
        return "wrong", failure
    return action_verdict(proposal.action, proposal.observation, _titles_seen(before, sample), sample, judge,
                          proposal.text)


def action_verdict(
    action: Action | None, observation: str, seen_titles: set[str], sample: Sample, judge: AnswerJudge, text: str = ""
) -> tuple[Verdict, str]:
    """A proposal that passed the face checks, judged on its own merits: a ``finish`` by its answer,
    anything else by the task rules (``seen_titles``: the gold titles earlier searches brought)."""
    if action is not None and action.tool == "finish":
        verdict = judge(action.argument.strip())
        if verdict is None:
            return "unknown", "finish-unscored"
        return ("right", "finish-right") if verdict else ("wrong", "finish-wrong")
    return _trajectory_rule(action, observation, seen_titles, sample, text) or ("unknown", "no-rule")


def _titles_seen(before: Sequence[StepRecord], sample: Sample) -> set[str]:
    """The gold titles the searches of ``before`` brought."""
    seen: set[str] = set()
    for step in before:
        if step.action is not None and step.action.tool == "search":
            seen |= retrieved_titles(step.observation, sample.gold_titles)
    return seen


def _failure(
    action: Action | None, tool_ok: bool, before: Sequence[StepRecord], parse_error: str | None = "unknown"
) -> str | None:
    """The rule a step breaks on its face (the engine's rule, :func:`adaswitch.introspection.face_failure`)."""
    return face_failure(action, tool_ok, [step.action for step in before if step.action is not None], parse_error)


def _trajectory_rule(
    action: Action | None, observation: str, seen_titles: set[str], sample: Sample, text: str = ""
) -> tuple[Verdict, str] | None:
    """The task-specific rules, applied to the committed steps of a trajectory that ends wrong and to
    every replaced proposal; None when none applies. A paragraph step's calculations are the
    numbers it writes after an equals sign."""
    if action is None:
        return paragraph_verdict(text, sample)
    if sample.family == "math" and sample.gold_values and action.tool == "calculate":
        if is_gold_value(observation, sample.gold_values):
            return "right", "gold-value"
        return "wrong", "non-gold-value"
    if sample.family == "qa" and sample.gold_titles and action.tool == "search":
        if retrieved_titles(observation, sample.gold_titles) - seen_titles:
            return "right", "new-gold-paragraph"
        return "wrong", "no-new-gold-paragraph"
    return None


_RESULT = re.compile(r"=\s*\$?\s*(-?\d[\d,]*(?:\.\d+)?)")


def paragraph_verdict(text: str, sample: Sample) -> tuple[Verdict, str] | None:
    """Math with gold values: a paragraph whose results (``... = 13``) are all gold values is right,
    one with a result that is none of them is wrong; no results, no rule."""
    if sample.family != "math" or not sample.gold_values:
        return None
    results = [match.group(1).replace(",", "") for match in _RESULT.finditer(text)]
    if not results:
        return None
    if all(is_gold_value(value, sample.gold_values) for value in results):
        return "right", "gold-value"
    return "wrong", "non-gold-value"


def is_gold_value(observation: str, gold_values: Sequence[str]) -> bool:
    """True when the observation reads as a number equal to one of the gold values.

    Equal means equal to a relative 1e-6, or within half a unit of the last decimal the gold value
    is written with (GSM8K's marks write 10/3 as 3.33; the calculator returns 3.3333333333).
    """
    value = normalize_number(observation.strip())
    if value is None:
        return False
    for gold in gold_values:
        if numbers_equal(value, gold):
            return True
        places = _decimals(gold)
        target = normalize_number(gold)
        if places and target is not None and abs(value - target) <= Fraction(1, 2 * 10**places):
            return True
    return False


def retrieved_titles(observation: str, titles: Sequence[str]) -> set[str]:
    """The titles among ``titles`` whose paragraph appears in a search observation ("[Title] text")."""
    lines = [line.strip() for line in observation.splitlines()]
    return {t for t in titles if any(line.startswith(f"[{t}]") for line in lines)}


def _decimals(text: str) -> int:
    digits = text.strip().split(".", 1)
    if len(digits) < 2 or not digits[1].isdigit():
        return 0
    return len(digits[1])
