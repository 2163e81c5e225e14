"""StrategyQA (Geva et al. 2021): yes/no questions needing implicit multi-step reasoning."""

from __future__ import annotations

from adaswitch.benchmarks.base import Benchmark, Sample, read_json
from adaswitch.documents import Document
from adaswitch.scoring import Extraction, Score, extract_yes_no, yes_no


class StrategyQA(Benchmark):
    name = "strategyqa"
    family = "qa"
    answer_type = "yesno"
    splits = ("dev", "train")

    def read(self, split: str) -> list[Sample]:
        """Knowledge = the annotated facts ("Fact 1".."Fact k"); rationale = the decomposition."""
        samples = []
        for row in read_json("strategyqa", f"{split}.json"):
            answer = "yes" if row["answer"] else "no"
            steps = row["decomposition"]
            samples.append(Sample(
                id=row["qid"], benchmark=self.name, family=self.family, question=row["question"],
                answer=answer, answer_aliases=["true" if row["answer"] else "false"],
                knowledge=[Document(title=f"Fact {i}", text=f) for i, f in enumerate(row["facts"], 1)],
                gold_titles=[f"Fact {i}" for i in range(1, len(row["facts"]) + 1)],
                rationale="\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1)),
                meta={"split": split, "term": row["term"], "description": row["description"],
                      "decomposition": steps},
            ))
        return samples

    def extract(self, text: str | None) -> Extraction:
        return extract_yes_no(text)

    def score(self, prediction: str | None, sample: Sample) -> Score:
        """Accuracy of the answer's polarity; an answer with no yes/no in it is wrong."""
        found = self.extract(prediction)
        ok = found.ok and yes_no(found.answer) == yes_no(sample.answer)
        return Score(correct=ok, value=float(ok), extraction=found)
