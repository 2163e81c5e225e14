"""Hand-written tricky cases for number normalisation, extraction and the scorers."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adaswitch.benchmarks import Sample, get_benchmark
from adaswitch.scoring import (
    answer_span,
    exact_match,
    extract_latex,
    extract_number,
    extract_text,
    extract_yes_no,
    format_number,
    last_boxed,
    math_verify_equal,
    normalize_number,
    numbers_equal,
    squad_normalize,
    token_f1,
    yes_no,
)


@pytest.mark.parametrize(("text", "value"), [
    ("18", 18), ("18.", 18), ("$18.00", 18), ("18 dollars", 18), ("18 (apples)", 18),
    ("1,234", 1234), ("$1,234.50", Fraction(2469, 2)), ("1{,}000", 1000), ("1\\,000", 1000),
    ("-5", -5), ("−5", -5), ("-$5", -5), ("$-5", -5), ("-0.0", 0), ("0", 0),
    ("50%", 50), ("50\\%", 50), ("12.5 percent", Fraction(25, 2)),
    ("1/2", Fraction(1, 2)), ("\\frac{1}{2}", Fraction(1, 2)), ("\\dfrac{3}{4}", Fraction(3, 4)),
    ("\\frac12", Fraction(1, 2)), ("-\\frac{1}{2}", Fraction(-1, 2)), ("-(1/3)", Fraction(-1, 3)),
    (".5", Fraction(1, 2)), ("1.5e3", 1500), ("1e-3", Fraction(1, 1000)),
    ("2 \\times 10^{3}", 2000), ("\\boxed{18}", 18), ("\\boxed{\\frac{1}{2}}", Fraction(1, 2)),
    ("$\\$1,234.50$", Fraction(2469, 2)), ("90^\\circ", 90), ("18 \\text{ dollars}", 18),
    ("$5/hour", 5), ("10 cm^2", 10),
])
def test_normalize_number_reads(text: str, value: Fraction | int) -> None:
    assert normalize_number(text) == value


@pytest.mark.parametrize("text", [
    None, "", "abc", "3:30", "5:6", "2\\pi", "5x", "6 - 5i", "3, 5, 7", "1 1/2", "12,3",
    "5 apples and 3 oranges", "\\sqrt{2}", "1/0", "x",
])
def test_normalize_number_refuses(text: str | None) -> None:
    assert normalize_number(text) is None  # never coerced to 0


@given(st.fractions(max_denominator=10**6))
def test_format_number_round_trips(value: Fraction) -> None:
    assert normalize_number(format_number(value)) == value


def test_format_number_forms() -> None:
    assert [format_number(Fraction(x)) for x in ("18", "0.75", "1/3", "-2.5")] == \
        ["18", "0.75", "1/3", "-2.5"]


def test_numbers_equal() -> None:
    assert numbers_equal("1,234", "1234.0")
    assert numbers_equal("0.5", "\\frac{1}{2}")
    assert numbers_equal("0.3333333", "1/3", rel_tol=1e-6)
    assert not numbers_equal("0.333", "1/3")
    assert not numbers_equal(None, "0") and not numbers_equal("abc", "0")
    assert not numbers_equal("-5", "5")


def test_last_boxed_nested_and_braceless() -> None:
    assert last_boxed("a \\boxed{1} then \\boxed{\\frac{1}{\\sqrt{2}}}.") == "\\frac{1}{\\sqrt{2}}"
    assert last_boxed("so $\\boxed 2$.") == "2"
    assert last_boxed("\\fbox{7}") == "7"
    assert last_boxed("no box") is None and last_boxed("\\boxed{unclosed") is None


@pytest.mark.parametrize(("text", "answer", "method"), [
    ("The answer is 18.", "18", "answer-is"),
    ("So she makes $18 every day. The answer is $18.00.", "18", "answer-is"),
    ("#### 1,234", "1234", "answer-is"),
    ("\\boxed{\\frac{1}{2}}", "0.5", "boxed"),
    ("$1,234.50", "1234.5", "text"),
    ("18 dollars", "18", "text"),
    ("x = 5", "5", "text"),
    ("answer: -7.", "-7", "answer-is"),
    ("She pays 16 - 3 - 4 = 9 eggs, which cost $18, so", "18", "text+last-number"),
    ("The answer is \\(\\frac{1}{2}\\).", "0.5", "answer-is"),
])
def test_extract_number(text: str, answer: str, method: str) -> None:
    found = extract_number(text)
    assert (found.answer, found.ok, found.method) == (answer, True, method)


@pytest.mark.parametrize("text", [None, "", "   ", "no numbers here", "I cannot tell."])
def test_extract_number_failure_is_reported(text: str | None) -> None:
    found = extract_number(text)
    assert found.answer is None and not found.ok


def test_answer_span_keeps_abbreviations() -> None:
    assert answer_span("The answer is Mrs. Hilt.")[0] == "Mrs. Hilt"
    assert answer_span("The answer is J. K. Rowling. Done.")[0] == "J. K. Rowling"
    assert answer_span("The answer is 18. Let me check 5 again.")[0] == "18"
    assert answer_span("The answer is 3:30 p.m. today.")[0] == "3:30 p.m. today"


def test_extract_text_and_latex() -> None:
    assert extract_text('The answer is "Chief of Protocol".').answer == "Chief of Protocol"
    assert extract_text("Chief of Protocol").method == "text"
    assert extract_text(None).ok is False
    assert extract_latex("so $x = \\boxed{\\frac{\\sqrt{2}}{2}}$").answer == "\\frac{\\sqrt{2}}{2}"
    assert extract_latex("The answer is $\\pi$.").answer == "\\pi"


@pytest.mark.parametrize(("text", "polarity"), [
    ("Yes", True), ("Yes.", True), ("yes, because it is", True), ("TRUE", True), ("**No**", False),
    ("no, because...", False), ("No.", False), ("false", False), ("\\boxed{yes}", True),
    ("maybe", None), ("It is not", None), ("", None), (None, None),
])
def test_yes_no(text: str | None, polarity: bool | None) -> None:
    assert yes_no(text) is polarity


def test_extract_yes_no() -> None:
    assert extract_yes_no("Thus the answer is no.").answer == "no"
    assert extract_yes_no("Yes. The Albany in NY is larger.").answer == "yes"
    unknown = extract_yes_no("It depends on the year.")
    assert unknown.answer is None and not unknown.ok


@pytest.mark.parametrize(("pred", "gold"), [
    ("0.5", "\\frac{1}{2}"), ("\\sqrt{2}/2", "\\frac{\\sqrt2}{2}"), ("\\dfrac{3}{56}", "\\frac{3}{56}"),
    ("(3, \\pi/2)", "\\left( 3, \\frac{\\pi}{2} \\right)"), ("90", "90^\\circ"), ("-2, 1", "1,-2"),
    ("6-5i", "6 - 5i"), ("p-q", "p - q"), ("2,220", "2220"), ("5", "x=5"),
    ("Evelyn", "\\text{Evelyn}"), ("x^5-x^4+x^3-x^2+x-1", "x^5 - x^4 + x^3 - x^2 + x - 1"),
])
def test_math_verify_equivalent(pred: str, gold: str) -> None:
    assert math_verify_equal(pred, gold)


@pytest.mark.parametrize(("pred", "gold"), [
    ("2", "1"), ("2\\pi", "2"), ("\\pi", "3.14159"), ("hello", "\\frac{1}{2}"), (None, "1"), ("", "1"),
    ("\\frac{1}{2", "\\frac{1}{2}"),
])
def test_math_verify_different(pred: str | None, gold: str) -> None:
    assert not math_verify_equal(pred, gold)


def test_squad_em_and_f1() -> None:
    assert squad_normalize("The  Eiffel Tower!") == "eiffel tower"
    assert exact_match("the Eiffel tower.", "Eiffel Tower") == 1.0
    assert exact_match("Eiffel", "Eiffel Tower") == 0.0 and exact_match(None, "x") == 0.0
    assert token_f1("Eiffel", "Eiffel Tower") == pytest.approx(2 / 3)
    # 6 tokens once "the" is dropped, 3 shared: precision 1/2, recall 1
    assert token_f1("Chief of Protocol of the United States", "Chief of Protocol") == pytest.approx(2 / 3)
    assert token_f1("no", "yes") == 0.0 and token_f1("yes", "Yes.") == 1.0
    assert token_f1("totally different", "Eiffel Tower") == 0.0


def _sample(benchmark: str, answer: str, aliases: list[str] | None = None) -> Sample:
    bench = get_benchmark(benchmark)
    return Sample(id="t", benchmark=bench.name, family=bench.family, question="q", answer=answer,
                  answer_aliases=aliases or [])


def test_benchmark_scores_without_data() -> None:
    gsm = get_benchmark("gsm8k")
    assert gsm.score("The answer is $1,234.", _sample("gsm8k", "1234")).correct
    failed = gsm.score("I don't know", _sample("gsm8k", "0"))
    assert not failed.correct and failed.extraction is not None and not failed.extraction.ok
    assert not gsm.score(None, _sample("gsm8k", "0")).correct

    hotpot = get_benchmark("hotpotqa")
    s = hotpot.score("The answer is the Chief of Protocol.", _sample("hotpotqa", "Chief of Protocol"))
    assert s.correct and s.value == 1.0 and s.f1 == 1.0
    partial = hotpot.score("Chief", _sample("hotpotqa", "Chief of Protocol"))
    assert not partial.correct and partial.value == 0.0 and 0 < partial.f1 < 1

    strategy = get_benchmark("strategyqa")
    assert strategy.score("No, because Albany NY is bigger.", _sample("strategyqa", "no")).correct
    assert not strategy.score("Yes.", _sample("strategyqa", "no")).correct
    assert not strategy.score("unclear", _sample("strategyqa", "no")).correct

    math = get_benchmark("math500")
    assert math.score("so the result is $\\boxed{0.5}$", _sample("math500", "\\frac{1}{2}")).correct

    asdiv = get_benchmark("asdiv")
    assert asdiv.score("The answer is 3:30 pm.", _sample("asdiv", "3:30 p.m.")).correct
    assert asdiv.score("5 : 6", _sample("asdiv", "5:6")).correct
    assert not asdiv.score("56", _sample("asdiv", "5:6")).correct
    assert asdiv.score("Ben is 5 and Tom is 15", _sample("asdiv", "5; 15")).correct
    assert not asdiv.score("5", _sample("asdiv", "5; 15")).correct
    assert asdiv.score("the answer is mrs hilt", _sample("asdiv", "Mrs. Hilt")).correct
    assert asdiv.score("9 apples", _sample("asdiv", "9")).correct
