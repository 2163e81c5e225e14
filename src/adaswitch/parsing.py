"""Reading and writing the trajectory text format.

One format serves prompting, parsing and training data::

    Question: ...
    Thought 1: <reasoning>
    Action 1: calculate[<expression>]      (math) / search[<query>] (qa) / finish[<answer>]
    Observation 1: <tool output>

``render_*`` write it; ``parse_step`` reads one model-written step back, leniently, because small
models rarely follow the format exactly. Every leniency is recorded in ``ParsedStep.repairs`` with
one of the ``REPAIR_*`` strings below. All regexes are written so that no two repeated runs can
match the same characters (no catastrophic backtracking); bracket matching is a single scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adaswitch.actions import Action, ParsedStep

TOOLS_BY_FAMILY: dict[str, tuple[str, ...]] = {
    "math": ("calculate", "finish"),
    "qa": ("search", "finish"),
}
"""The tools a prompt offers to each task family."""

REPAIR_SPECIAL_TOKEN = "special_token"
REPAIR_CODE_FENCE = "code_fence"
REPAIR_OBSERVATION_CUT = "observation_cut"
REPAIR_UNLABELLED_ACTION = "unlabelled_action"
REPAIR_TOOL_CASE = "tool_case"
REPAIR_TOOL_SPACE = "tool_space"
REPAIR_ROUND_BRACKETS = "round_brackets"
REPAIR_UNTERMINATED = "unterminated_argument"
REPAIR_QUOTED_ARGUMENT = "quoted_argument"
REPAIR_BOXED = "boxed_answer"
REPAIR_ANSWER_PHRASE = "answer_phrase"
REPAIR_TRAILING_TEXT = "trailing_text"
REPAIR_MULTIPLE_ACTIONS = "multiple_actions"

ALL_REPAIRS: tuple[str, ...] = (
    REPAIR_SPECIAL_TOKEN,
    REPAIR_CODE_FENCE,
    REPAIR_OBSERVATION_CUT,
    REPAIR_UNLABELLED_ACTION,
    REPAIR_TOOL_CASE,
    REPAIR_TOOL_SPACE,
    REPAIR_ROUND_BRACKETS,
    REPAIR_UNTERMINATED,
    REPAIR_QUOTED_ARGUMENT,
    REPAIR_BOXED,
    REPAIR_ANSWER_PHRASE,
    REPAIR_TRAILING_TEXT,
    REPAIR_MULTIPLE_ACTIONS,
)

ERROR_EMPTY_STEP = "empty step"
ERROR_NO_ACTION = "no action found"
ERROR_INTERNAL = "internal parser error"

ANSWER_METHODS: tuple[str, ...] = ("boxed", "answer_phrase", "last_number", "last_line", "none")

_KNOWN_TOOLS = ("calculate", "solve", "search", "finish")
_TOOL_ALTERNATION = "|".join(_KNOWN_TOOLS)

# "Action 3:", "Action:", "**Action 3:**", "ACTION 3 :" followed by "tool[" or "tool(".
_LABELLED_CALL = re.compile(
    r"\baction[ \t]*(?:\d+[ \t]*)?(?:[*_]+[ \t]*)?[:：][ \t*`]*"
    r"(?P<tool>[a-z][\w-]*)(?P<gap>[ \t]*)(?P<open>[\[(])",
    re.IGNORECASE,
)
_ACTION_LABEL = re.compile(r"\baction[ \t]*(?:\d+[ \t]*)?(?:[*_]+[ \t]*)?[:：]", re.IGNORECASE)
# A known tool with square brackets anywhere, or with round brackets at the start of a line.
_BARE_SQUARE = re.compile(
    rf"(?<![\w-])(?P<tool>{_TOOL_ALTERNATION})(?P<gap>[ \t]*)(?P<open>\[)", re.IGNORECASE
)
_BARE_ROUND = re.compile(
    rf"^[ \t>*`-]*(?P<tool>{_TOOL_ALTERNATION})(?P<gap>[ \t]*)(?P<open>\()",
    re.IGNORECASE | re.MULTILINE,
)
_THOUGHT_LABEL = re.compile(
    r"[\s*_#>]*thought[ \t]*(?:\d+[ \t]*)?(?:[*_]+[ \t]*)?[:：][*_]*", re.IGNORECASE
)
_OBSERVATION_LINE = re.compile(r"^[ \t*_#>]*observation\b", re.IGNORECASE | re.MULTILINE)
_SPECIAL_TOKEN = re.compile(r"<[|｜][^<>|｜\n]{1,40}[|｜]>|</s>|<s>|<eos>|<bos>|<pad>")
_END_TOKEN_MARKS = ("end", "eot", "eos", "</s>")
_FENCE_LANGUAGE = re.compile(r"[\w+.#-]*")
_SQUARE_BRACKETS = re.compile(r"[\[\]]")
_ROUND_BRACKETS = re.compile(r"[()]")
_BRACES = re.compile(r"[{}]")
_BOXED_OPEN = re.compile(r"\\boxed[ \t]*\{")
_ANSWER_PHRASE = re.compile(
    r"\b(?:final[ \t]+)?answer[*_]*[ \t]*(?:is\b(?:[ \t]*[:：])?|[:：=])", re.IGNORECASE
)
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?(?:/\d+)?")
_ABBREVIATION_END = re.compile(r"(?:^|[.\s])[A-Z]\.$")
_QUOTE_PAIRS = {'"': '"', "'": "'", "`": "`", "“": "”", "‘": "’"}


@dataclass(frozen=True)
class _Call:
    """Where a tool call starts in the step text."""

    start: int
    tool: str
    gap: str
    open_pos: int
    labelled: bool


def allowed_tools(family: str) -> tuple[str, ...]:
    """Tools the parser accepts for a family: exactly those its toolbox provides, and ``finish``.

    ``solve[...]`` is recognised as a call (so that the error names it) but accepted by no family:
    no toolbox provides it."""
    return TOOLS_BY_FAMILY.get(family, ())


# ---------------------------------------------------------------------------------------------
# Rendering


def read_paragraph(text: str, family: str) -> ParsedStep:
    """One step of the paragraph format: free reasoning (no action, no error), or a ``finish`` when
    it states the answer (``\\boxed{}`` or an answer phrase such as "Answer: 18")."""
    paragraph = text.strip() if isinstance(text, str) else ""
    if not paragraph:
        return ParsedStep(error=ERROR_EMPTY_STEP)
    answer, method = extract_answer_from_text(paragraph, family)
    if answer is not None and method in ("boxed", "answer_phrase"):
        return ParsedStep(thought=paragraph, action=Action(tool="finish", argument=answer))
    return ParsedStep(thought=paragraph)


def render_step(index: int, thought: str, action: Action) -> str:
    """The canonical text of one step; the thought is written on one line."""
    return f"Thought {index}: {_collapse(thought)}\nAction {index}: {action.render()}"


def render_observation(index: int, text: str) -> str:
    """The canonical observation line(s); inner newlines are kept."""
    return f"Observation {index}: {text.strip()}"


def render_question(question: str) -> str:
    """The line that opens every trajectory."""
    return f"Question: {question.strip()}"


# ---------------------------------------------------------------------------------------------
# Parsing one step


def parse_step(text: str, family: str) -> ParsedStep:
    """Read one model-written step (thought + action). Never raises.

    Exactly one of ``action`` and ``error`` is set on the result.
    """
    try:
        return _parse(text, family)
    except Exception as exc:  # noqa: BLE001 - a parser bug must not stop a trajectory
        return ParsedStep(error=f"{ERROR_INTERNAL}: {type(exc).__name__}")


def _parse(text: str, family: str) -> ParsedStep:
    if family not in TOOLS_BY_FAMILY:
        expected = ", ".join(TOOLS_BY_FAMILY)
        return ParsedStep(error=f"unknown family {family!r}; expected one of {expected}")
    if not isinstance(text, str) or not text.strip():
        return ParsedStep(error=ERROR_EMPTY_STEP)
    repairs: list[str] = []
    text = _clean_text(text, repairs)
    if not text.strip():
        return ParsedStep(error=ERROR_EMPTY_STEP, repairs=repairs)
    call = _find_call(text)
    if call is None:
        return _parse_without_call(text, repairs)
    return _parse_call(text, call, family, repairs)


def _clean_text(text: str, repairs: list[str]) -> str:
    """Remove what is never part of a step: special tokens, code fences, invented observations."""
    text, changed = _strip_special_tokens(text)
    _note(repairs, REPAIR_SPECIAL_TOKEN, changed)
    text, changed = _remove_code_fences(text)
    _note(repairs, REPAIR_CODE_FENCE, changed)
    text, changed = _cut_observation(text)
    _note(repairs, REPAIR_OBSERVATION_CUT, changed)
    return text


def _strip_special_tokens(text: str) -> tuple[str, bool]:
    """Cut at the first end-of-turn token and drop any other special token."""
    changed = False
    for match in _SPECIAL_TOKEN.finditer(text):
        token = match.group().lower()
        if any(mark in token for mark in _END_TOKEN_MARKS):
            text, changed = text[: match.start()], True
            break
    text, count = _SPECIAL_TOKEN.subn("", text)
    return text, changed or count > 0


def _remove_code_fences(text: str) -> tuple[str, bool]:
    """Drop fence lines (```python) and inline ``` marks."""
    if "```" not in text:
        return text, False
    kept = []
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith("```") and _FENCE_LANGUAGE.fullmatch(stripped[3:].strip()):
            continue
        kept.append(line.replace("```", ""))
    return "\n".join(kept), True


def _cut_observation(text: str) -> tuple[str, bool]:
    """Cut an observation the model wrote itself, and everything after it."""
    match = _OBSERVATION_LINE.search(text)
    if match is None:
        return text, False
    return text[: match.start()], True


def _find_call(text: str) -> _Call | None:
    """The action to read: the first labelled call, else the first bare call of a known tool."""
    match = _LABELLED_CALL.search(text)
    if match is not None:
        return _call_from(match, labelled=True)
    bare = [m for m in (_BARE_SQUARE.search(text), _BARE_ROUND.search(text)) if m is not None]
    if not bare:
        return None
    first = min(bare, key=lambda m: m.start("tool"))
    return _call_from(first, labelled=False)


def _call_from(match: re.Match[str], labelled: bool) -> _Call:
    start = match.start() if labelled else match.start("tool")
    return _Call(start, match.group("tool"), match.group("gap"), match.start("open"), labelled)


def _parse_call(text: str, call: _Call, family: str, repairs: list[str]) -> ParsedStep:
    """Build the step from a located tool call."""
    thought = _clean_thought(text[: call.start])
    raw, end, terminated = _read_argument(text, call.open_pos)
    _note(repairs, REPAIR_UNLABELLED_ACTION, not call.labelled)
    _note(repairs, REPAIR_TOOL_CASE, call.tool != call.tool.lower())
    _note(repairs, REPAIR_TOOL_SPACE, bool(call.gap))
    _note(repairs, REPAIR_ROUND_BRACKETS, text[call.open_pos] == "(")
    _note(repairs, REPAIR_UNTERMINATED, not terminated)
    argument, quoted = _unquote(raw.strip())
    _note(repairs, REPAIR_QUOTED_ARGUMENT, quoted)
    tool = call.tool.lower()
    if tool == "finish":
        argument, boxed = _unwrap_boxed(argument)
        _note(repairs, REPAIR_BOXED, boxed)
    _note_trailing(text[end:], repairs)
    if tool not in allowed_tools(family):
        expected = ", ".join(TOOLS_BY_FAMILY[family])
        error = f"unknown tool '{call.tool}'; expected one of {expected}"
        return ParsedStep(thought=thought, error=error, repairs=repairs)
    if not argument:
        return ParsedStep(thought=thought, error=f"empty argument to {tool}", repairs=repairs)
    return ParsedStep(thought=thought, action=Action(tool=tool, argument=argument), repairs=repairs)


def _read_argument(text: str, open_pos: int) -> tuple[str, int, bool]:
    """The bracketed argument, matched by depth; unterminated: the rest of the line.

    Returns (argument, end of the call, terminated).
    """
    opener = text[open_pos]
    pattern = _SQUARE_BRACKETS if opener == "[" else _ROUND_BRACKETS
    depth = 0
    for match in pattern.finditer(text, open_pos):
        depth += 1 if match.group() == opener else -1
        if depth == 0:
            return text[open_pos + 1 : match.start()], match.end(), True
    line_end = text.find("\n", open_pos)
    if line_end < 0:
        line_end = len(text)
    return text[open_pos + 1 : line_end], line_end, False


def _note_trailing(rest: str, repairs: list[str]) -> None:
    """Record text after the action, and whether it holds another action."""
    if not rest.strip(" \t\r\n*`"):
        return
    _note(repairs, REPAIR_TRAILING_TEXT, True)
    another = _LABELLED_CALL.search(rest) or _BARE_SQUARE.search(rest) or _BARE_ROUND.search(rest)
    _note(repairs, REPAIR_MULTIPLE_ACTIONS, another is not None)


def _parse_without_call(text: str, repairs: list[str]) -> ParsedStep:
    """No tool call: read a final answer from \\boxed{} or an answer phrase, else fail."""
    thought = _clean_thought(text)
    boxed = _last_boxed(text)
    if boxed is not None:
        answer, terminated = boxed
        _note(repairs, REPAIR_BOXED, True)
        _note(repairs, REPAIR_UNTERMINATED, not terminated)
        return _finish(thought, answer, repairs)
    phrase = _answer_phrase(text)
    if phrase is not None:
        _note(repairs, REPAIR_ANSWER_PHRASE, True)
        return _finish(thought, phrase, repairs)
    return ParsedStep(thought=thought, error=_no_action_error(text), repairs=repairs)


def _finish(thought: str, answer: str, repairs: list[str]) -> ParsedStep:
    return ParsedStep(thought=thought, action=Action(tool="finish", argument=answer), repairs=repairs)


def _no_action_error(text: str) -> str:
    """Say what was wrong; quote the action line when there is one."""
    label = _ACTION_LABEL.search(text)
    if label is None:
        return ERROR_NO_ACTION
    line_end = text.find("\n", label.start())
    line = text[label.start() : line_end if line_end >= 0 else len(text)].strip()
    if len(line) > 80:
        line = line[:77] + "..."
    return f"{ERROR_NO_ACTION}: could not read {line!r}"


def _clean_thought(text: str) -> str:
    """The thought with its label removed, on one line."""
    label = _THOUGHT_LABEL.match(text)
    if label is not None:
        text = text[label.end() :]
    return _collapse(text).rstrip(" *`")


# ---------------------------------------------------------------------------------------------
# Final answers from free text


def extract_answer_from_text(text: str, family: str, *, last_line: bool = False) -> tuple[str | None, str]:
    """A final answer read from free text, and how it was read.

    Tries ``\\boxed{}``, then an answer phrase ("Final Answer: ...", "The answer is ..."), then for
    math the last number, then (with ``last_line``, for a whole reply that ends where its answer
    does: a QA chain of thought that states "Animorphs" and nothing else) the last non-empty line.
    Returns ``(None, "none")`` when nothing fits; never guesses a value.
    """
    try:
        if not isinstance(text, str):
            return None, "none"
        text, _ = _strip_special_tokens(text)
        boxed = _last_boxed(text)
        if boxed is not None:
            return boxed[0], "boxed"
        phrase = _answer_phrase(text)
        if phrase is not None:
            return phrase, "answer_phrase"
        number = _last_number(text) if family == "math" else None
        if number is not None:
            return number, "last_number"
        line = _last_line(text) if last_line else None
        if line is not None:
            return line, "last_line"
    except Exception:  # noqa: BLE001 - extraction failure is an answer of None, not a crash
        pass
    return None, "none"


def _last_line(text: str) -> str | None:
    """The last non-empty line, without list marks, emphasis, quotes or a closing full stop."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    line = lines[-1].lstrip("-*# ").strip().strip("*_`\"'").strip()
    line = line.removesuffix(".").strip()
    return line or None


def _last_boxed(text: str) -> tuple[str, bool] | None:
    """The content of the last closed, non-empty \\boxed{...}; else an unclosed one's line."""
    opens = [match.end() - 1 for match in _BOXED_OPEN.finditer(text)]
    if not opens:
        return None
    closes = _matching_braces(text)
    for open_pos in reversed(opens):
        close = closes.get(open_pos)
        if close is not None:
            content = text[open_pos + 1 : close].strip()
            if content:
                return content, True
    last = opens[-1]
    if last in closes:
        return None
    line_end = text.find("\n", last)
    rest = text[last + 1 : line_end if line_end >= 0 else len(text)].strip()
    return (rest, False) if rest else None


def _matching_braces(text: str) -> dict[int, int]:
    """Position of each '{' mapped to its matching '}', in one pass."""
    stack: list[int] = []
    closes: dict[int, int] = {}
    for match in _BRACES.finditer(text):
        if match.group() == "{":
            stack.append(match.start())
        elif stack:
            closes[stack.pop()] = match.start()
    return closes


def _unwrap_boxed(argument: str) -> tuple[str, bool]:
    """``\\boxed{42}`` as a whole argument becomes ``42``."""
    match = _BOXED_OPEN.match(argument)
    if match is None or not argument.endswith("}"):
        return argument, False
    open_pos = match.end() - 1
    if _matching_braces(argument).get(open_pos) != len(argument) - 1:
        return argument, False
    inner = argument[open_pos + 1 : -1].strip()
    return (inner, True) if inner else (argument, False)


def _answer_phrase(text: str) -> str | None:
    """The answer after the last "answer is" / "Answer:"; the next line if that one is empty."""
    last = None
    for last in _ANSWER_PHRASE.finditer(text):
        pass
    if last is None:
        return None
    line_end = text.find("\n", last.end())
    if line_end < 0:
        return _clean_answer(text[last.end() :])
    answer = _clean_answer(text[last.end() : line_end])
    if answer is None:
        next_end = text.find("\n", line_end + 1)
        answer = _clean_answer(text[line_end + 1 : next_end if next_end >= 0 else len(text)])
    return answer


def _clean_answer(raw: str) -> str | None:
    """Strip markup, a sentence-ending period and quotes from a phrase answer."""
    answer = raw.strip().strip("*`").strip()
    if answer.endswith(".") and not _ABBREVIATION_END.search(answer):
        answer = answer[:-1].rstrip()
    answer, _ = _unquote(answer)
    if len(answer) >= 2 and answer[0] == answer[-1] == "$" and "$" not in answer[1:-1]:
        answer = answer[1:-1].strip()
    return answer or None


def _last_number(text: str) -> str | None:
    """The last number in the text, thousands separators removed."""
    last = None
    for last in _NUMBER.finditer(text):
        pass
    return None if last is None else last.group().replace(",", "")


# ---------------------------------------------------------------------------------------------
# Small helpers


def _unquote(value: str) -> tuple[str, bool]:
    """Remove one pair of enclosing quotes when the quote does not also occur inside."""
    if len(value) < 2:
        return value, False
    closer = _QUOTE_PAIRS.get(value[0])
    inner = value[1:-1]
    if closer is None or value[-1] != closer or value[0] in inner or closer in inner:
        return value, False
    return inner.strip(), True


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _note(repairs: list[str], repair: str, applied: bool) -> None:
    if applied and repair not in repairs:
        repairs.append(repair)
