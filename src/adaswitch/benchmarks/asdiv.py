"""ASDiv (Miao et al. 2020): diverse elementary math word problems, some with text or ratio answers."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from adaswitch.benchmarks.base import (
    Benchmark, Sample, arithmetic_values, data_file, number_strings, unique,
)
from adaswitch.scoring import (
    Extraction, Score, extract_number, extract_text, format_number, normalize_number,
    numbers_equal,
)

_UNIT = re.compile(r"\s*\([^()]*[A-Za-z][^()]*\)")  # "(apples)", "(cent/dime)"; not "(1/3)"
_ARITH = re.compile(r"^[\d.+\-*/() ]+")
_SPLIT = re.compile(r"\s*;\s*|,\s+|\s+and\s+")


def clean_answer(raw: str) -> str:
    """Drop units from an upstream answer: "9 (apples)" -> "9", "5 (cm); 6 (cm)" -> "5; 6"."""
    parts = [_UNIT.sub("", p).strip() for p in raw.split(";")]
    return "; ".join((number_strings([p]) or [p])[0] for p in parts)


def formula_values(formula: str) -> list[str]:
    """Intermediate and final values written in a formula such as "(2*10+5)=25 (cent); 25-3=22"."""
    values = []
    for part in formula.split(";"):
        for i, segment in enumerate(_UNIT.sub("", part).split("=")):
            prefix = _ARITH.match(segment.strip())
            if not prefix:
                continue
            expression = prefix.group().strip()
            values += arithmetic_values(expression)
            if i > 0:
                values.append(normalize_number(expression.split()[0]))
    return number_strings(values)


def _text_key(text: str) -> str:
    text = re.sub(r"[^a-z0-9:/' ]", " ", text.lower().replace(".", ""))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return re.sub(r"\s*:\s*", ":", " ".join(text.split()))


def _part_equal(pred: str, gold: str) -> bool:
    if normalize_number(gold) is not None:
        return numbers_equal(extract_number(pred).answer, gold)
    return _text_key(pred) == _text_key(gold)


class ASDiv(Benchmark):
    name = "asdiv"
    family = "math"
    splits = ("test",)

    def read(self, split: str) -> list[Sample]:
        root = ET.parse(data_file("asdiv", "ASDiv.xml")).getroot()
        samples = []
        for p in root.iter("Problem"):
            raw = (p.findtext("Answer") or "").strip()
            answer, formula = clean_answer(raw), (p.findtext("Formula") or "").strip()
            body, question = (p.findtext("Body") or "").strip(), (p.findtext("Question") or "").strip()
            samples.append(Sample(
                id=p.get("ID", ""), benchmark=self.name, family=self.family,
                question=f"{body} {question}", answer=answer,
                answer_aliases=[raw] if raw != answer else [],
                gold_values=unique(formula_values(formula) + number_strings(answer.split("; "))),
                meta={"split": split, "formula": formula, "grade": p.get("Grade"),
                      "solution_type": p.findtext("Solution-Type"), "raw_answer": raw},
            ))
        return samples

    def extract(self, text: str | None) -> Extraction:
        """A number when the answer reads as one, else the answer text (names, ratios, times)."""
        found = extract_text(text)
        value = normalize_number(found.answer)
        return found if value is None else found.model_copy(update={"answer": format_number(value)})

    def score(self, prediction: str | None, sample: Sample) -> Score:
        """Numbers by value; text, ratio and time answers by normalised string; "a; b" part by part."""
        gold = sample.answer.split("; ")
        if len(gold) == 1 and normalize_number(gold[0]) is not None:
            return super().score(prediction, sample)
        found = self.extract(prediction)
        parts = _SPLIT.split(found.answer) if found.answer and len(gold) > 1 else [found.answer or ""]
        ok = found.ok and len(parts) == len(gold) and all(map(_part_equal, parts, gold))
        return Score(correct=ok, value=float(ok), extraction=found)
