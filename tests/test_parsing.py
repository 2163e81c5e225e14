"""The trajectory format: rendering, lenient step parsing, and answer extraction from free text."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from adaswitch.actions import Action, ParsedStep
from adaswitch.parsing import (
    ALL_REPAIRS,
    ERROR_EMPTY_STEP,
    ERROR_INTERNAL,
    ERROR_NO_ACTION,
    REPAIR_ANSWER_PHRASE,
    REPAIR_BOXED,
    REPAIR_CODE_FENCE,
    REPAIR_MULTIPLE_ACTIONS,
    REPAIR_OBSERVATION_CUT,
    REPAIR_QUOTED_ARGUMENT,
    REPAIR_ROUND_BRACKETS,
    REPAIR_SPECIAL_TOKEN,
    REPAIR_TOOL_CASE,
    REPAIR_TOOL_SPACE,
    REPAIR_TRAILING_TEXT,
    REPAIR_UNLABELLED_ACTION,
    REPAIR_UNTERMINATED,
    TOOLS_BY_FAMILY,
    allowed_tools,
    extract_answer_from_text,
    parse_step,
    render_observation,
    render_question,
    render_step,
)

FENCE = "```"

# (id, family, text, thought, (tool, argument) or None, error or None, repairs)
CASES = [
    (
        "canonical-math",
        "math",
        "Thought 3: I need the total.\nAction 3: calculate[12 * 4]",
        "I need the total.",
        ("calculate", "12 * 4"),
        None,
        set(),
    ),
    (
        "canonical-qa-search",
        "qa",
        "Thought 1: I should look up who directed Jaws.\nAction 1: search[director of Jaws]",
        "I should look up who directed Jaws.",
        ("search", "director of Jaws"),
        None,
        set(),
    ),
    (
        "canonical-finish-trailing-newline",
        "math",
        "Thought 4: So the answer is 48.\nAction 4: finish[48]\n",
        "So the answer is 48.",
        ("finish", "48"),
        None,
        set(),
    ),
    (
        "prompt-ended-with-thought-label",
        "math",
        " I need the total.\nAction 3: calculate[12 * 4]",
        "I need the total.",
        ("calculate", "12 * 4"),
        None,
        set(),
    ),
    (
        "unnumbered-labels",
        "math",
        "Thought: Add the two amounts.\nAction: calculate[15 + 27]",
        "Add the two amounts.",
        ("calculate", "15 + 27"),
        None,
        set(),
    ),
    (
        "other-step-number",
        "math",
        "Thought 7: Halve it.\nAction 7: calculate[84 / 2]",
        "Halve it.",
        ("calculate", "84 / 2"),
        None,
        set(),
    ),
    (
        "multiline-thought-collapsed",
        "math",
        "Thought 2: First,   the price\n  per apple.\n\nAction 2: calculate[6 / 3]",
        "First, the price per apple.",
        ("calculate", "6 / 3"),
        None,
        set(),
    ),
    (
        "markdown-bold-labels",
        "math",
        "**Thought 2:** Multiply.\n**Action 2:** calculate[6*7]",
        "Multiply.",
        ("calculate", "6*7"),
        None,
        set(),
    ),
    (
        "bare-call-line",
        "math",
        "Thought 2: Multiply the rows by the columns.\ncalculate[6 * 7]",
        "Multiply the rows by the columns.",
        ("calculate", "6 * 7"),
        None,
        {REPAIR_UNLABELLED_ACTION},
    ),
    (
        "bare-call-no-thought",
        "qa",
        "search[Christopher Nolan birthplace]",
        "",
        ("search", "Christopher Nolan birthplace"),
        None,
        {REPAIR_UNLABELLED_ACTION},
    ),
    (
        "fence-around-action",
        "math",
        f"Thought 2: Multiply.\n{FENCE}python\nAction 2: calculate[6 * 7]\n{FENCE}",
        "Multiply.",
        ("calculate", "6 * 7"),
        None,
        {REPAIR_CODE_FENCE},
    ),
    (
        "fence-around-step",
        "math",
        f"{FENCE}\nThought 2: Multiply.\nAction 2: calculate[6*7]\n{FENCE}",
        "Multiply.",
        ("calculate", "6*7"),
        None,
        {REPAIR_CODE_FENCE},
    ),
    (
        "inline-fence",
        "math",
        f"Thought 1: Add.\nAction 1: {FENCE}calculate[2+2]{FENCE}",
        "Add.",
        ("calculate", "2+2"),
        None,
        {REPAIR_CODE_FENCE},
    ),
    (
        "python-fence-round-call",
        "math",
        f"To find the total we multiply.\n\n{FENCE}python\ncalculate((3+4)*2)\n{FENCE}<|im_end|>",
        "To find the total we multiply.",
        ("calculate", "(3+4)*2"),
        None,
        {REPAIR_SPECIAL_TOKEN, REPAIR_CODE_FENCE, REPAIR_UNLABELLED_ACTION, REPAIR_ROUND_BRACKETS},
    ),
    (
        "boxed",
        "math",
        "Thought 5: The total is 42, so \\boxed{42}",
        "The total is 42, so \\boxed{42}",
        ("finish", "42"),
        None,
        {REPAIR_BOXED},
    ),
    (
        "boxed-nested-braces",
        "math",
        "The probability is \\boxed{\\frac{1}{2}}.",
        "The probability is \\boxed{\\frac{1}{2}}.",
        ("finish", "\\frac{1}{2}"),
        None,
        {REPAIR_BOXED},
    ),
    (
        "boxed-beats-answer-phrase",
        "math",
        "The answer is: $\\boxed{7}$",
        "The answer is: $\\boxed{7}$",
        ("finish", "7"),
        None,
        {REPAIR_BOXED},
    ),
    (
        "boxed-inside-finish",
        "math",
        "Thought 3: Done.\nAction 3: finish[\\boxed{12}]",
        "Done.",
        ("finish", "12"),
        None,
        {REPAIR_BOXED},
    ),
    (
        "final-answer-phrase",
        "math",
        "Thought 4: All amounts are added.\nFinal Answer: 42",
        "All amounts are added. Final Answer: 42",
        ("finish", "42"),
        None,
        {REPAIR_ANSWER_PHRASE},
    ),
    (
        "the-answer-is",
        "math",
        "She has 18 eggs left, so the answer is 18.",
        "She has 18 eggs left, so the answer is 18.",
        ("finish", "18"),
        None,
        {REPAIR_ANSWER_PHRASE},
    ),
    (
        "answer-colon-qa",
        "qa",
        "Thought 3: The paragraph says Paris.\nAnswer: Paris",
        "The paragraph says Paris. Answer: Paris",
        ("finish", "Paris"),
        None,
        {REPAIR_ANSWER_PHRASE},
    ),
    (
        "answer-on-next-line",
        "math",
        "**Final Answer:**\n42",
        "**Final Answer:** 42",
        ("finish", "42"),
        None,
        {REPAIR_ANSWER_PHRASE},
    ),
    (
        "answer-phrase-ignored-with-real-action",
        "math",
        "Thought 4: The answer is 42.\nAction 4: finish[42]",
        "The answer is 42.",
        ("finish", "42"),
        None,
        set(),
    ),
    (
        "tool-capitalised",
        "math",
        "Thought 1: Add.\nAction 1: Calculate[3+4]",
        "Add.",
        ("calculate", "3+4"),
        None,
        {REPAIR_TOOL_CASE},
    ),
    (
        "tool-upper-case",
        "math",
        "Thought 1: Add.\nAction 1: CALCULATE[3+4]",
        "Add.",
        ("calculate", "3+4"),
        None,
        {REPAIR_TOOL_CASE},
    ),
    (
        "space-before-bracket",
        "math",
        "Thought 1: Add.\nAction 1: calculate [3+4]",
        "Add.",
        ("calculate", "3+4"),
        None,
        {REPAIR_TOOL_SPACE},
    ),
    (
        "round-brackets",
        "math",
        "Thought 1: Add.\nAction 1: calculate(3+4)",
        "Add.",
        ("calculate", "3+4"),
        None,
        {REPAIR_ROUND_BRACKETS},
    ),
    (
        "nested-brackets",
        "math",
        "Thought 1: Sum then double.\nAction 1: calculate[(3+4)*2]",
        "Sum then double.",
        ("calculate", "(3+4)*2"),
        None,
        set(),
    ),
    (
        "list-argument",
        "qa",
        "Thought 3: Both of them.\nAction 3: finish[[1, 2]]",
        "Both of them.",
        ("finish", "[1, 2]"),
        None,
        set(),
    ),
    (
        "unterminated-at-end",
        "math",
        "Thought 1: Add them.\nAction 1: calculate[3+4",
        "Add them.",
        ("calculate", "3+4"),
        None,
        {REPAIR_UNTERMINATED},
    ),
    (
        "unterminated-round-bare",
        "math",
        "calculate(3+4",
        "",
        ("calculate", "3+4"),
        None,
        {REPAIR_UNLABELLED_ACTION, REPAIR_ROUND_BRACKETS, REPAIR_UNTERMINATED},
    ),
    (
        "double-quoted-argument",
        "qa",
        'Thought 2: Look it up.\nAction 2: search["Eiffel Tower height"]',
        "Look it up.",
        ("search", "Eiffel Tower height"),
        None,
        {REPAIR_QUOTED_ARGUMENT},
    ),
    (
        "single-quoted-finish-round",
        "qa",
        "Thought 4: Found it.\nAction 4: finish('Paris')",
        "Found it.",
        ("finish", "Paris"),
        None,
        {REPAIR_ROUND_BRACKETS, REPAIR_QUOTED_ARGUMENT},
    ),
    (
        "quotes-inside-kept",
        "qa",
        "Thought 4: Two titles.\nAction 4: finish['Up', 'Cars']",
        "Two titles.",
        ("finish", "'Up', 'Cars'"),
        None,
        set(),
    ),
    (
        "empty-argument",
        "math",
        "Thought 1: Compute.\nAction 1: calculate[]",
        "Compute.",
        None,
        "empty argument to calculate",
        set(),
    ),
    (
        "empty-quoted-argument",
        "qa",
        'Thought 1: Done.\nAction 1: finish[""]',
        "Done.",
        None,
        "empty argument to finish",
        {REPAIR_QUOTED_ARGUMENT},
    ),
    (
        "trailing-text",
        "math",
        "Thought 1: Add.\nAction 1: calculate[3+4] which gives 7",
        "Add.",
        ("calculate", "3+4"),
        None,
        {REPAIR_TRAILING_TEXT},
    ),
    (
        "several-actions",
        "math",
        "Thought 1: Add, then double.\nAction 1: calculate[3+4]\nAction 2: calculate[7*2]",
        "Add, then double.",
        ("calculate", "3+4"),
        None,
        {REPAIR_TRAILING_TEXT, REPAIR_MULTIPLE_ACTIONS},
    ),
    (
        "hallucinated-observation",
        "math",
        "Thought 1: Add.\nAction 1: calculate[3+4]\nObservation 1: 7\nThought 2: Done.\nAction 2: finish[7]",
        "Add.",
        ("calculate", "3+4"),
        None,
        {REPAIR_OBSERVATION_CUT},
    ),
    (
        "observation-before-action",
        "math",
        "Thought 1: I know it.\nObservation: 7\nAction 1: finish[7]",
        "I know it.",
        None,
        ERROR_NO_ACTION,
        {REPAIR_OBSERVATION_CUT},
    ),
    (
        "im-end-token",
        "math",
        "Thought 1: Add.\nAction 1: calculate[3+4]<|im_end|>",
        "Add.",
        ("calculate", "3+4"),
        None,
        {REPAIR_SPECIAL_TOKEN},
    ),
    (
        "eos-token-then-junk",
        "math",
        "Thought 2: Done.\nAction 2: finish[7]</s>\n<|im_start|>user\nThanks",
        "Done.",
        ("finish", "7"),
        None,
        {REPAIR_SPECIAL_TOKEN},
    ),
    (
        "deepseek-end-token",
        "math",
        "Thought 2: Done.\nAction 2: finish[7]<｜end▁of▁sentence｜>",
        "Done.",
        ("finish", "7"),
        None,
        {REPAIR_SPECIAL_TOKEN},
    ),
    (
        "unknown-tool",
        "math",
        "Thought 1: Look it up.\nAction 1: lookup[apple price]",
        "Look it up.",
        None,
        "unknown tool 'lookup'; expected one of calculate, finish",
        set(),
    ),
    (
        "qa-tool-in-math",
        "math",
        "Thought 1: Search.\nAction 1: search[capital of France]",
        "Search.",
        None,
        "unknown tool 'search'; expected one of calculate, finish",
        set(),
    ),
    (
        "math-tool-in-qa",
        "qa",
        "Thought 1: Count.\nAction 1: calculate[1990 - 1951]",
        "Count.",
        None,
        "unknown tool 'calculate'; expected one of search, finish",
        set(),
    ),
    (
        "solve-has-no-tool",
        "math",
        "Thought 2: Solve for x.\nAction 2: solve[x + 2 = 5]",
        "Solve for x.",
        None,
        "unknown tool 'solve'; expected one of calculate, finish",
        set(),
    ),
    ("empty-text", "math", "", "", None, ERROR_EMPTY_STEP, set()),
    ("whitespace-text", "qa", "  \n\t ", "", None, ERROR_EMPTY_STEP, set()),
    (
        "only-special-token",
        "math",
        "<|im_end|>",
        "",
        None,
        ERROR_EMPTY_STEP,
        {REPAIR_SPECIAL_TOKEN},
    ),
    (
        "prose-without-action",
        "math",
        "I am not sure what to do next.",
        "I am not sure what to do next.",
        None,
        ERROR_NO_ACTION,
        set(),
    ),
    (
        "action-label-without-call",
        "math",
        "Thought 3: Done.\nAction 3: finish 42",
        "Done. Action 3: finish 42",
        None,
        f"{ERROR_NO_ACTION}: could not read 'Action 3: finish 42'",
        set(),
    ),
]


@pytest.mark.parametrize(
    ("family", "text", "thought", "action", "error", "repairs"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_parse_step_cases(family, text, thought, action, error, repairs):
    step = parse_step(text, family)
    assert step.thought == thought
    if action is None:
        assert step.action is None
    else:
        assert step.action == Action(tool=action[0], argument=action[1])
    assert step.error == error
    assert set(step.repairs) == repairs
    assert len(step.repairs) == len(set(step.repairs))


def test_case_table_covers_every_repair():
    used = set().union(*(case[6] for case in CASES))
    assert used == set(ALL_REPAIRS)
    assert len(CASES) >= 30


def test_unknown_family_is_an_error_not_an_exception():
    step = parse_step("Action 1: calculate[1+1]", "chemistry")
    assert step.action is None
    assert step.error is not None and "unknown family" in step.error


def test_non_text_input_is_an_error_not_an_exception():
    step = parse_step(None, "math")  # type: ignore[arg-type]
    assert step.error == ERROR_EMPTY_STEP


def test_allowed_tools_are_the_toolbox_and_finish():
    assert TOOLS_BY_FAMILY == {"math": ("calculate", "finish"), "qa": ("search", "finish")}
    assert allowed_tools("math") == ("calculate", "finish")
    assert allowed_tools("qa") == ("search", "finish")


# ---------------------------------------------------------------------------------------------
# Rendering


def test_render_step_is_canonical():
    text = render_step(3, "I need the total.", Action(tool="calculate", argument="12 * 4"))
    assert text == "Thought 3: I need the total.\nAction 3: calculate[12 * 4]"


def test_render_step_puts_the_thought_on_one_line():
    text = render_step(1, "  two\nlines  ", Action(tool="finish", argument="7"))
    assert text == "Thought 1: two lines\nAction 1: finish[7]"


def test_render_observation_and_question():
    assert render_observation(2, "  Paragraph one.\nParagraph two.\n ") == (
        "Observation 2: Paragraph one.\nParagraph two."
    )
    assert render_question("How many apples?") == "Question: How many apples?"


# ---------------------------------------------------------------------------------------------
# Round trip

_THOUGHT_WORDS = st.sampled_from(
    ["I", "need", "the", "total", "Thought", "calculate", "finish", "search", "Observation",
     "3+4", "(x)", "answer:", "42.", "\\boxed", "Final", "=", "$5", "é", "中文"]
)
_THOUGHT_CHARS = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ0123456789 .,;:!?'\"()+-*/=%$é中\t\n",
    max_size=12,
)
_THOUGHTS = st.lists(st.one_of(_THOUGHT_WORDS, _THOUGHT_CHARS), max_size=12).map(
    lambda parts: " ".join(" ".join(parts).split())
)
_ARGUMENT_CHARS = "abcdefXYZ0123456789 +-*/().,'\"%$=^{}\\é"
_PLAIN_ARGUMENTS = st.text(alphabet=_ARGUMENT_CHARS, max_size=15)
_ARGUMENTS = st.recursive(
    _PLAIN_ARGUMENTS,
    lambda inner: st.one_of(
        inner.map(lambda s: f"[{s}]"),
        st.lists(inner, min_size=2, max_size=3).map("".join),
    ),
    max_leaves=6,
).map(str.strip)


def _quote_wrapped(value: str) -> bool:
    return len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'"


@settings(max_examples=500, deadline=None)
@given(
    index=st.integers(min_value=1, max_value=99),
    family=st.sampled_from(sorted(TOOLS_BY_FAMILY)),
    thought=_THOUGHTS,
    argument=_ARGUMENTS,
    data=st.data(),
)
def test_render_then_parse_round_trips(index, family, thought, argument, data):
    assume(argument and not _quote_wrapped(argument) and not argument.startswith("\\boxed"))
    assume("action" not in thought.lower() and not thought.endswith("*"))
    tool = data.draw(st.sampled_from(allowed_tools(family)))
    action = Action(tool=tool, argument=argument)
    step = parse_step(render_step(index, thought, action), family)
    assert step.error is None
    assert step.action == action
    assert step.thought == thought
    assert step.repairs == []


# ---------------------------------------------------------------------------------------------
# Fuzz and timing

_FRAGMENTS = [
    "Thought", "Thought 1:", "Thought:", "Action", "Action 2:", "Action:", "ACTION 1 :",
    "calculate[", "Calculate (", "calculate(", "finish[", "search[", "solve[", "lookup[",
    "]", ")", "[", "(", "```", "```python\n", "\\boxed{", "\\boxed", "{", "}",
    "Observation", "Observation 1:", "\n", " ", "\t", "Final Answer:", "The answer is", "Answer:",
    "<|im_end|>", "</s>", "<|im_start|>", "<｜end▁of▁sentence｜>", '"', "'", "3+4", "42", "**", "`",
]
_STEP_TEXTS = st.one_of(
    st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=8)), max_size=25).map(
        "".join
    ),
    st.text(max_size=200),
)


def _check_invariants(step: ParsedStep, family: str) -> None:
    assert isinstance(step, ParsedStep)
    assert (step.action is None) != (step.error is None)
    assert not (step.error or "").startswith(ERROR_INTERNAL)
    assert set(step.repairs) <= set(ALL_REPAIRS)
    assert len(step.repairs) == len(set(step.repairs))
    assert step.thought == " ".join(step.thought.split())
    if step.action is not None:
        assert step.action.tool in allowed_tools(family)
        assert step.action.argument and step.action.argument == step.action.argument.strip()


@settings(
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(text=_STEP_TEXTS, family=st.sampled_from(sorted(TOOLS_BY_FAMILY)))
def test_parse_step_never_fails_on_generated_text(text, family):
    _check_invariants(parse_step(text, family), family)
    answer, method = extract_answer_from_text(text, family)
    assert method in {"boxed", "answer_phrase", "last_number", "none"}
    assert (answer is None) == (method == "none")


ADVERSARIAL = {
    "calculate-open": "calculate[" * 2000,
    "square-open": "[" * 20000,
    "round-open": "(" * 20000,
    "square-close": "]" * 20000,
    "boxed-open": "\\boxed{" * 3000,
    "brace-open": "{" * 20000,
    "boxed-nested-closed": "\\boxed{" * 2500 + "}" * 2500,
    "action-labels": "Action 1: " * 2000,
    "action-spaces": "Action" + " " * 20000,
    "action-underscores": "Action: " + "_" * 20000,
    "action-word": "Action 1: " + "a" * 20000,
    "fences": "```" * 7000,
    "fence-spaces": "```" + " " * 20000 + "x",
    "answer-phrases": "The answer is " * 1500,
    "answer-colons": "Answer:" * 3000,
    "observations": "Observation\n" * 1700,
    "thought-label": "Thought" + " " * 20000,
    "special-tokens": "<|" * 10000,
    "digits": "1," * 10000,
    "mixed": ("Action 1: calculate[(" + "\\boxed{" + "```") * 700,
}


@pytest.mark.parametrize("text", list(ADVERSARIAL.values()), ids=list(ADVERSARIAL))
@pytest.mark.parametrize("family", sorted(TOOLS_BY_FAMILY))
def test_adversarial_input_parses_quickly(text, family):
    assert len(text) >= 20_000
    started = time.perf_counter()
    step = parse_step(text, family)
    extract_answer_from_text(text, family)
    elapsed = time.perf_counter() - started
    _check_invariants(step, family)
    assert elapsed < 1.0


# ---------------------------------------------------------------------------------------------
# Answer extraction from free text


@pytest.mark.parametrize(
    ("text", "family", "expected"),
    [
        ("So the total is \\boxed{42}.", "math", ("42", "boxed")),
        ("First \\boxed{3}, then corrected: \\boxed{\\frac{1}{2}}", "math", ("\\frac{1}{2}", "boxed")),
        ("Final Answer: 42", "math", ("42", "answer_phrase")),
        ("The answer is 17 dollars.", "math", ("17 dollars", "answer_phrase")),
        ("So the answer is yes.", "qa", ("yes", "answer_phrase")),
        ('Answer: "Washington, D.C."', "qa", ("Washington, D.C.", "answer_phrase")),
        ("Final Answer:\nParis<|im_end|>", "qa", ("Paris", "answer_phrase")),
        ("The answer is $\\frac{3}{4}$.", "math", ("\\frac{3}{4}", "answer_phrase")),
        ("She pays 3 * 4 = 12, then 1,250 more.", "math", ("1250", "last_number")),
        ("The change is -3.5 degrees", "math", ("-3.5", "last_number")),
        ("Half of it: 1/2", "math", ("1/2", "last_number")),
        ("He was born in 1951 in London.", "qa", (None, "none")),
        ("I could not work it out.", "math", (None, "none")),
        ("", "math", (None, "none")),
        ("\\boxed{}", "math", (None, "none")),
    ],
)
def test_extract_answer_from_text(text, family, expected):
    assert extract_answer_from_text(text, family) == expected


def test_a_bare_line_is_an_answer_only_when_the_caller_asks_for_the_last_line():
    # a paragraph step of the QA agent that states a fact is not a finish; a whole QA reply can be
    text = "The film came out in 1999.\nIt was directed by Anna Lind."
    assert extract_answer_from_text(text, "qa") == (None, "none")
    assert extract_answer_from_text(text, "qa", last_line=True) == ("It was directed by Anna Lind", "last_line")
    assert extract_answer_from_text("So the answer is: Anna Lind.\nDone", "qa", last_line=True)[1] == "answer_phrase"
