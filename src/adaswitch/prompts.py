"""Prompts for each task family: the one renderer used at inference and for training data.

A step prompt is a conversation whose fixed parts come first (system instructions with worked
examples, then the question) and whose growing part comes last (the trajectory so far, as an
unfinished assistant message ending with ``Thought N:``). Every prompt for a question therefore
extends the previous one, and an in-process model reuses its KV cache across steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from adaswitch.backends.base import Message

MATH_INSTRUCTIONS = """\
You solve math word problems step by step. Each step has one line "Thought N:" with a short piece
of reasoning and one line "Action N:" with exactly one action:
- calculate[expression]: computes an arithmetic expression exactly (+ - * / ** and parentheses);
- finish[answer]: gives the final answer as a plain number.
After each action you will read "Observation N:" with the result. Use calculate for every
computation, and finish as soon as you know the answer."""

QA_INSTRUCTIONS = """\
You answer questions by searching a small collection of paragraphs, step by step. Each step has one
line "Thought N:" with a short piece of reasoning and one line "Action N:" with exactly one action:
- search[query]: returns the paragraphs that best match the query;
- finish[answer]: gives the final answer as a short phrase (yes or no for yes/no questions).
After each action you will read "Observation N:" with what it returned. Search for each fact you
need, one at a time, and finish as soon as you know the answer."""

MATH_EXAMPLES = """\
Question: A baker made 48 cupcakes. She sold 3/4 of them in the morning and 5 more in the afternoon. How many cupcakes are left?
Thought 1: In the morning she sold 3/4 of the 48 cupcakes.
Action 1: calculate[48 * 3 / 4]
Observation 1: 36
Thought 2: She sold 36 in the morning and 5 in the afternoon, so I subtract both from 48.
Action 2: calculate[48 - 36 - 5]
Observation 2: 7
Thought 3: 7 cupcakes are left.
Action 3: finish[7]

Question: Tom buys 3 shirts at $12.50 each and pays with a $50 bill. How much change does he get?
Thought 1: The shirts cost 3 times $12.50.
Action 1: calculate[3 * 12.50]
Observation 1: 37.5
Thought 2: The change is $50 minus the cost.
Action 2: calculate[50 - 37.5]
Observation 2: 12.5
Thought 3: His change is $12.50.
Action 3: finish[12.5]"""

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


@dataclass(frozen=True)
class TaskPrompts:
    """The fixed prompt parts of a task family."""

    family: str
    instructions: str
    examples: str

    def system(self) -> str:
        return f"{self.instructions}\n\nExamples:\n\n{self.examples}"

    def step_messages(self, question: str, trajectory: str, next_index: int) -> list[Message]:
        """The conversation that asks for step ``next_index`` (continue the final message)."""
        return [
            Message(role="system", content=self.system()),
            Message(role="user", content=f"Question: {question}"),
            Message(role="assistant", content=f"{trajectory}Thought {next_index}:"),
        ]

    def verifier_messages(self, question: str, trajectory_with_step: str, index: int) -> list[Message]:
        """Ask the model whether the step it just wrote is right (a new user turn)."""
        return [
            Message(role="system", content=self.system()),
            Message(role="user", content=f"Question: {question}"),
            Message(role="assistant", content=trajectory_with_step.rstrip("\n")),
            Message(role="user", content=VERIFIER_QUESTION.format(index=index)),
        ]

    def final_check_messages(self, question: str, trajectory: str, answer: str) -> list[Message]:
        """Ask the model whether its final answer is right (the query-level cascade's self-check)."""
        return [
            Message(role="system", content=self.system()),
            Message(role="user", content=f"Question: {question}"),
            Message(role="assistant", content=trajectory.rstrip("\n")),
            Message(role="user", content=FINAL_CHECK_QUESTION.format(answer=answer)),
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
    """Where generation of one step must stop: before the tool's observation or the next step."""
    return ["\nObservation", "Observation:", f"Observation {next_index}", "\nThought", "\nQuestion:"]
