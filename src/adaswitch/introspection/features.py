"""Features of a step that cost no model call: how sure the model was of its tokens, and what is
odd about the step on its face.

The engine records these for every judged local proposal (``StepRecord.features``), whatever the
signal, so one run gives every free feature and a combiner (:mod:`adaswitch.introspection.combined`)
can be fitted offline. Every value is a float; a flag is 0 or 1.

Confidence (from the completion's log-probabilities; absent when the backend gave none):
``mean_logprob`` and ``min_logprob`` of the whole step, ``action_mean_logprob`` and
``action_min_logprob`` of the tokens from ``Action N:`` on, ``first_logprob`` (mean of the first
:data:`FIRST_TOKENS` tokens) and ``first_entropy`` (their mean entropy over the top alternatives the
backend returned; absent without alternatives).

Structural (math): ``result_negative``, ``result_fractional`` (a calculation whose result is below 0
or not a whole number, where questions mostly count things), ``result_known`` (its result equals an
earlier observation), ``numbers_unsupported`` (share of the numbers in the action that appear neither
in the question nor in an earlier observation, nor are common constants), ``finish_unsupported`` (a
``finish`` whose number is neither an earlier result nor a number of the question),
``question_numbers_unused`` (at a ``finish``: share of the question's numbers no step has used),
``finish_first`` (a ``finish`` at step 1). QA: ``finish_unsupported`` (the answer appears in no
observation). Both: ``position`` (the step's index) and ``is_finish``.

Paragraph format (math; :func:`paragraph_features`): a paragraph has no action, so what it does is
read from its text. ``equations`` (how many ``a op b = c`` statements it makes that the calculator
can check) and ``arithmetic_wrong`` (one of them is false); ``numbers_unsupported`` (share of its
numbers that appear neither in the question, nor in an earlier paragraph, nor as the result of one of
its own equations, nor are common constants); ``result_negative``, ``result_fractional`` and
``result_known`` of the last number it states; at the paragraph that answers, ``finish_unsupported``
(the answer appears nowhere before), ``question_numbers_unused`` and ``finish_first`` as above.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from fractions import Fraction

from adaswitch.backends.base import Completion, TokenLogprob
from adaswitch.introspection.base import StepView
from adaswitch.introspection.confidence import logprob_summary
from adaswitch.tools.calculator import CalculatorError, calculate_value

FIRST_TOKENS = 4
"""How many leading tokens of a step ``first_logprob`` and ``first_entropy`` read."""
COMMON_CONSTANTS = frozenset(
    Fraction(v) for v in ("0", "1", "2", "3", "4", "5", "6", "7", "10", "12", "24", "30", "52", "60", "100",
                          "365", "1000", "0.5", "0.01", "0.1"))
"""Numbers a calculation may use without the question stating them (units, percent, halves)."""
_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")
_OBSERVATION = re.compile(r"^Observation \d+:\s*(.*)$", re.MULTILINE)
_EQUATION = re.compile(
    r"(?<![\w.])([$(]*\d[\d.,$€£%()+\-*/×x÷· ]*?[\d)%])\s*=\s*[$€£]?\s*(-?\d[\d,]*(?:\.\d+)?)(?![\d.]*\d)")
"""``a op b = c`` as chains of thought write it: the left side (digits, operators, parentheses,
currency and percent signs) and the number stated after ``=``."""
_OPERATOR = re.compile(r"\d%?\s*[-+*/×x÷·]\s*[$€£(]*\d")
_ANSWER_LINE = re.compile(r"^\s*(?:final\s+)?answer\s*:.*$", re.IGNORECASE | re.MULTILINE)


def step_features(view: StepView) -> dict[str, float]:
    """Every free feature of the step in ``view`` (see the module docstring)."""
    features = {"position": float(view.index)}
    features.update(token_features(view.completion, view.index))
    if view.prompts.step_format == "paragraphs":
        features.update(paragraph_features(view))
        return features
    action = view.parsed.action
    if action is None:
        return features
    features["is_finish"] = float(action.tool == "finish")
    observations = _OBSERVATION.findall(view.trajectory)
    if view.prompts.family == "qa":
        if action.tool == "finish":
            answer = action.argument.strip().lower()
            features["finish_unsupported"] = float(bool(answer) and not any(answer in o.lower() for o in observations))
        return features
    question_numbers = numbers_in(view.question)
    known = [n for o in observations for n in numbers_in(o)]
    if action.tool == "finish":
        features.update(_finish_features(
            numbers_in(action.argument), supported=set(known) | set(question_numbers),
            used=set(numbers_in(view.trajectory)) | set(numbers_in(view.step_text)),
            question_numbers=question_numbers, index=view.index))
        return features
    if action.tool == "calculate":
        argument = numbers_in(action.argument)
        supported = set(question_numbers) | set(known) | COMMON_CONSTANTS
        features["numbers_unsupported"] = (sum(n not in supported for n in argument) / len(argument)) if argument else 0.0
        result = view.result
        value = _single_number(result.text) if result is not None and result.ok else None
        if value is not None:
            features["result_negative"] = float(value < 0)
            features["result_fractional"] = float(value.denominator != 1)
            features["result_known"] = float(value in known)
    return features


def paragraph_features(view: StepView) -> dict[str, float]:
    """The structural features of a paragraph step (see the module docstring); QA paragraphs get
    ``is_finish`` only."""
    action = view.parsed.action
    finish = action is not None and action.tool == "finish"
    features = {"is_finish": float(finish)}
    if view.prompts.family != "math":
        return features
    body = _ANSWER_LINE.sub("", view.step_text) if finish else view.step_text
    stated_equations = equations_in(body)
    checked = [(stated, value) for stated, value in stated_equations if value is not None]
    features["equations"] = float(len(checked))
    features["arithmetic_wrong"] = float(any(not _close(value, stated) for stated, value in checked))
    question_numbers = numbers_in(view.question)
    earlier = numbers_in(view.trajectory)
    results = {stated for stated, _ in stated_equations}
    supported = set(question_numbers) | set(earlier) | results | COMMON_CONSTANTS
    numbers = numbers_in(body)
    features["numbers_unsupported"] = (sum(n not in supported for n in numbers) / len(numbers)) if numbers else 0.0
    if numbers and not finish:
        last = numbers[-1]
        features["result_negative"] = float(last < 0)
        features["result_fractional"] = float(last.denominator != 1)
        features["result_known"] = float(last in earlier)
    if finish:
        features.update(_finish_features(
            numbers_in(action.argument), supported=set(question_numbers) | set(earlier) | set(numbers),
            used=set(earlier) | set(numbers), question_numbers=question_numbers, index=view.index))
    return features


def _finish_features(answer: list[Fraction], *, supported: set[Fraction], used: set[Fraction],
                     question_numbers: list[Fraction], index: int) -> dict[str, float]:
    """The features of a step that answers: an answer from nowhere (``supported`` holds what it may
    come from), an answer at step 1, and the share of the question's numbers no step has ``used``."""
    unused = [n for n in set(question_numbers) if n not in used and n not in COMMON_CONSTANTS]
    return {
        "finish_unsupported": float(bool(answer) and not any(a in supported for a in answer)),
        "finish_first": float(index == 1),
        "question_numbers_unused": len(unused) / len(set(question_numbers)) if question_numbers else 0.0,
    }


def equations_in(text: str) -> list[tuple[Fraction, Fraction | None]]:
    """Each ``a op b = c`` that ``text`` states: the stated ``c`` and the calculator's value of the
    left side (None when the calculator cannot read it)."""
    out = []
    for match in _EQUATION.finditer(text):
        left, right = match.group(1), match.group(2)
        if not _OPERATOR.search(left):
            continue
        try:
            stated = Fraction(right.replace(",", ""))
        except (ValueError, ZeroDivisionError):
            continue
        try:
            value: Fraction | None = calculate_value(left)
        except CalculatorError:
            value = None
        out.append((stated, value))
    return out


def _close(value: Fraction, stated: Fraction) -> bool:
    """Whether ``stated`` is ``value`` as a chain of thought would write it: exactly, rounded to the
    decimals it shows (``10 / 3 = 3.33``), or within half a percent."""
    decimals = next((k for k in range(12) if (stated * 10**k).denominator == 1), 12)
    tolerance = max(Fraction(1, 2 * 10**decimals), abs(value) / 200)
    return abs(value - stated) <= tolerance


def token_features(completion: Completion, index: int) -> dict[str, float]:
    """The confidence features of a completion (none when it carries no log-probabilities)."""
    tokens = [t for t in completion.logprobs or [] if math.isfinite(t.logprob)]
    if not tokens:
        return {}
    out = logprob_summary(tokens)
    action = _action_tokens(tokens, index)
    if action:
        out.update(logprob_summary(action, "action_"))
    first = tokens[:FIRST_TOKENS]
    out["first_logprob"] = sum(t.logprob for t in first) / len(first)
    entropies = [e for e in (entropy_of(t) for t in first) if e is not None]
    if entropies:
        out["first_entropy"] = sum(entropies) / len(entropies)
    return out


def entropy_of(token: TokenLogprob) -> float | None:
    """Entropy (nats) of the next-token distribution seen through its top alternatives: the mass
    outside them counts as one more outcome (a lower bound of the true entropy). None without
    alternatives."""
    if not token.top:
        return None
    probs = [math.exp(lp) for lp in token.top.values() if math.isfinite(lp)]
    rest = max(0.0, 1.0 - sum(probs))
    return -sum(p * math.log(p) for p in [*probs, rest] if p > 0)


def numbers_in(text: str) -> list[Fraction]:
    """The numbers written in ``text`` (thousands separators dropped), as exact fractions."""
    out = []
    for match in _NUMBER.findall(text):
        try:
            out.append(Fraction(match.replace(",", "")))
        except (ValueError, ZeroDivisionError):
            continue
    return out


def _action_tokens(tokens: Sequence[TokenLogprob], index: int) -> list[TokenLogprob]:
    """The tokens from the one that completes ``Action {index}:`` on (empty when there is none)."""
    marker, text = f"Action {index}:", ""
    for position, token in enumerate(tokens):
        text += token.token
        if marker in text:
            return list(tokens[position + 1:])
    return []


def _single_number(text: str) -> Fraction | None:
    """The one number a tool result states (``38``, ``-0.3333333333``, ``-1/3``), else None."""
    try:
        return Fraction(text.strip().replace(",", ""))
    except (ValueError, ZeroDivisionError):
        found = numbers_in(text)
        return found[0] if len(found) == 1 else None
