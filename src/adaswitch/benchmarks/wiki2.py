"""2WikiMultiHopQA (Ho et al. 2020): multi-hop questions over Wikipedia with 10 paragraphs each."""

from __future__ import annotations

from adaswitch.benchmarks.base import Benchmark, Sample, read_json
from adaswitch.benchmarks.hotpotqa import qa_sample


class Wiki2(Benchmark):
    name = "2wiki"
    family = "qa"
    splits = ("dev",)
    aliases = ("2wikimultihopqa",)

    def read(self, split: str) -> list[Sample]:
        samples = []
        for row in read_json("2wikimultihopqa", "dev_sample500.json"):
            sample = qa_sample(row, self.name, split, [t for t, _ in row["supporting_facts"]])
            sample.meta["evidences"] = row.get("evidences")
            samples.append(sample)
        return samples
