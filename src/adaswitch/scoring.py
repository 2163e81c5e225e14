"""Answer extraction and scoring shared by the benchmarks.

Numbers are compared as exact fractions after normalisation; MATH answers by symbolic equivalence
(``math-verify``, imported only when needed); QA answers by SQuAD exact match and token F1; yes/no
answers by their polarity. Extractors report how they found an answer and never turn a failed parse
into a number.
"""

from __future__ import annotations

import collections
import re
import string
import threading
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from pydantic import BaseModel


class Extraction(BaseModel):
    """The answer read from a model's text: ``ok`` is False (and ``answer`` None) when none was found."""

    answer: str | None
    ok: bool
    method: str


class Score(BaseModel):
    """One prediction against one gold answer. ``value`` is EM or accuracy; ``f1`` is QA-only."""

    correct: bool
    value: float
    f1: float | None = None
    extraction: Extraction | None = None


# ---------------------------------------------------------------- numbers

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?"
_NUMBER_RE = re.compile(
    rf"^(?P<sign>[-+−])?\s*(?:\\?\$|€|£)?\s*(?P<sign2>[-+−])?\s*(?P<num>{_NUM})"
    rf"(?:\s*/\s*(?P<den>{_NUM}))?"
    r"(?:\s*(?:\\times|\\cdot|×|\*)\s*10\s*\^\s*\{?\s*(?P<exp>[-+−]?\d+)\s*\}?)?"
)
_FRAC_RE = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}|\\[dt]?frac\s*(\d)\s*(\d)")
_TEXT_RE = re.compile(r"\\(?:text|textbf|mathrm|mbox)\s*\{([^{}]*)\}")
_LATEX_NOISE = ("\\left", "\\right", "\\!", "\\,", "\\;", "\\ ", "^\\circ", "^{\\circ}", "°",
                "\\(", "\\)", "\\[", "\\]")


def _strip_latex(text: str) -> str:
    """Remove the LaTeX wrapping a number may come in (``$``, ``\\boxed``, ``\\text``, ``{,}``)."""
    boxed = last_boxed(text)
    if boxed is not None:
        text = boxed
    for noise in _LATEX_NOISE:
        text = text.replace(noise, "")
    text = text.replace("{,}", ",").replace("\\%", "%").replace("\\$", "$")
    text = _TEXT_RE.sub(r" \1 ", text)
    text = _FRAC_RE.sub(lambda m: f"({m[1] or m[3]})/({m[2] or m[4]})", text)
    return text.strip().strip("$").strip()


def _to_fraction(token: str) -> Fraction:
    return Fraction(Decimal(token.replace(",", "")))


def _is_unit_tail(rest: str) -> bool:
    """True when what follows a number is only units or words ("dollars", "%", "(apples)", "cm^2")."""
    rest = re.sub(r"\^\s*\{?\s*[23]\s*\}?|[²³]", "", rest)
    rest = re.sub(r"(?<=[A-Za-z])-(?=[A-Za-z])|/\s*(?=[A-Za-z])", " ", rest)  # "years-old", "/hour"
    if re.search(r"[\d\\+\-*=<>^_{}|/:]", rest):
        return False
    return not re.match(r"\s*[A-Za-z](?![A-Za-z'])", rest)  # "5x", "5i": an expression


def normalize_number(text: str | None) -> Fraction | None:
    """Read one number from ``text`` ("$1,234.50", "-3", "50%", "\\frac{1}{2}", "18 dollars").

    Trailing units or words are allowed; another number, an operator or a LaTeX command after it
    makes the text something other than a number and gives None. "50%" reads as 50 (not 0.5).
    """
    if text is None:
        return None
    s = _strip_latex(str(text)).replace("−", "-")
    s = re.sub(r"^([-+]?)\s*\(\s*([^()]*?)\s*\)$", r"\1\2", s)  # "(1/3)", "-(1/3)"
    s = re.sub(r"^([-+]?)\s*\(([\d.]+)\)\s*/\s*\(([\d.]+)\)", r"\1\2/\3", s)  # "(1)/(2)"
    m = _NUMBER_RE.match(s)
    if not m or (m["sign"] and m["sign2"]) or not _is_unit_tail(s[m.end():]):
        return None
    try:
        value = _to_fraction(m["num"])
        if m["den"]:
            value /= _to_fraction(m["den"])
        if m["exp"]:
            value *= Fraction(10) ** int(m["exp"].replace("−", "-"))
    except (InvalidOperation, ValueError, ZeroDivisionError):
        return None
    return -value if (m["sign"] or m["sign2"]) in ("-", "−") else value


def format_number(value: Fraction) -> str:
    """Canonical text of a number: "18", "0.75", or "1/3" when the decimal would not terminate."""
    if value.denominator == 1:
        return str(value.numerator)
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    if den == 1:
        return format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    return f"{value.numerator}/{value.denominator}"


def numbers_equal(a: str | Fraction | float | None, b: str | Fraction | float | None,
                  rel_tol: float = 1e-6) -> bool:
    """True when both sides read as numbers that agree to ``rel_tol`` (relative)."""
    x = a if isinstance(a, Fraction) else normalize_number(None if a is None else str(a))
    y = b if isinstance(b, Fraction) else normalize_number(None if b is None else str(b))
    if x is None or y is None:
        return False
    return x == y or abs(x - y) <= Fraction(rel_tol) * max(abs(x), abs(y))


# ---------------------------------------------------------------- MATH

def _latex_key(text: str) -> str:
    s = _strip_latex(text)
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    return re.sub(r"\s+", "", s).rstrip(".")


def math_verify_equal(pred: str | None, gold: str) -> bool:
    """Symbolic equivalence of two MATH answers with ``math-verify``.

    Normalised string and numeric equality are tried first; the library decides the rest (a
    missing library is an error, not a silent downgrade: install the ``eval`` extra). Outside the
    main thread the library's signal-based timeouts cannot work, so they are switched off there.
    """
    if pred is None or not pred.strip():
        return False
    if _latex_key(pred) == _latex_key(gold) or numbers_equal(pred, gold):
        return True
    try:
        from math_verify import parse, verify
    except ImportError as error:
        raise ImportError(
            "MATH-500 scoring needs math-verify: pip install 'adaswitch[eval]' "
            "(or pip install 'math-verify[antlr4_13_2]')"
        ) from error
    try:
        timeout = 5 if threading.current_thread() is threading.main_thread() else None

        def wrap(s: str) -> str:
            return s if "$" in s or "\\boxed" in s else f"${s}$"

        g = parse(wrap(gold), parsing_timeout=timeout)
        p = parse(wrap(pred), parsing_timeout=timeout)
        return bool(g and p and verify(g, p, timeout_seconds=timeout))
    except Exception:  # the library raises on odd input; the string check above is the fallback
        return False


# ---------------------------------------------------------------- QA

def squad_normalize(text: str) -> str:
    """SQuAD normalisation: lowercase, drop punctuation and articles, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(pred: str | None, gold: str) -> float:
    return float(pred is not None and squad_normalize(pred) == squad_normalize(gold))


def token_f1(pred: str | None, gold: str) -> float:
    """SQuAD token F1 (yes/no/noanswer must match exactly, as in the HotpotQA script)."""
    if pred is None:
        return 0.0
    p, g = squad_normalize(pred), squad_normalize(gold)
    if (p in ("yes", "no", "noanswer") or g in ("yes", "no", "noanswer")) and p != g:
        return 0.0
    pt, gt = p.split(), g.split()
    common = sum((collections.Counter(pt) & collections.Counter(gt)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pt), common / len(gt)
    return 2 * precision * recall / (precision + recall)


_YES = {"yes", "true", "y", "yeah", "yep", "correct"}
_NO = {"no", "false", "n", "nope", "incorrect"}


def yes_no(text: str | None) -> bool | None:
    """Polarity of a yes/no answer ("Yes.", "no, because ...", "TRUE"); None when neither."""
    if text is None:
        return None
    words = re.findall(r"[a-z]+", _strip_latex(text).lower())
    if not words:
        return None
    if words[0] in _YES:
        return True
    if words[0] in _NO:
        return False
    return None


# ---------------------------------------------------------------- extraction

_ANSWER_IS = re.compile(r"(?:final answer|the answer|answer)\s*(?:is|:|=)\s*:?\s*|####\s*", re.IGNORECASE)
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "mt", "ft", "co", "inc", "ltd", "no"}


def _sentence(text: str, start: int) -> str:
    """From ``start`` to the end of the sentence: a newline, or a period closing something other
    than an abbreviation, an initial or a dotted token ("Mrs.", "J.", "p.m.")."""
    end = len(text)
    for m in re.finditer(r"\.(?=\s|$)|\n", text[start:]):
        word = re.split(r"\s", text[start:start + m.start()])[-1]
        initial = word.isalpha() and (len(word) == 1 or word.lower() in _ABBREVIATIONS)
        if m.group() == "\n" or not (initial or ("." in word and re.search("[A-Za-z]", word))):
            end = start + m.start()
            break
    return text[start:end]


_LAST_NUMBER = re.compile(
    r"(?:(?<![\w)])[-−])?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+(?:\.\d+)?)?(?!\d|,\d)"
    r"|(?:(?<![\w)])[-−])?\\[dt]?frac\s*\{[^{}]*\}\s*\{[^{}]*\}"
)


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox``), with nested braces; None if absent."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = start + len("\\boxed" if text.startswith("\\boxed", start) else "\\fbox")
    if not text[i:].lstrip().startswith("{"):  # "\\boxed 2"
        token = re.match(r"\s+([^\s$]+)", text[i:])
        return token[1] if token else None
    i = text.index("{", i)
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1:j].strip()
    return None


def answer_span(text: str | None) -> tuple[str | None, str]:
    """The part of ``text`` that states the answer, and how it was found.

    Methods: "boxed", "answer-is" (the last "answer is ..."/"#### ..."), "text" (the whole text,
    as in a ``finish[...]`` argument), "empty".
    """
    if text is None or not text.strip():
        return None, "empty"
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed, "boxed"
    matches = list(_ANSWER_IS.finditer(text))
    if matches:
        span = _sentence(text, matches[-1].end()).strip()
        if span:
            return span, "answer-is"
    return text.strip(), "text"


def extract_number(text: str | None) -> Extraction:
    """A numeric answer in canonical form ("18"); the last number in the span if needed."""
    span, method = answer_span(text)
    if span is None:
        return Extraction(answer=None, ok=False, method=method)
    value = normalize_number(re.sub(r"^[a-zA-Z]\s*=\s*", "", span))
    if value is not None:
        return Extraction(answer=format_number(value), ok=True, method=method)
    for candidate in reversed(_LAST_NUMBER.findall(span)):
        value = normalize_number(candidate.replace(" ", ""))
        if value is not None:
            return Extraction(answer=format_number(value), ok=True, method=f"{method}+last-number")
    return Extraction(answer=None, ok=False, method=f"{method}+no-number")


def extract_text(text: str | None) -> Extraction:
    """A short free-text answer: the span without surrounding quotes, markup or final period."""
    span, method = answer_span(text)
    if span is None:
        return Extraction(answer=None, ok=False, method=method)
    span = _TEXT_RE.sub(r"\1", span).strip().strip("*\"'`$ ").rstrip(".").strip()
    if not span:
        return Extraction(answer=None, ok=False, method=f"{method}+blank")
    return Extraction(answer=span, ok=True, method=method)


def extract_latex(text: str | None) -> Extraction:
    """A MATH answer kept as LaTeX (boxed content, "answer is" span, or the whole text)."""
    span, method = answer_span(text)
    if span is None:
        return Extraction(answer=None, ok=False, method=method)
    span = span.strip().strip("$").strip().rstrip(".").strip()
    return Extraction(answer=span or None, ok=bool(span), method=method)


def extract_yes_no(text: str | None) -> Extraction:
    """"yes" or "no": from the answer span, else from the first word of the whole text."""
    span, method = answer_span(text)
    for candidate, how in ((span, method), (text, "first-word")):
        polarity = yes_no(candidate)
        if polarity is not None:
            return Extraction(answer="yes" if polarity else "no", ok=True, method=how)
    return Extraction(answer=None, ok=False, method=f"{method}+no-polarity")
