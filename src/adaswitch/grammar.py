"""GBNF grammars of one step of the trajectory format, so that every decoded step is valid.

A step is what a model writes after ``Thought N:``: one line of reasoning, then ``Action N:`` and
exactly one action. The grammar admits only actions the tools accept:

- ``calculate[...]``: an arithmetic expression the calculator reads, with bounded size (at most five
  terms of four factors, one level of parentheses, numbers of at most nine digits and six decimals,
  exponents of one digit, no division by a literal zero), so it stays inside the calculator's size
  limits; only its value can still be refused (a compound divisor that is zero, the square root of
  a negative number);
- ``search[...]``: a query of 1 to :data:`MAX_QUERY_CHARS` characters without brackets or newlines;
- ``finish[...]``: an answer of the task's answer type (:data:`AnswerType`).

The grammars are written for llama.cpp's GBNF (used in process and by llama.cpp's server) and
also serve vLLM's guided decoding, which takes the same GBNF text (``guided_grammar``).
"""

from __future__ import annotations

from typing import Literal

AnswerType = Literal["number", "latex", "phrase", "yesno"]
"""What a ``finish`` argument is: a plain number (arithmetic word problems), a LaTeX expression
(MATH), a short phrase (multi-hop QA) or yes/no (StrategyQA)."""

ANSWER_TYPES: tuple[str, ...] = ("number", "latex", "phrase", "yesno")
MAX_THOUGHT_CHARS = 400
MAX_QUERY_CHARS = 80
MAX_PHRASE_CHARS = 60
MAX_LATEX_CHARS = 80

_FAMILY_ANSWER: dict[str, AnswerType] = {"math": "number", "qa": "phrase"}

# Free text: one line without square brackets (they delimit actions), backticks (code fences) or
# "<" (special tokens such as <|im_end|>), none of which the parser would read as written; the
# first character is not a space or a quote (a quoted argument would be unquoted by the parser).
_TEXT_CHAR = r"""[^\n\[\]`<]"""
_FIRST_CHAR = r"""[^\n\[\]`< "']"""

# Arithmetic with bounded size: ``sum1`` may hold parentheses around ``sum0`` (no parentheses).
# Its largest expression (5 terms of 4 factors, each a parenthesised sum of 4 terms of 4 factors,
# every number 16 characters with a power) has under 8,000 characters and 1,500 syntax nodes: the
# calculator's MAX_CHARS and MAX_NODES admit it (tests/test_grammar.py builds it).
_ARITHMETIC = r"""
num ::= [0-9] | [1-9] [0-9]{1,8} | [0-9] "." [0-9]{1,6} | [1-9] [0-9]{1,8} "." [0-9]{1,6}
nonzero ::= [1-9] [0-9]{0,8} | [1-9] [0-9]{0,8} "." [0-9]{1,6} | "0." [0-9]{0,5} [1-9]
power ::= " ** " [1-9]
addop ::= " + " | " - "
atom0 ::= num power?
term0 ::= atom0 (" * " atom0 | " / " nonzero power?){0,3}
sum0 ::= "-"? term0 (addop term0){0,3}
func ::= ("sqrt(" | "abs(" | "round(" | "floor(" | "ceil(") sum0 ")" | ("min(" | "max(") term0 ", " term0 ")"
atom1 ::= (num | "(" sum0 ")" | func) power?
divisor1 ::= nonzero power? | "(" sum0 ")" | func
term1 ::= atom1 (" * " atom1 | " / " divisor1){0,3}
sum1 ::= "-"? term1 (addop term1){0,4}
expression ::= sum1
"""

_ANSWERS: dict[str, str] = {
    "number": r'answer ::= "-"? [0-9]{1,12} ("." [0-9]{1,6})? ("/" [1-9] [0-9]{0,5})?',
    "yesno": r'answer ::= "yes" | "no"',
    "phrase": f"answer ::= {_FIRST_CHAR} {_TEXT_CHAR}{{0,{MAX_PHRASE_CHARS - 1}}}",
    # LaTeX: balanced braces (two levels), no square brackets or newlines
    "latex": (
        r"answer ::= lchar latex0{0,40}" "\n"
        r"""lchar ::= [^\[\]{}\n `<"']""" "\n"
        r'latex0 ::= [^\[\]{}\n`<] | "{" latex1{0,30} "}"' "\n"
        r'latex1 ::= [^\[\]{}\n`<] | "{" [^\[\]{}\n`<]{0,20} "}"'
    ),
}


def answer_type_for(family: str, answer_type: str | None = None) -> AnswerType:
    """The answer type of a task: the one given, else the family's default."""
    if answer_type is not None:
        if answer_type not in ANSWER_TYPES:
            raise ValueError(f"unknown answer type {answer_type!r}; expected one of {', '.join(ANSWER_TYPES)}")
        return answer_type  # type: ignore[return-value]
    try:
        return _FAMILY_ANSWER[family]
    except KeyError:
        raise ValueError(f"unknown task family {family!r}") from None


def step_grammar(family: str, index: int, answer_type: str | None = None, *, finish_only: bool = False) -> str:
    """The GBNF grammar of step ``index`` (what follows ``Thought {index}:``) for a task family.

    The step is a space, a thought of 1 to :data:`MAX_THOUGHT_CHARS` characters on one line with
    no square brackets (an action belongs after its label), a newline or a space (small models
    often write the label on the thought's line), ``Action {index}: ``, one
    action of the family's tools or ``finish``, and optionally the newline that ends the line (so
    that a token such as ``]\n`` stays available to the model). With ``finish_only`` the action can
    only be ``finish``: the step must answer.
    """
    thought = f"thought ::= {_FIRST_CHAR} {_TEXT_CHAR}{{0,{MAX_THOUGHT_CHARS - 1}}}"
    root = f'root ::= " " thought ("\\n" | " ") "Action {index}: " action "\\n"?'
    return "\n".join([root, thought, *_action_rules(family, answer_type, finish_only)]) + "\n"


def action_grammar(family: str, answer_type: str | None = None) -> str:
    """The GBNF grammar of an action alone (what follows ``Action N: ``), with the newline that may
    end it: used to finish a step whose thought ran out of tokens before its action."""
    return "\n".join(['root ::= action "\\n"?', *_action_rules(family, answer_type)]) + "\n"


def _action_rules(family: str, answer_type: str | None, finish_only: bool = False) -> list[str]:
    answer = _ANSWERS[answer_type_for(family, answer_type)]
    if family not in ("math", "qa"):
        raise ValueError(f"unknown task family {family!r}")
    if finish_only:
        return ['action ::= "finish[" answer "]"', answer]
    if family == "math":
        tools = 'action ::= "calculate[" expression "]" | "finish[" answer "]"'
        rules = _ARITHMETIC
    elif family == "qa":
        tools = 'action ::= "search[" query "]" | "finish[" answer "]"'
        rules = f"query ::= {_FIRST_CHAR} {_TEXT_CHAR}{{0,{MAX_QUERY_CHARS - 1}}}\n"
    return [tools, answer, rules.strip()]
