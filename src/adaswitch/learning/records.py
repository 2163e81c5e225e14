"""Supervised records and labelled steps: the files the learning stages hand to each other.

A supervised record is a prompt conversation and the text trained after it. The prompt is rendered
by the same code as at inference (:meth:`TaskPrompts.step_messages`, :meth:`TaskPrompts.judgment_messages`
and the model's chat template), so what is masked out of the loss is exactly what the model reads
and never writes: instructions, question, earlier steps, observations.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from adaswitch.backends.base import Message
from adaswitch.jsonfile import replacing
from adaswitch.prompts import JUDGMENT_PREFIX, JUDGMENT_RIGHT, JUDGMENT_WRONG, TaskPrompts
from adaswitch.trace import StepRecord
from adaswitch.trajectory import append_step

RecordKind = Literal["step", "judged_step", "judgment", "correction"]


@dataclass(frozen=True)
class SFTRecord:
    """One training example: the conversation ``messages`` (its final message is the partial
    assistant turn, continued as at inference) and ``completion``, the only text in the loss."""

    messages: list[Message]
    completion: str
    kind: RecordKind
    source: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
            "completion": self.completion,
            "kind": self.kind,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SFTRecord:
        return cls(
            messages=[Message(role=m["role"], content=m["content"]) for m in data["messages"]],
            completion=data["completion"],
            kind=data["kind"],
            source=dict(data.get("source") or {}),
        )


@dataclass(frozen=True)
class LabelledStep:
    """A step the local agent wrote during the examination, with the rules' verdict."""

    sample_id: str
    benchmark: str
    family: str
    question: str
    trajectory: str
    """The rendered trajectory before the step."""
    index: int
    """The step number (``Thought {index}``)."""
    step_text: str
    """The rendered step: its ``Thought`` and ``Action`` lines."""
    wrong: bool
    rule: str
    """The rule that decided the verdict."""
    correction: str | None = None
    """The cloud agent's rendered step from the same prefix, when the step was wrong."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabelledStep:
        return cls(**data)


def write_jsonl(path: Path, rows: Iterable[SFTRecord | LabelledStep]) -> int:
    """Write rows to ``path`` (replacing it atomically); return how many were written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with replacing(path) as f:
        for row in rows:
            f.write(json.dumps(row.to_json(), ensure_ascii=False) + "\n")
            n += 1
    return n


def read_records(path: Path) -> list[SFTRecord]:
    return [SFTRecord.from_json(row) for row in _rows(path)]


def read_labelled_steps(path: Path) -> list[LabelledStep]:
    return [LabelledStep.from_json(row) for row in _rows(path)]


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{number}: not a JSON line ({err.msg})") from None


def step_body(step_text: str, index: int) -> str:
    """What a model writes for step ``index``: the rendered step after its ``Thought {index}:`` label."""
    label = f"Thought {index}:"
    if not step_text.startswith(label):
        raise ValueError(f"step {index} does not start with {label!r}: {step_text[:40]!r}")
    return step_text[len(label):]


def step_records(
    question: str, prompts: TaskPrompts, steps: Sequence[StepRecord], source: dict[str, Any] | None = None
) -> list[SFTRecord]:
    """Self-practice records: for each step, the conversation before it and the step itself.

    In the react format a step's completion is what follows its ``Thought N:`` label; in the
    paragraph format it is the paragraph and the blank line that ends it (the stop the model must
    learn to write), so each record's conversation is the one before plus the last completion."""
    paragraphs = prompts.step_format == "paragraphs"
    out, trajectory = [], ""
    for step in steps:
        out.append(SFTRecord(
            messages=prompts.step_messages(question, trajectory, step.index),
            completion=step.text + prompts.separator if paragraphs else step_body(step.text, step.index),
            kind="step",
            source={**(source or {}), "index": step.index, "author": step.author},
        ))
        trajectory = append_step(trajectory, step, prompts.separator)
    return out


def trajectory_groups(records: Sequence[SFTRecord]) -> list[list[SFTRecord]]:
    """Consecutive step records that are cuts of one trajectory, grouped in order.

    Record ``k + 1`` continues record ``k`` when both are ``step`` records with the same
    conversation before the assistant turn, and its assistant turn starts with record ``k``'s
    assistant turn followed by record ``k``'s completion (the text in between, the observation and
    the next step's label, or steps with no record of their own, is context). Such a group trains as one
    sequence with every completion in the loss (see ``finetune.tokenize_trajectory``): the same
    targets as the separate records, for the tokens of the last one alone. Any other record is a
    group of its own.
    """
    groups: list[list[SFTRecord]] = []
    for record in records:
        if groups and continues(groups[-1][-1], record):
            groups[-1].append(record)
        else:
            groups.append([record])
    return groups


def continues(before: SFTRecord, after: SFTRecord) -> bool:
    """Whether ``after`` is the next cut of the trajectory ``before`` is a cut of."""
    if before.kind != "step" or after.kind != "step":
        return False
    if not before.messages or not after.messages or len(before.messages) != len(after.messages):
        return False
    if before.messages[:-1] != after.messages[:-1]:
        return False
    last_before, last_after = before.messages[-1], after.messages[-1]
    if last_before.role != "assistant" or last_after.role != "assistant":
        return False
    return last_after.content.startswith(last_before.content + before.completion)


def reflection_records(
    question: str,
    prompts: TaskPrompts,
    steps: Sequence[StepRecord],
    source: dict[str, Any] | None = None,
    uncorrected: StepRecord | None = None,
) -> list[SFTRecord]:
    """Reflective-learning records from a revised trajectory (METHOD.md section 3).

    A step kept as the local agent wrote it is trained with the judgment "right" after it. A step
    the cloud agent corrected carries the local agent's wrong step in ``replaced``: the wrong step is
    context only and the judgment "wrong" is trained after it; then, from the same prefix, the
    correction is trained with "right". ``uncorrected`` is a wrong local step after ``steps`` that
    was left as it was (the correction budget was spent): only its "wrong" judgment is trained.
    """
    out, trajectory = [], ""
    for step in steps:
        base = {**(source or {}), "index": step.index}
        wrong = [p for p in step.replaced if p.author == "local"]
        for proposal in wrong[:1]:
            out.append(SFTRecord(
                messages=prompts.judgment_messages(question, trajectory, proposal.text),
                completion=JUDGMENT_WRONG,
                kind="judgment",
                source={**base, "author": "local", "judgment": "wrong"},
            ))
        out.append(SFTRecord(
            messages=prompts.step_messages(question, trajectory, step.index),
            completion=f"{step_body(step.text, step.index).rstrip()}{JUDGMENT_PREFIX}{JUDGMENT_RIGHT}",
            kind="correction" if wrong else "judged_step",
            source={**base, "author": step.author, "judgment": "right"},
        ))
        trajectory = append_step(trajectory, step)
    if uncorrected is not None:
        out.append(SFTRecord(
            messages=prompts.judgment_messages(question, trajectory, uncorrected.text),
            completion=JUDGMENT_WRONG,
            kind="judgment",
            source={**(source or {}), "index": uncorrected.index, "author": "local", "judgment": "wrong",
                    "uncorrected": True},
        ))
    return out
