"""The trajectory as text: how committed steps and observations are written, and the final answer."""

from __future__ import annotations

import re

from adaswitch.parsing import render_observation
from adaswitch.tools.calculator import calculate
from adaswitch.trace import StepRecord

_PLAIN_NUMBER = re.compile(r"^\s*[-+]?[$€£]?\s*\d[\d,]*(\.\d+)?\s*%?\s*$")


def is_plain_number(text: str) -> bool:
    """True for a number as written (``36``, ``$1,200``, ``-4.5``, ``15%``): nothing to compute."""
    return bool(_PLAIN_NUMBER.match(text))


def final_answer(argument: str, family: str) -> tuple[str, str]:
    """The answer of a ``finish`` action, and how it was read.

    For math, an argument that is an arithmetic expression (``finish[4 + 5]``, which small models
    write) is computed exactly and marked ``finish_calculated``; anything else is kept as written.
    """
    answer = argument.strip()
    if family != "math" or is_plain_number(answer) or not re.search(r"\d\s*[-+*/^×÷]\s*[\d(]", answer):
        return answer, "finish"
    result = calculate(answer)
    return (result.text, "finish_calculated") if result.ok else (answer, "finish")


def append_step(trajectory: str, step: StepRecord, separator: str = "\n") -> str:
    """The trajectory text after ``step``: its text, then the observation of a tool call (or of an
    unreadable action); ``separator`` ends each part (a blank line in the paragraph format)."""
    trajectory += step.text + separator
    if not is_finish(step) and (step.action is not None or step.parse_error is not None):
        trajectory += render_observation(step.index, step.observation) + separator
    return trajectory


def render_trajectory(steps: list[StepRecord], separator: str = "\n") -> str:
    trajectory = ""
    for step in steps:
        trajectory = append_step(trajectory, step, separator)
    return trajectory


def is_finish(step: StepRecord) -> bool:
    return step.action is not None and step.action.tool == "finish"
