"""SVAMP (Patel et al. 2021): one-to-two-step word problems with varied question structure."""

from __future__ import annotations

from fractions import Fraction

from adaswitch.benchmarks.base import (
    Benchmark, Sample, arithmetic_values, number_strings, read_json,
)


class SVAMP(Benchmark):
    name = "svamp"
    family = "math"
    splits = ("test",)

    def read(self, split: str) -> list[Sample]:
        samples = []
        for row in read_json("svamp", "SVAMP.json"):
            answer = Fraction(str(row["Answer"]))
            samples.append(Sample(
                id=row["ID"], benchmark=self.name, family=self.family,
                question=f"{row['Body'].strip()} {row['Question'].strip()}",
                answer=number_strings([answer])[0],
                gold_values=number_strings([*arithmetic_values(row["Equation"]), answer]),
                rationale=None,
                meta={"split": split, "equation": row["Equation"].strip(), "type": row["Type"]},
            ))
        return samples
