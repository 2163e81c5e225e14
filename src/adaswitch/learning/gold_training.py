"""Self-practice on gold: fine-tune the local model on gold trajectories of the training splits,
export it to GGUF (the merged model, and the LoRA adapter alone, which llama.cpp applies to the
base at load time) and register it, with no model in the loop before training.

The records come from :mod:`adaswitch.learning.gold` (zero-shot prompts: the practised agent is
served without few-shot examples, see ``prompts.zero_shot_prompts_for``); the cuts of one
trajectory train as one sequence (``FinetuneSettings.pack_trajectories``). Everything lives in one
work directory, and a rerun goes on where a run stopped: the records file is written once, training
resumes from its latest checkpoint, export and registration are repeated only when missing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from adaswitch.jsonfile import write_json
from adaswitch.learning.finetune_settings import FinetuneSettings

log = logging.getLogger(__name__)

RECORDS_FILE = "records.jsonl"
RECORDS_SUMMARY = "records.json"
PROMPT_STYLE = "zero-shot"
"""The manifest's ``prompt`` of a model practised on gold: serve it with the zero-shot prompts."""
DEFAULT_SETTINGS = FinetuneSettings(pack_trajectories=True, gradient_checkpointing=False, max_length=1024)
"""Measured here (0.5B, 2 CPUs, bf16 autocast): about 30 s per step of four GSM8K trajectories."""


def write_gold_records(work_dir: Path, questions: Mapping[str, int], count_tokens: Any = None,
                       step_format: str = "react") -> Path:
    """Write the records of the first ``questions[split]`` training questions of each split (those
    that convert), in ``step_format``, to ``work_dir/records.jsonl``, once: a rerun keeps the file it
    finds, so that a resumed training sees the same examples."""
    from adaswitch.learning.gold import approximate_tokens, gold_records
    from adaswitch.learning.records import write_jsonl

    path = work_dir / RECORDS_FILE
    summary_path = work_dir / RECORDS_SUMMARY
    if path.exists() and summary_path.exists():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        wanted, written_format = summary.get("questions"), summary.get("step_format", "react")
        if wanted != dict(questions) or written_format != step_format:
            raise ValueError(f"{work_dir} holds {written_format} records of {wanted}, not {step_format} records of "
                             f"{dict(questions)}: use another work directory")
        return path
    records, summary = [], {}
    for split, limit in questions.items():
        split_records, stats = gold_records(split, limit=limit, count_tokens=count_tokens or approximate_tokens,
                                            step_format=step_format)
        records += split_records
        summary[split] = {key: stats[key] for key in ("total", "converted", "records") if key in stats}
    work_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(path, records)
    write_json(summary_path, {"questions": dict(questions), "splits": summary, "prompt": PROMPT_STYLE,
                              "step_format": step_format})
    return path


def practise_on_gold(
    work_dir: Path | str,
    base: str,
    questions: Mapping[str, int],
    settings: FinetuneSettings = DEFAULT_SETTINGS,
    *,
    register_as: str | None = None,
    quant: str = "q4_k_m",
    stop_by: float | None = None,
    progress: bool = True,
    step_format: str = "react",
) -> dict[str, Any]:
    """Records, training, export (``work_dir/model.gguf``, merged and quantised; ``adapter.gguf``,
    the f16 LoRA adapter) and, with ``register_as``, registration of the adapter as one of ``base``
    (of the merged model after full fine-tuning).

    ``step_format`` ``paragraphs`` trains on the paragraph form of the splits that have one (the
    registered model is then run with ``--step-format paragraphs``).

    Returns what was done: the records summary, the training figures and the model file. Raises
    ``TrainingInterrupted`` when ``stop_by`` or a signal stops training (a rerun resumes).
    """
    from adaswitch.learning.export import export_gguf, export_lora_gguf
    from adaswitch.learning.finetune import finetune

    work = Path(work_dir)
    records = write_gold_records(work, questions, step_format=step_format)
    train_dir = work / "train"
    if (train_dir / "finetune.json").exists():
        result = json.loads((train_dir / "finetune.json").read_text(encoding="utf-8"))
    else:
        result = finetune(base, records, train_dir, settings, progress=progress, stop_by=stop_by).to_json()
    gguf = work / "model.gguf"
    if not gguf.exists():
        export_gguf(result["model_dir"], gguf, quant=quant)
    adapter = work / "adapter.gguf" if result.get("adapter_dir") else None
    if adapter is not None and not adapter.exists():
        export_lora_gguf(result["adapter_dir"], adapter, result["model_dir"])
    outcome: dict[str, Any] = {
        "records": json.loads((work / RECORDS_SUMMARY).read_text(encoding="utf-8")),
        "training": {key: result.get(key) for key in ("steps", "seconds", "median_step_seconds", "counts",
                                                      "peak_rss_mb", "bf16", "resumed_at", "settings")},
        "losses": result.get("losses"),
        "gguf": str(gguf),
        "adapter": str(adapter) if adapter is not None else None,
    }
    if register_as:
        from adaswitch.trained_models import ADAPTER_OF, register_trained_model

        manifest = {"base": str(base), "stage": "gold-practice", "prompt": PROMPT_STYLE, "step_format": step_format,
                    "questions": dict(questions),
                    "settings": result.get("settings"), "work_dir": str(work.resolve())}
        if adapter is not None:  # the base keeps its own weights; llama.cpp applies the adapter at load time
            registered = register_trained_model(register_as, adapter, {**manifest, ADAPTER_OF: str(base)},
                                                replace=True)
        else:
            registered = register_trained_model(register_as, gguf, {**manifest, "quant": quant}, replace=True)
        outcome["registered_as"] = register_as
        outcome["registered"] = str(registered)
    write_json(work / "practice.json", outcome)
    return outcome


def settings_with(**changes: Any) -> FinetuneSettings:
    """:data:`DEFAULT_SETTINGS` with ``changes``."""
    return replace(DEFAULT_SETTINGS, **changes)
