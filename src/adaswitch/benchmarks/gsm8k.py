"""GSM8K (Cobbe et al. 2021): grade-school word problems with calculator-annotated solutions."""

from __future__ import annotations

import re

from adaswitch.benchmarks.base import Benchmark, Sample, number_strings, read_jsonl

_MARK = re.compile(r"<<([^<>]*)>>")


def parse_solution(solution: str) -> tuple[str, str, list[str]]:
    """Split an upstream solution into (rationale without marks, final answer, gold values).

    Gold values are the results of the ``<<a*b=c>>`` calculator marks plus the final answer.
    """
    body, _, final = solution.rpartition("####")
    marks = [m.rpartition("=")[2] for m in _MARK.findall(body)]
    final = final.strip()
    return _MARK.sub("", body).strip(), final, number_strings([*marks, final])


class GSM8K(Benchmark):
    name = "gsm8k"
    family = "math"
    splits = ("test", "train")

    def read(self, split: str) -> list[Sample]:
        samples = []
        for i, row in enumerate(read_jsonl("gsm8k", f"{split}.jsonl")):
            rationale, final, values = parse_solution(row["answer"])
            answer = number_strings([final])
            samples.append(Sample(
                id=f"{split}-{i}", benchmark=self.name, family=self.family,
                question=row["question"], answer=answer[0] if answer else final,
                answer_aliases=[final] if answer and answer[0] != final else [],
                gold_values=values, rationale=rationale,
                meta={"split": split, "solution": row["answer"]},
            ))
        return samples
