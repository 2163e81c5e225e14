"""What every benchmark shares: the sample record, the data directory and the benchmark contract."""

from __future__ import annotations

import ast
import json
import operator
from fractions import Fraction
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from adaswitch.benchmarks.locations import (  # noqa: F401 - re-exported: where the data is
    ENV_VAR, DataNotFoundError, data_dir, data_file,
)
from adaswitch.documents import Document
from adaswitch.scoring import (
    Extraction,
    Score,
    exact_match,
    extract_number,
    extract_text,
    format_number,
    normalize_number,
    numbers_equal,
    token_f1,
)

Family = Literal["math", "qa"]


class Sample(BaseModel):
    """One benchmark question with its gold answer and the gold evidence the dataset provides."""

    id: str
    benchmark: str
    family: Family
    question: str
    answer: str
    answer_aliases: list[str] = Field(default_factory=list)
    knowledge: list[Document] = Field(default_factory=list)
    gold_values: list[str] = Field(default_factory=list)
    gold_titles: list[str] = Field(default_factory=list)
    rationale: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


def read_json(*parts: str) -> Any:
    with data_file(*parts).open(encoding="utf-8") as f:
        return json.load(f)


def read_jsonl(*parts: str) -> list[dict[str, Any]]:
    with data_file(*parts).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def arithmetic_values(expression: str) -> list[Fraction]:
    """Every intermediate and final value of a + - * / expression, inner ones first ([] if odd)."""
    values: list[Fraction] = []

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return Fraction(str(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            value = _OPS[type(node.op)](walk(node.left), walk(node.right))
            values.append(value)
            return value
        raise ValueError(f"not arithmetic: {ast.dump(node)}")

    try:
        walk(ast.parse(expression.strip(), mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError):
        return []
    return values


def number_strings(values: list[Fraction | str | None]) -> list[str]:
    """Canonical strings of the values that read as numbers, without repeats."""
    out = []
    for v in values:
        f = v if isinstance(v, Fraction) else normalize_number(v)
        if f is not None:
            out.append(format_number(f))
    return unique(out)


class Benchmark:
    """A benchmark: where its questions come from, how to read an answer, how to score it.

    Subclasses set the class attributes and implement ``read``; ``extract`` and ``score`` default to
    numeric answers (math) or SQuAD EM/F1 (QA). ``load(split="test")`` means the evaluation split,
    which is "dev" for the QA sets.
    """

    name: ClassVar[str]
    family: ClassVar[Family]
    splits: ClassVar[tuple[str, ...]]  # the first one is the evaluation split
    aliases: ClassVar[tuple[str, ...]] = ()
    answer_type: ClassVar[str | None] = None
    """What a ``finish`` holds (see :mod:`adaswitch.grammar`); None: the family's default."""

    def read(self, split: str) -> list[Sample]:
        raise NotImplementedError

    def load(self, split: str = "test", limit: int | None = None, offset: int = 0,
             ids: list[str] | None = None) -> list[Sample]:
        """Samples of ``split`` in file order, optionally only ``ids``, then ``offset``/``limit``."""
        if split == "test" and "test" not in self.splits:
            split = self.splits[0]
        if split not in self.splits:
            raise ValueError(f"{self.name} has no split {split!r}; splits: {', '.join(self.splits)}")
        samples = self.read(split)
        if ids is not None:
            wanted = set(ids)
            samples = [s for s in samples if s.id in wanted]
            missing = wanted - {s.id for s in samples}
            if missing:
                raise KeyError(f"{self.name}/{split} has no ids {sorted(missing)[:5]}")
        samples = samples[offset:]
        return samples if limit is None else samples[:limit]

    def extract(self, text: str | None) -> Extraction:
        return extract_number(text) if self.family == "math" else extract_text(text)

    def score(self, prediction: str | None, sample: Sample) -> Score:
        extraction = self.extract(prediction)
        if self.family == "math":
            ok = numbers_equal(extraction.answer, sample.answer)
            return Score(correct=ok, value=float(ok), extraction=extraction)
        golds = [sample.answer, *sample.answer_aliases]
        em = max(exact_match(extraction.answer, g) for g in golds)
        f1 = max(token_f1(extraction.answer, g) for g in golds)
        return Score(correct=em == 1.0, value=em, f1=f1, extraction=extraction)

    def __repr__(self) -> str:
        return f"<Benchmark {self.name} ({self.family}; {', '.join(self.splits)})>"
