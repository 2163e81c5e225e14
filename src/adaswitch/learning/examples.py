"""Training examples from supervised records: prompts rendered and tokenised as at inference, the
loss mask on the completions only, trajectories packed, the length policy applied.

Prompts are rendered by :class:`~adaswitch.chat_template.ChatTemplate` from the model's own chat
template, exactly as the llama.cpp backend renders them at inference, and tokenised the way it
tokenises them (special tokens parsed; a BOS token only when the model asks for one and the text
does not already start with it). The completion's tokens follow the prompt's directly, and nothing
is appended to them: no EOS or end-of-turn token, since the records decide what is trained.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from adaswitch.chat_template import ChatTemplate
from adaswitch.learning.finetune_settings import FinetuneSettings
from adaswitch.learning.records import SFTRecord, trajectory_groups

IGNORE_INDEX = -100
"""The label of a token outside the loss."""


@dataclass(frozen=True)
class ExampleCounts:
    """What became of the records on the way to training examples."""

    records: int
    examples: int
    truncated: int = 0
    dropped_overlong: int = 0
    dropped_empty: int = 0
    completion_tokens: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    """Training examples by record kind."""
    packed: int = 0
    """Records trained inside an earlier record's example (``pack_trajectories``)."""


def template_for(tokenizer: Any) -> ChatTemplate:
    """The prompt renderer for a tokenizer: its chat template and special-token texts."""
    return ChatTemplate(
        getattr(tokenizer, "chat_template", None),
        bos_token=tokenizer.bos_token or "",
        eos_token=tokenizer.eos_token or "",
    )


def render_record_prompt(record: SFTRecord, template: ChatTemplate) -> str:
    """The prompt text of a record, as at inference: a final assistant message is continued,
    any other final message gets a new assistant turn."""
    continue_final = bool(record.messages) and record.messages[-1].role == "assistant"
    return template.render(record.messages, continue_final=continue_final)


def tokenize_record(record: SFTRecord, tokenizer: Any, template: ChatTemplate) -> dict[str, list[int]]:
    """One training example: ``input_ids`` (prompt then completion), ``completion_mask`` (1 on the
    completion's tokens) and ``labels`` (the ids, with -100 on the prompt's tokens)."""
    prompt = render_record_prompt(record, template)
    prompt_ids = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    if adds_bos(tokenizer) and not (template.bos_token and prompt.startswith(template.bos_token)):
        prompt_ids.insert(0, tokenizer.bos_token_id)
    completion_ids = list(tokenizer(record.completion, add_special_tokens=False)["input_ids"])
    return {
        "input_ids": prompt_ids + completion_ids,
        "completion_mask": [0] * len(prompt_ids) + [1] * len(completion_ids),
        "labels": [IGNORE_INDEX] * len(prompt_ids) + completion_ids,
    }


def tokenize_trajectory(group: Sequence[SFTRecord], tokenizer: Any, template: ChatTemplate) -> dict[str, list[int]]:
    """One training example for the cuts of one trajectory (see :func:`records.trajectory_groups`):
    the first record's prompt, then each completion in the loss and, between two, the text the tool
    and the engine added (observation, next label) out of it. Each piece is tokenised apart, as the
    engine's prompt and the model's generated tokens meet at inference."""
    example = tokenize_record(group[0], tokenizer, template)
    ids, mask = list(example["input_ids"]), list(example["completion_mask"])
    for before, after in zip(group, group[1:]):
        written = before.messages[-1].content + before.completion
        between = after.messages[-1].content[len(written):]
        gap = list(tokenizer(between, add_special_tokens=False)["input_ids"]) if between else []
        completion = list(tokenizer(after.completion, add_special_tokens=False)["input_ids"])
        ids += gap + completion
        mask += [0] * len(gap) + [1] * len(completion)
    return {
        "input_ids": ids,
        "completion_mask": mask,
        "labels": [token if keep else IGNORE_INDEX for token, keep in zip(ids, mask)],
    }


def truncate_example(example: dict[str, list[int]], max_length: int, *, bos_id: int | None = None) -> dict | None:
    """Cut the prompt from the left so the example has ``max_length`` tokens, keeping a leading
    ``bos_id``; None when the completion alone does not leave room for one prompt token."""
    ids = example["input_ids"]
    if len(ids) <= max_length:
        return example
    n_completion = sum(example["completion_mask"])
    keep_bos = bos_id is not None and ids and ids[0] == bos_id
    room = max_length - n_completion - int(keep_bos)
    if room < 1:
        return None
    start = int(keep_bos)
    cut = len(ids) - n_completion - start - room  # prompt tokens removed, after the BOS if kept
    return {key: values[:start] + values[start + cut:] for key, values in example.items()}


def prepare_examples(
    records: list[SFTRecord], tokenizer: Any, template: ChatTemplate, settings: FinetuneSettings
) -> tuple[list[dict[str, list[int]]], ExampleCounts]:
    """Tokenise records for training (``input_ids`` and ``completion_mask``), applying the length
    policy; return the examples and what happened to the records."""
    examples: list[dict[str, list[int]]] = []
    kinds: Counter[str] = Counter()
    truncated = overlong = empty = tokens = 0
    bos_id = tokenizer.bos_token_id if adds_bos(tokenizer) else None
    packed = 0
    for record, example, inside in _tokenized(records, tokenizer, template, settings):
        packed += inside
        if not any(example["completion_mask"]):
            empty += 1
            continue
        if len(example["input_ids"]) > settings.max_length:
            fitted = None
            if settings.overlong == "truncate":
                fitted = truncate_example(example, settings.max_length, bos_id=bos_id)
            if fitted is None:
                overlong += 1
                continue
            example, truncated = fitted, truncated + 1
        examples.append({"input_ids": example["input_ids"], "completion_mask": example["completion_mask"]})
        kinds[record.kind] += 1
        tokens += sum(example["completion_mask"])
    counts = ExampleCounts(
        records=len(records), examples=len(examples), truncated=truncated, dropped_overlong=overlong,
        dropped_empty=empty, completion_tokens=tokens, kinds=dict(sorted(kinds.items())), packed=packed,
    )
    return examples, counts


def _tokenized(records: list[SFTRecord], tokenizer: Any, template: ChatTemplate, settings: FinetuneSettings,
               ) -> Iterator[tuple[SFTRecord, dict[str, list[int]], int]]:
    """Each example with its first record and how many further records it holds: a packed
    trajectory when ``pack_trajectories`` and it fits in ``max_length``, else one per record."""
    groups = trajectory_groups(records) if settings.pack_trajectories else [[record] for record in records]
    for group in groups:
        if len(group) > 1:
            example = tokenize_trajectory(group, tokenizer, template)
            if len(example["input_ids"]) <= settings.max_length:
                yield group[0], example, len(group) - 1
                continue
        for record in group:  # too long as one: its cuts train apart
            yield record, tokenize_record(record, tokenizer, template), 0


def adds_bos(tokenizer: Any) -> bool:
    """Whether the tokenizer puts a BOS token in front of a text (llama.cpp's ``add_bos``)."""
    if tokenizer.bos_token_id is None:
        return False
    with_special = tokenizer("a", add_special_tokens=True)["input_ids"]
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    return len(with_special) > len(plain) and with_special[0] == tokenizer.bos_token_id
