"""Prompts for each task family: the one renderer used at inference and for training data.

A step prompt is a conversation whose fixed parts come first (system instructions with worked
examples, then the question) and whose growing part comes last (the trajectory so far, as an
unfinished assistant message ending with ``Thought N:``). Every prompt for a question therefore
extends the previous one, and an in-process model reuses its KV cache across steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from adaswitch.backends.base import Message
from adaswitch.documents import Document

MATH_INSTRUCTIONS = """\
You solve math word problems step by step. Each step has one line "Thought N:" and one line
"Action N:" with exactly one action:
- calculate[expression]: computes an arithmetic expression exactly (+ - * / ** and parentheses);
- finish[answer]: gives the final answer as a plain number.
After each action you will read "Observation N:" with the result.
Rules: begin with a short plan; in each thought, say which quantity you compute next and why.
Each calculation combines numbers; never calculate a number you already know. As soon as an
observation is the quantity the question asks for, finish with it."""

QA_INSTRUCTIONS = """\
You answer questions by searching a small collection of paragraphs, step by step. Each step has one
line "Thought N:" with a short piece of reasoning and one line "Action N:" with exactly one action:
- search[query]: returns the paragraphs that best match the query;
- finish[answer]: gives the final answer as a short phrase (yes or no for yes/no questions).
After each action you will read "Observation N:" with what it returned. Search for each fact you
need, one at a time, and finish as soon as you know the answer."""

MATH_EXAMPLES = """\
Question: A baker made 48 cupcakes. She sold 3/4 of them in the morning and 5 more in the afternoon. How many cupcakes are left?
Thought 1: The question asks for the cupcakes left. Plan: find the morning sales (3/4 of 48), then subtract the morning and afternoon sales from 48. First the morning sales.
Action 1: calculate[48 * 3 / 4]
Observation 1: 36
Thought 2: She sold 36 in the morning and 5 in the afternoon, so the cupcakes left are 48 - 36 - 5.
Action 2: calculate[48 - 36 - 5]
Observation 2: 7
Thought 3: The question asks how many cupcakes are left, and that is 7.
Action 3: finish[7]

Question: Tom buys 3 shirts at $12.50 each and a hat for $8. He pays with a $50 bill. How much change does he get?
Thought 1: The question asks for his change. Plan: add up the cost of the shirts and the hat, then subtract it from $50. First the total cost.
Action 1: calculate[3 * 12.50 + 8]
Observation 1: 45.5
Thought 2: His change is the $50 he paid minus the total cost of $45.50.
Action 2: calculate[50 - 45.5]
Observation 2: 4.5
Thought 3: The question asks for his change, which is $4.50.
Action 3: finish[4.5]

Question: A class has 30 students. 40% of them walk to school and half of the rest take the bus. How many students take the bus?
Thought 1: The question asks how many take the bus. Plan: find the students who do not walk (30 minus 40% of 30), then take half of them. First the students who do not walk.
Action 1: calculate[30 - 30 * 40 / 100]
Observation 1: 18
Thought 2: Half of these 18 students take the bus.
Action 2: calculate[18 / 2]
Observation 2: 9
Thought 3: The question asks how many students take the bus: 9.
Action 3: finish[9]"""

QA_EXAMPLES = """\
Question: In which city was the director of the film Blue Harbor born?
Thought 1: I need to know who directed Blue Harbor.
Action 1: search[Blue Harbor film director]
Observation 1: [Blue Harbor] Blue Harbor is a 1987 drama film directed by Anna Lind.
Thought 2: Blue Harbor was directed by Anna Lind. Now I need her birthplace.
Action 2: search[Anna Lind born]
Observation 2: [Anna Lind] Anna Lind (born 1950 in Gothenburg) is a film director.
Thought 3: Anna Lind was born in Gothenburg.
Action 3: finish[Gothenburg]

Question: Is the river Ostra longer than the river Velm?
Thought 1: I need the length of the Ostra.
Action 1: search[Ostra river length]
Observation 1: [Ostra] The Ostra is a river of 320 km that flows into the Baltic Sea.
Thought 2: The Ostra is 320 km long. Now I need the length of the Velm.
Action 2: search[Velm river length]
Observation 2: [Velm] The Velm is a 140 km long tributary of the Ostra.
Thought 3: 320 km is more than 140 km, so the Ostra is longer.
Action 3: finish[yes]"""

VERIFIER_QUESTION = (
    "Look at your step {index} above (its thought, its action and the observation). "
    "Is step {index} correct and useful for answering the question? Answer Yes or No."
)

FINAL_CHECK_QUESTION = (
    "Look at your work above and your final answer: {answer}. "
    "Is this final answer correct? Answer Yes or No."
)


JUDGMENT_PREFIX = "\nCheck:"
"""After each step, a reflectively trained local agent writes its judgment of the step."""
JUDGMENT_RIGHT = " right"
JUDGMENT_WRONG = " wrong"


STEP_FORMATS: tuple[str, ...] = ("react", "paragraphs")
"""``react``: Thought / Action / Observation steps with tools; ``paragraphs``: plain chain-of-thought
text, one paragraph per step, no tools (:class:`ParagraphPrompts`)."""


@dataclass(frozen=True)
class TaskPrompts:
    """The fixed prompt parts of a task family."""

    family: str
    instructions: str
    examples: str
    step_format: ClassVar[str] = "react"
    separator: ClassVar[str] = "\n"
    """What follows a committed step's text in the trajectory."""

    def stops(self, next_index: int) -> list[str]:
        """Where generation of step ``next_index`` stops."""
        return step_stops(next_index)

    def system(self) -> str:
        return f"{self.instructions}\n\nExamples:\n\n{self.examples}"

    def step_messages(self, question: str, trajectory: str, next_index: int) -> list[Message]:
        """The conversation that asks for step ``next_index`` (continue the final message)."""
        return [
            Message(role="system", content=self.system()),
            Message(role="user", content=f"Question: {question}"),
            Message(role="assistant", content=f"{trajectory}Thought {next_index}:"),
        ]

    def judgment_messages(self, question: str, trajectory: str, step_text: str) -> list[Message]:
        """The conversation right after a step, where a reflectively trained model writes its judgment.

        ``step_text`` is the rendered step (``Thought k: ...`` and ``Action k: ...`` lines); the next
        token after :data:`JUDGMENT_PREFIX` is the judgment (:data:`JUDGMENT_RIGHT` or
        :data:`JUDGMENT_WRONG`).
        """
        return [
            Message(role="system", content=self.system()),
            Message(role="user", content=f"Question: {question}"),
            Message(role="assistant", content=f"{trajectory}{step_text.rstrip()}{JUDGMENT_PREFIX}"),
        ]

    def verifier_messages(self, question: str, trajectory_with_step: str, index: int) -> list[Message]:
        """Ask the model whether the step it just wrote is right (a new user turn)."""
        return self._ask_about(question, trajectory_with_step, VERIFIER_QUESTION.format(index=index))

    def final_check_messages(self, question: str, trajectory: str, answer: str) -> list[Message]:
        """Ask the model whether its final answer is right (the query-level cascade's self-check)."""
        return self._ask_about(question, trajectory, FINAL_CHECK_QUESTION.format(answer=answer))

    def _ask_about(self, question: str, trajectory: str, ask: str) -> list[Message]:
        """The trajectory as a finished assistant turn, then a yes/no question about it."""
        return [
            Message(role="system", content=self.system()),
            Message(role="user", content=f"Question: {question}"),
            Message(role="assistant", content=trajectory.rstrip("\n")),
            Message(role="user", content=ask),
        ]


FAMILIES: dict[str, TaskPrompts] = {
    "math": TaskPrompts("math", MATH_INSTRUCTIONS, MATH_EXAMPLES),
    "qa": TaskPrompts("qa", QA_INSTRUCTIONS, QA_EXAMPLES),
}


def prompts_for(family: str) -> TaskPrompts:
    try:
        return FAMILIES[family]
    except KeyError:
        raise ValueError(f"unknown task family {family!r}; expected one of {', '.join(FAMILIES)}") from None


def step_stops(next_index: int) -> list[str]:
    """Where generation of one step must stop: before the tool's observation, the next step, or a
    reflectively trained model's judgment of the step."""
    return ["\nObservation", "Observation:", f"Observation {next_index}", "\nThought", "\nQuestion:", JUDGMENT_PREFIX]


@dataclass(frozen=True)
class ZeroShotPrompts(TaskPrompts):
    """A family's prompts without the worked examples: the system message is the instructions only.

    For an agent practised on gold trajectories (``adaswitch.learning.gold``), which learned the
    format from training and needs no examples; its records and its inference prompts both use it.
    """

    def system(self) -> str:
        return self.instructions


@dataclass(frozen=True)
class ParagraphPrompts(TaskPrompts):
    """The free-text step format: the prompt of a plain chain-of-thought answer, and a step is one
    paragraph of it (generation stops at a blank line). No tools: a step is read as a ``finish``
    when it states the answer ("Answer: ...", ``\\boxed{}``).

    Greedy decoding paragraph by paragraph writes the same text as one chain-of-thought completion
    with this prompt, so the local agent alone keeps its chain-of-thought accuracy, and the cloud
    can write any paragraph of it. QA questions carry their paragraphs in the prompt (``context``).
    """

    context: str = ""
    step_format: ClassVar[str] = "paragraphs"
    separator: ClassVar[str] = "\n\n"

    def system(self) -> str:
        return self.instructions

    def stops(self, next_index: int) -> list[str]:
        return ["\n\n"]

    def step_messages(self, question: str, trajectory: str, next_index: int) -> list[Message]:
        return [
            Message(role="system", content=self.system()),
            Message(role="user", content=self._question(question)),
            Message(role="assistant", content=trajectory),
        ]

    def judgment_messages(self, question: str, trajectory: str, step_text: str) -> list[Message]:
        return [
            Message(role="system", content=self.system()),
            Message(role="user", content=self._question(question)),
            Message(role="assistant", content=f"{trajectory}{step_text.rstrip()}{JUDGMENT_PREFIX}"),
        ]

    def _ask_about(self, question: str, trajectory: str, ask: str) -> list[Message]:
        return [
            Message(role="system", content=self.system()),
            Message(role="user", content=self._question(question)),
            Message(role="assistant", content=trajectory.rstrip("\n")),
            Message(role="user", content=ask),
        ]

    def _question(self, question: str) -> str:
        text = f"Question: {question.strip()}"
        return f"Context:\n{self.context}\n\n{text}" if self.context else text


PARAGRAPH_INSTRUCTIONS = (
    "Solve the problem. Think step by step, then give the final answer on a last line 'Answer: ...'."
)
PARAGRAPH_ANSWER_FORMATS: dict[str, str] = {
    "number": "The final answer is a single number, without units.",
    "latex": "The final answer is a simplified LaTeX expression, without \\boxed and without $ signs.",
    "phrase": "The final answer is a short phrase (a name, a date, a place), or yes or no for a yes/no question.",
    "yesno": "The final answer is yes or no.",
}


def paragraph_prompts_for(
    family: str, answer_type: str = "number", knowledge: list[Document] | None = None
) -> ParagraphPrompts:
    """The paragraph step format's prompts for a family and answer type (the chain-of-thought
    baseline's wording, so that the two can be compared), with a QA question's paragraphs."""
    prompts_for(family)  # an unknown family is an error here too
    instructions = f"{PARAGRAPH_INSTRUCTIONS} {PARAGRAPH_ANSWER_FORMATS[answer_type]}"
    context = "\n".join(document.render() for document in knowledge or [])
    return ParagraphPrompts(family, instructions, "", context=context)


def task_prompts(
    step_format: str, family: str, answer_type: str = "number", knowledge: list[Document] | None = None
) -> TaskPrompts:
    """The prompts one question is solved with: the family's react prompts, or the paragraph
    format's for its answer type (with a QA question's paragraphs in the prompt)."""
    if step_format == "paragraphs":
        return paragraph_prompts_for(family, answer_type, knowledge if family == "qa" else None)
    if step_format != "react":
        raise ValueError(f"unknown step format {step_format!r}; expected one of {', '.join(STEP_FORMATS)}")
    return prompts_for(family)


def zero_shot_prompts_for(family: str) -> TaskPrompts:
    """The prompts of ``family`` with the few-shot examples left out."""
    base = prompts_for(family)
    return ZeroShotPrompts(base.family, base.instructions, "")


PROMPT_STYLES: tuple[str, ...] = ("few-shot", "zero-shot")
"""How a model is asked for a step: with the worked examples, or (a model practised on gold
trajectories, which learned the format in training) with the instructions alone."""


def prompts_in_style(prompts: TaskPrompts, style: str) -> TaskPrompts:
    """``prompts`` as a model of prompt ``style`` is asked with: the react prompts without their
    examples for ``zero-shot``; the paragraph format has no examples to leave out."""
    if style not in PROMPT_STYLES:
        raise ValueError(f"unknown prompt style {style!r}; expected one of {', '.join(PROMPT_STYLES)}")
    if style == "few-shot" or prompts.step_format != "react" or isinstance(prompts, ZeroShotPrompts):
        return prompts
    return ZeroShotPrompts(prompts.family, prompts.instructions, "")
