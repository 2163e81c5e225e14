"""HotpotQA (Yang et al. 2018), distractor setting: each question comes with its 10 paragraphs."""

from __future__ import annotations

from typing import Any

from adaswitch.benchmarks.base import Benchmark, Sample, read_json, read_jsonl, unique
from adaswitch.documents import Document


def paragraphs(context: list[list[Any]]) -> list[Document]:
    """``[[title, text or sentences], ...]`` as Documents, exact repeats dropped."""
    docs = []
    for title, body in context:
        text = body if isinstance(body, str) else " ".join(s.strip() for s in body)
        docs.append(Document(title=title, text=text))
    return list({(d.title, d.text): d for d in docs}.values())


def qa_sample(row: dict[str, Any], benchmark: str, split: str, titles: list[str]) -> Sample:
    """A multi-hop QA sample in the official HotpotQA/2Wiki layout."""
    return Sample(
        id=row["_id"], benchmark=benchmark, family="qa", question=row["question"],
        answer=row["answer"], knowledge=paragraphs(row["context"]), gold_titles=unique(titles),
        meta={"split": split, "type": row.get("type"),
              "supporting_facts": row.get("supporting_facts")},
    )


class HotpotQA(Benchmark):
    name = "hotpotqa"
    family = "qa"
    splits = ("dev", "train")

    def read(self, split: str) -> list[Sample]:
        """Dev: IRCoT's 500 questions (``supporting_titles``); train: 100 in the official layout."""
        if split == "dev":
            return [qa_sample(r, self.name, split, r["supporting_titles"])
                    for r in read_jsonl("hotpotqa", "dev_distractor_500.jsonl")]
        return [qa_sample(r, self.name, split, [t for t, _ in r["supporting_facts"]])
                for r in read_json("hotpotqa", "train100.json")]
