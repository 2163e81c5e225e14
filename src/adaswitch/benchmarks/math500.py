"""MATH-500 (Lightman et al. 2023's subset of Hendrycks MATH), scored by symbolic equivalence."""

from __future__ import annotations

from adaswitch.benchmarks.base import Benchmark, Sample, read_jsonl
from adaswitch.scoring import Extraction, Score, extract_latex, last_boxed, math_verify_equal


class MATH500(Benchmark):
    name = "math500"
    family = "math"
    answer_type = "latex"
    splits = ("test", "train")
    aliases = ("math-500", "math")

    def read(self, split: str) -> list[Sample]:
        """Test: the 500 problems with their given answers; train: 7500 problems, answer = last box."""
        rows = read_jsonl("math", "test500.jsonl" if split == "test" else "train.jsonl")
        samples = []
        for row in rows:
            answer = row.get("answer") or last_boxed(row["solution"]) or ""
            samples.append(Sample(
                id=row.get("unique_id") or row["id"], benchmark=self.name, family=self.family,
                question=row["problem"], answer=answer, rationale=row["solution"],
                meta={"split": split, "subject": row["subject"], "level": row["level"]},
            ))
        return samples

    def extract(self, text: str | None) -> Extraction:
        return extract_latex(text)

    def score(self, prediction: str | None, sample: Sample) -> Score:
        found = self.extract(prediction)
        ok = math_verify_equal(found.answer, sample.answer)
        return Score(correct=ok, value=float(ok), extraction=found)
