"""Gold trajectories: training splits rewritten in the engine's step format, with no model in the loop.

Each training question whose dataset annotation can be turned into Thought/Action/Observation steps
becomes a gold trajectory; its steps are checked as the engine would see them (rendered with
:func:`adaswitch.parsing.render_step`, read back with :func:`adaswitch.parsing.parse_step`, the tool
run again) and rendered into step records by :func:`adaswitch.learning.records.step_records`, the
path the cloud-annotated practice records take. One record per step: the prompt holds the
trajectory before the step, so the records are the gold trajectories cut at every step.

- GSM8K train: each ``<<a*b=c>>`` mark is a ``calculate[a*b]`` step whose thought is its solution
  line (marks removed; unmarked lines join the next thought); the question converts only when the
  calculator returns every mark's claimed value and the last result is the gold answer.
- MATH train: the worked solution, cut into sentences; a sentence holding an arithmetic claim the
  calculator confirms exactly (``$14\\cdot 7=98$``) ends a ``calculate`` step; the rest of the text
  is the thought of ``finish[<boxed answer>]``.
- StrategyQA train: each decomposition question is a ``search`` step over the question's facts, kept
  when it finds a fact not seen before; the question converts when every fact was found.
- HotpotQA train: one ``search`` per supporting title (the title plus question words found in its
  paragraph), kept when the paragraph is returned; converts when every supporting paragraph was.

The GSM8K and MATH trajectories also render in the paragraph step format (:func:`paragraph_steps`):
each step's thought is a paragraph, the last ends with ``Answer: X``; the QA splits' searches have
no paragraph form.

Only the benchmarks' ``train`` splits are read here; never a test split, SVAMP or ASDiv.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from adaswitch.actions import Action
from adaswitch.benchmarks import Sample, get_benchmark
from adaswitch.benchmarks.base import read_json
from adaswitch.learning.records import SFTRecord, step_body, step_records
from adaswitch.parsing import parse_step, render_step
from adaswitch.grammar import answer_type_for
from adaswitch.parsing import read_paragraph
from adaswitch.prompts import (
    TaskPrompts, ZeroShotPrompts, paragraph_prompts_for, prompts_for, step_stops, zero_shot_prompts_for,
)
from adaswitch.scoring import normalize_number
from adaswitch.tools.calculator import CalculatorError, calculate, calculate_value
from adaswitch.tools.search import KnowledgeBase
from adaswitch.trace import StepRecord

MAX_STEP_TOKENS = 160
"""Longest step (thought and action) kept, in tokens: the engine's default step budget. A longer
gold step is one the agent could not finish writing at inference."""
CHARS_PER_TOKEN = 2.5
"""For counting tokens without a tokenizer. Qwen2.5's tokenizer gives a median of 2.5 characters a
token on MATH steps, 3.1 on GSM8K and 3.9 on the QA steps, so this errs towards refusing."""

TokenCounter = Callable[[str], int]


def approximate_tokens(text: str) -> int:
    """Tokens of ``text`` estimated from its length (see :data:`CHARS_PER_TOKEN`)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)

GOLD_AUTHOR = "gold"

# Refusal reasons, as counted in the statistics.
NO_MARKS = "no-calculator-marks"
SEVERAL_MARKS = "several-marks-in-a-line"
MARK_UNREADABLE = "mark-unreadable"
CALCULATOR_ERROR = "calculator-error"
CLAIM_DISAGREES = "claim-disagrees-with-calculator"
FINAL_NOT_GOLD = "last-result-is-not-gold"
NO_ANSWER = "no-gold-answer"
ROUND_TRIP = "round-trip-mismatch"
STEP_TOO_LONG = "step-too-long"
STOP_STRING = "step-holds-a-stop-string"
FACTS_NOT_FOUND = "facts-not-found"
SUPPORT_NOT_FOUND = "supporting-paragraph-not-found"


class Refusal(Exception):
    """A training question that does not convert; ``reason`` is one of the constants above."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class GoldStep:
    """One step of a gold trajectory; ``observation`` is what the tool returned (empty for finish)."""

    thought: str
    action: Action
    observation: str = ""


def gold_step(thought: str, tool: str, argument: str, observation: str = "") -> GoldStep:
    """A step with its thought on one line, as the engine writes it."""
    return GoldStep(_one_line(thought), Action(tool=tool, argument=argument), observation)


@dataclass(frozen=True)
class Conversion:
    """What became of one training question: its gold steps, or the reason it was refused."""

    sample: Sample
    steps: tuple[GoldStep, ...] = ()
    refusal: str | None = None

    @property
    def converted(self) -> bool:
        return self.refusal is None


@dataclass
class GoldStats:
    """Counts for one split: questions, conversions, refusals by reason, steps by tool, records."""

    split: str
    total: int = 0
    converted: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    steps: Counter[str] = field(default_factory=Counter)
    records: int = 0
    line_for_line: int | None = None
    """GSM8K: converted questions whose every solution line holds a mark (no line merged)."""

    def add(self, conversion: Conversion) -> None:
        self.total += 1
        if conversion.refusal is not None:
            self.refused[conversion.refusal] += 1
            return
        self.converted += 1
        self.steps.update(step.action.tool for step in conversion.steps)

    def as_dict(self) -> dict[str, Any]:
        return {
            "split": self.split, "total": self.total, "converted": self.converted,
            "converted_share": round(self.converted / self.total, 4) if self.total else 0.0,
            "refused": dict(self.refused.most_common()), "steps": dict(sorted(self.steps.items())),
            "records": self.records,
            **({"line_for_line": self.line_for_line} if self.line_for_line is not None else {}),
        }


# ---------------------------------------------------------------------------------------------
# Checking steps as the engine reads them


def _one_line(text: str) -> str:
    return " ".join(text.split())


def check_steps(steps: Sequence[GoldStep], family: str, tool: Callable[[str], Any] | None,
                max_step_tokens: int = MAX_STEP_TOKENS, count_tokens: TokenCounter = approximate_tokens) -> None:
    """Raise :class:`Refusal` unless every step reads back as written and its tool returns its
    observation, and no step is longer than the budget or holds a string that stops generation."""
    for index, step in enumerate(steps, 1):
        text = render_step(index, step.thought, step.action)
        parsed = parse_step(text, family)
        if parsed.action != step.action or parsed.thought != _one_line(step.thought):
            raise Refusal(ROUND_TRIP)
        if step.action.tool != "finish":
            result = tool(step.action.argument) if tool else None
            if result is None or not result.ok or result.text != step.observation:
                raise Refusal(ROUND_TRIP)
        body = step_body(text, index)
        if count_tokens(body) > max_step_tokens:
            raise Refusal(STEP_TOO_LONG)
        if any(stop in body for stop in step_stops(index)):
            raise Refusal(STOP_STRING)


# ---------------------------------------------------------------------------------------------
# GSM8K: one calculate step per calculator mark

_MARK = re.compile(r"<<([^<>]*)>>")


def _same_value(value: Fraction, claimed: str) -> bool:
    number = normalize_number(claimed)
    return number is not None and number == value


def _calculation(mark: str) -> tuple[str, str]:
    """``"48/2=24"`` -> (``"48/2"``, ``"24"``)."""
    expression, equals, claimed = mark.rpartition("=")
    if not equals or not expression.strip() or not claimed.strip():
        raise Refusal(MARK_UNREADABLE)
    return expression.strip(), claimed.strip()


def _calculate_step(thought: str, mark: str) -> tuple[GoldStep, Fraction]:
    """The step of one mark, and its exact value."""
    expression, claimed = _calculation(mark)
    try:
        value = calculate_value(expression)
    except CalculatorError:
        raise Refusal(CALCULATOR_ERROR) from None
    if not _same_value(value, claimed):
        raise Refusal(CLAIM_DISAGREES)
    step = gold_step(thought, "calculate", expression, calculate(expression).text)
    return step, value


def gsm8k_steps(sample: Sample) -> list[GoldStep]:
    """The gold steps of a GSM8K question from its upstream solution (``meta["solution"]``)."""
    body = sample.meta["solution"].rpartition("####")[0]
    steps: list[GoldStep] = []
    pending: list[str] = []
    last = None
    for line in filter(None, (line.strip() for line in body.splitlines())):
        marks = _MARK.findall(line)
        pending.append(_one_line(_MARK.sub("", line)))
        if not marks:
            continue
        if len(marks) > 1:
            raise Refusal(SEVERAL_MARKS)
        step, last = _calculate_step(" ".join(pending), marks[0])
        steps.append(step)
        pending = []
    if last is None:
        raise Refusal(NO_MARKS)
    if not _same_value(last, sample.answer):
        raise Refusal(FINAL_NOT_GOLD)
    return steps + [_finish(pending, sample.answer)]


def every_line_marked(sample: Sample) -> bool:
    """Whether each line of a GSM8K solution holds a calculator mark (it converts line for line)."""
    body = sample.meta["solution"].rpartition("####")[0]
    return all(_MARK.search(line) for line in body.splitlines() if line.strip())


def _finish(pending: list[str], answer: str) -> GoldStep:
    """The finish step; its thought is the text left after the last tool step, if any."""
    return gold_step(" ".join(pending) or f"So the answer is {answer}.", "finish", answer)


# ---------------------------------------------------------------------------------------------
# MATH: the worked solution, with a calculate step where the text makes an exact arithmetic claim

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\\$])")
_MATH_SPAN = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\[(.+?)\\\]|\\\((.+?)\\\)", re.DOTALL)
_LATEX_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_LATEX_BOXED = re.compile(r"\\boxed\s*\{([^{}]*)\}")
_LATEX_POWER = re.compile(r"\^\s*\{([^{}]*)\}|\^\s*(\d)")
_LATEX_REPLACEMENTS = (("\\left", ""), ("\\right", ""), ("\\!", ""), ("\\,", ""), ("\\;", ""),
                       ("{,}", ""), ("\\cdot", "*"), ("\\times", "*"), ("\\div", "/"))
_ARITHMETIC = re.compile(r"[\d.+\-*/() ]+")
_OPERATOR_BETWEEN = re.compile(r"[\d)]\s*(?:[-+/]|\*\*?)\s*[\d(.]|\d\s*\(|\)\s*\(")
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def latex_arithmetic(latex: str) -> str:
    """LaTeX arithmetic as calculator text (``\\frac{3}{4}\\cdot 8`` -> ``(3/4)* 8``); other
    LaTeX is left as it is, so that :func:`_arithmetic_claims` rejects it."""
    text = latex
    for old, new in _LATEX_REPLACEMENTS:
        text = text.replace(old, new)
    previous = None
    while previous != text:
        previous = text
        text = _LATEX_BOXED.sub(r"\1", text)
        text = _LATEX_FRAC.sub(_fraction, text)
        text = _LATEX_POWER.sub(_power, text)
    return text.strip()


def _fraction(match: re.Match[str]) -> str:
    top, bottom = match.group(1).strip(), match.group(2).strip()
    if _PLAIN_NUMBER.fullmatch(top) and _PLAIN_NUMBER.fullmatch(bottom):
        return f"({top}/{bottom})"
    return f"(({top})/({bottom}))"


def _power(match: re.Match[str]) -> str:
    exponent = (match.group(1) or match.group(2)).strip()
    return f"**{exponent}" if exponent.isdigit() else f"**({exponent})"


def _arithmetic_claims(span: str) -> list[tuple[str, str]]:
    """``(expression, value)`` pairs of ``expression = value`` in a math span where the expression
    is arithmetic on numbers and the value a plain number; the calculator has not checked them yet."""
    parts = [latex_arithmetic(part) for part in span.split("=")]
    claims = []
    for left, right in zip(parts, parts[1:]):
        if (_ARITHMETIC.fullmatch(left) and _OPERATOR_BETWEEN.search(left)
                and _PLAIN_NUMBER.fullmatch(right)):
            claims.append((left, right))
    return claims


def exact_claim(sentence: str) -> tuple[str, str] | None:
    """The last arithmetic claim in a sentence that the calculator confirms exactly, if any:
    (calculator expression, the calculator's text of its value)."""
    found = None
    for match in _MATH_SPAN.finditer(sentence):
        span = next(group for group in match.groups() if group is not None)
        for expression, claimed in _arithmetic_claims(span):
            try:
                value = calculate_value(expression)
            except CalculatorError:
                continue
            if _same_value(value, claimed):
                found = (_one_line(expression), calculate(expression).text)
    return found


def _sentences(solution: str) -> list[str]:
    return [s for s in (_one_line(part) for part in _SENTENCE_END.split(solution)) if s]


def math_steps(sample: Sample) -> list[GoldStep]:
    """The gold steps of a MATH question from its worked solution (``rationale``)."""
    answer = _one_line(sample.answer)
    if not answer or not sample.rationale:
        raise Refusal(NO_ANSWER)
    steps: list[GoldStep] = []
    pending: list[str] = []
    for sentence in _sentences(sample.rationale):
        pending.append(sentence)
        claim = exact_claim(sentence)
        if claim is not None:
            expression, observation = claim
            steps.append(gold_step(" ".join(pending), "calculate", expression, observation))
            pending = []
    return steps + [_finish(pending, answer)]


# ---------------------------------------------------------------------------------------------
# QA: search steps over the question's own paragraphs

_REFERENCE = re.compile(r"#\s*\d+")
_WORD = re.compile(r"[A-Za-z0-9][\w'-]*")
_STOPWORDS = frozenset(
    "a an the of in on at to for from by with and or but is are was were be been being do does did "
    "what which who whom whose when where why how that this these those it its as than then there "
    "their they he she his her him i you we our your not no yes if any all can could would should "
    "will has have had more most less many much same one also into about".split()
)


def _search_result(kb: KnowledgeBase, query: str) -> str:
    result = kb.search(query)
    return result.text if result.ok else ""


def returned(observation: str, title: str) -> bool:
    """Whether a search observation holds the paragraph called ``title`` (one per line, as
    ``[title] text``; long paragraphs are cut, so the title is what identifies one)."""
    return any(line.startswith(f"[{title}] ") for line in observation.splitlines())


def strategyqa_steps(sample: Sample, kb: KnowledgeBase | None = None) -> list[GoldStep]:
    """The gold steps of a StrategyQA question: a search per decomposition question that finds a
    new fact (``#k`` references left out of the query); the others join the next thought. The
    finish thought restates the facts, then the questions left (the comparison), then the answer."""
    kb = kb or KnowledgeBase(sample.knowledge)
    facts = {doc.title for doc in sample.knowledge}
    seen: set[str] = set()
    steps: list[GoldStep] = []
    pending: list[str] = []
    for number, question in enumerate(sample.meta["decomposition"], 1):
        pending.append(f"Sub-question {number}: {_one_line(question)}")
        query = _one_line(_REFERENCE.sub(" ", question)).strip(" ?")
        observation = _search_result(kb, query) if query else ""
        new = {title for title in facts - seen if returned(observation, title)}
        if not new:
            continue
        seen |= new
        steps.append(gold_step(" ".join(pending), "search", query, observation))
        pending = []
    if seen != facts:
        raise Refusal(FACTS_NOT_FOUND)
    found = " ".join(doc.text for doc in sample.knowledge)
    return steps + [gold_step(f"{found} {' '.join(pending)} So the answer is {sample.answer}.",
                              "finish", sample.answer)]


def _content_words(text: str) -> list[str]:
    words = (w for w in _WORD.findall(text) if w.casefold() not in _STOPWORDS)
    return list(dict.fromkeys(words))


def hotpot_queries(title: str, question: str, paragraph: str, max_words: int = 3) -> list[str]:
    """Queries for a supporting paragraph, to try in turn: its title plus up to ``max_words``
    question words that the paragraph contains (the question's first content words when none
    does), then the title plus only the first of them."""
    title_words = {w.casefold() for w in _WORD.findall(title)}
    words = [w for w in _content_words(question) if w.casefold() not in title_words]
    in_paragraph = {w.casefold() for w in _WORD.findall(paragraph)}
    chosen = [w for w in words if w.casefold() in in_paragraph] or words
    queries = [" ".join([title, *chosen[:n]]) for n in (max_words, 1) if chosen]
    return list(dict.fromkeys(queries)) or [title]


def _find_paragraph(kb: KnowledgeBase, title: str, queries: list[str]) -> tuple[str, str] | None:
    """The first query whose search returns the paragraph ``title``, with its observation."""
    for query in queries:
        observation = _search_result(kb, query)
        if returned(observation, title):
            return query, observation
    return None


def hotpotqa_steps(sample: Sample, sentences: dict[str, list[str]],
                   kb: KnowledgeBase | None = None) -> list[GoldStep]:
    """The gold steps of a HotpotQA question: one search per supporting title, kept when the
    search returns that paragraph; each next thought states the supporting sentences found."""
    kb = kb or KnowledgeBase(sample.knowledge)
    paragraphs = {doc.title: doc.text for doc in sample.knowledge}
    support = _supporting_sentences(sample, sentences)
    steps: list[GoldStep] = []
    observed = ""
    known = ""
    for title in sample.gold_titles:
        if title not in paragraphs:
            raise Refusal(SUPPORT_NOT_FOUND)
        found = _find_paragraph(kb, title, hotpot_queries(title, sample.question, paragraphs[title]))
        if found is None:
            continue
        query, observation = found
        opening = "Now I need" if steps else "To answer this I need"
        steps.append(gold_step(f"{known} {opening} the paragraph on {title}.", "search", query, observation))
        observed += observation + "\n"
        known = support.get(title, "")
    if not sample.gold_titles or any(not returned(observed, title) for title in sample.gold_titles):
        raise Refusal(SUPPORT_NOT_FOUND)
    answer = _one_line(sample.answer)
    return steps + [gold_step(f"{known} So the answer is {answer}.", "finish", answer)]


def _supporting_sentences(sample: Sample, sentences: dict[str, list[str]]) -> dict[str, str]:
    """Each supporting title's supporting sentences, joined, in the dataset's order."""
    chosen: dict[str, list[str]] = {}
    for title, number in sample.meta.get("supporting_facts") or []:
        paragraph = sentences.get(title, [])
        if 0 <= number < len(paragraph):
            chosen.setdefault(title, []).append(paragraph[number].strip())
    return {title: " ".join(parts) for title, parts in chosen.items()}


# ---------------------------------------------------------------------------------------------
# Splits, conversions and records

SPLITS: dict[str, str] = {"gsm8k": "gsm8k", "math": "math500", "strategyqa": "strategyqa", "hotpotqa": "hotpotqa"}
"""Gold split name -> the benchmark whose ``train`` split it reads."""


def convert(sample: Sample, sentences: dict[str, list[str]] | None = None,
            max_step_tokens: int = MAX_STEP_TOKENS, count_tokens: TokenCounter = approximate_tokens) -> Conversion:
    """The gold trajectory of one training sample, checked; or why it was refused."""
    try:
        steps, tool = _steps_and_tool(sample, sentences or {})
        check_steps(steps, sample.family, tool, max_step_tokens, count_tokens)
    except Refusal as refusal:
        return Conversion(sample, refusal=refusal.reason)
    return Conversion(sample, steps=tuple(steps))


def _steps_and_tool(sample: Sample, sentences: dict[str, list[str]]) -> tuple[list[GoldStep], Callable | None]:
    if sample.benchmark == "gsm8k":
        return gsm8k_steps(sample), calculate
    if sample.benchmark == "math500":
        return math_steps(sample), calculate
    kb = KnowledgeBase(sample.knowledge)
    if sample.benchmark == "strategyqa":
        return strategyqa_steps(sample, kb), kb.search
    if sample.benchmark == "hotpotqa":
        return hotpotqa_steps(sample, sentences, kb), kb.search
    raise ValueError(f"no gold conversion for benchmark {sample.benchmark!r}")


PARAGRAPH_SPLITS: tuple[str, ...] = ("gsm8k", "math")
"""Gold splits that also convert to the paragraph format: their steps are worked text. The QA
splits' steps are searches, which the paragraph format (no tools) has no place for."""
PARAGRAPH_ROUND_TRIP = "paragraph-round-trip-mismatch"


def paragraph_steps(conversion: Conversion) -> list[StepRecord]:
    """The gold trajectory in the paragraph format: each step's thought is one paragraph (GSM8K: its
    solution line, the calculation written out; MATH: its sentences), and the last one ends with
    the line ``Answer: X`` the format's prompt asks for. Raises :class:`Refusal` when a paragraph
    would not read back as the engine reads it (a middle paragraph that states an answer, or a last
    one whose answer differs)."""
    family = conversion.sample.family
    out = []
    for index, step in enumerate(conversion.steps, 1):
        finish = step.action.tool == "finish"
        text = f"{step.thought}\nAnswer: {step.action.argument}" if finish else step.thought
        read = read_paragraph(text, family)
        if (read.action is not None) != finish or "\n\n" in text:
            raise Refusal(PARAGRAPH_ROUND_TRIP)
        if finish and read.action != step.action:
            raise Refusal(PARAGRAPH_ROUND_TRIP)
        out.append(StepRecord(index=index, author="cloud", text=text, thought=read.thought,
                              action=step.action if finish else None))
    return out


def gold_step_records(conversion: Conversion, prompts: TaskPrompts) -> list[SFTRecord]:
    """One step record per gold step, rendered like the practice records (author ``gold``), in the
    step format of ``prompts``."""
    sample = conversion.sample
    if prompts.step_format == "paragraphs":
        steps = paragraph_steps(conversion)
    else:
        steps = [_step_record(index, step) for index, step in enumerate(conversion.steps, 1)]
    source = {"sample_id": sample.id, "benchmark": sample.benchmark, "stage": "gold",
              "prompt": "zero-shot" if isinstance(prompts, ZeroShotPrompts) else "few-shot",
              "step_format": prompts.step_format}
    records = step_records(sample.question, prompts, steps, source=source)
    return [replace(record, source={**record.source, "author": GOLD_AUTHOR}) for record in records]


def _step_record(index: int, step: GoldStep) -> StepRecord:
    """The step as the engine commits it. The trace's author field knows only local and cloud; the
    records carry ``gold`` instead (see :func:`gold_step_records`)."""
    return StepRecord(index=index, author="cloud", text=render_step(index, step.thought, step.action),
                      thought=_one_line(step.thought), action=step.action, observation=step.observation)


def train_samples(split_name: str, limit: int | None = None) -> list[Sample]:
    """The ``train`` split of a gold split's benchmark (never its evaluation split)."""
    if split_name not in SPLITS:
        raise ValueError(f"unknown gold split {split_name!r}; expected one of {', '.join(SPLITS)}")
    return get_benchmark(SPLITS[split_name]).load(split="train", limit=limit)


def hotpotqa_train_sentences() -> dict[str, dict[str, list[str]]]:
    """HotpotQA train's paragraphs as sentences, by question id then title (supporting facts
    point at sentences, which the benchmark's samples join into paragraphs)."""
    return {row["_id"]: {title: list(body) for title, body in row["context"]}
            for row in read_json("hotpotqa", "train100.json")}


def gold_records(split_name: str, limit: int | None = None, examples: bool = False,
                 max_step_tokens: int = MAX_STEP_TOKENS, count_tokens: TokenCounter = approximate_tokens,
                 step_format: str = "react") -> tuple[list[SFTRecord], dict[str, Any]]:
    """Step records of every training question of ``split_name`` that converts, and the counts.

    ``split_name`` is one of :data:`SPLITS`. ``examples`` keeps the few-shot examples in the
    system prompt; by default the records use the zero-shot prompts the practised agent runs with.
    ``count_tokens`` measures a step against ``max_step_tokens`` (pass the agent's tokenizer for
    exact counts; the default estimates from characters). ``step_format`` ``paragraphs`` renders the
    records in the paragraph format (:data:`PARAGRAPH_SPLITS` only), with its prompt for the split's
    answer type.
    """
    if step_format == "paragraphs" and split_name not in PARAGRAPH_SPLITS:
        raise ValueError(f"gold split {split_name!r} has no paragraph form (searches need the react format); "
                         f"paragraph splits: {', '.join(PARAGRAPH_SPLITS)}")
    if step_format not in ("react", "paragraphs"):
        raise ValueError(f"unknown step format {step_format!r}")
    samples = train_samples(split_name, limit)
    sentences = hotpotqa_train_sentences() if split_name == "hotpotqa" else {}
    benchmark = get_benchmark(SPLITS[split_name])
    family = benchmark.family
    if step_format == "paragraphs":
        prompts: TaskPrompts = paragraph_prompts_for(family, answer_type_for(family, benchmark.answer_type))
    else:
        prompts = prompts_for(family) if examples else zero_shot_prompts_for(family)
    records, stats = convert_samples(split_name, samples, prompts, sentences, max_step_tokens, count_tokens)
    return records, stats.as_dict()


def convert_samples(split_name: str, samples: Sequence[Sample], prompts: TaskPrompts,
                    sentences: dict[str, dict[str, list[str]]] | None = None,
                    max_step_tokens: int = MAX_STEP_TOKENS, count_tokens: TokenCounter = approximate_tokens,
                    ) -> tuple[list[SFTRecord], GoldStats]:
    """Convert ``samples`` and render the records of those that convert, with the counts.
    ``sentences`` holds HotpotQA's sentences by question id (see :func:`hotpotqa_train_sentences`)."""
    sentences = sentences or {}
    stats = GoldStats(split_name, line_for_line=0 if split_name == "gsm8k" else None)
    records: list[SFTRecord] = []
    for sample in samples:
        conversion = convert(sample, sentences.get(sample.id), max_step_tokens, count_tokens)
        rendered: list[SFTRecord] = []
        if conversion.converted:
            try:  # the paragraph form can refuse what the react form takes
                rendered = gold_step_records(conversion, prompts)
            except Refusal as refusal:
                conversion = Conversion(sample, refusal=refusal.reason)
        stats.add(conversion)
        if conversion.converted:
            records += rendered
            if stats.line_for_line is not None and every_line_marked(sample):
                stats.line_for_line += 1
    stats.records = len(records)
    return records, stats
