"""Fine-tune the local agent on supervised records with TRL's SFTTrainer (PEFT LoRA by default).

The records become examples as :mod:`adaswitch.learning.examples` says (the inference prompt,
tokenised as at inference, the loss on the completions only). They reach SFTTrainer pre-tokenised,
as ``input_ids`` plus a ``completion_mask``, and the trainer builds the labels from the mask
(``completion_only_loss``): prompt tokens get -100. We do not hand TRL prompt/completion strings because it would then append EOS to every completion and
tokenise with its own rules instead of the inference-time ones.

A run saves a checkpoint (LoRA adapter or weights, optimiser, scheduler, random states) every
``checkpoint_every`` optimiser steps under ``OUT/checkpoints/``; calling :func:`finetune` again on
the same output directory, base, records and settings resumes from the latest complete one, so a
killed run loses at most the steps since it. The checkpoints are removed once the model is saved.

Nothing here picks a device: the Trainer (through accelerate) trains on a GPU when there is one.
torch, transformers, trl, peft and datasets come from the ``learn`` extra and are imported only
when a function here runs.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import resource
import shutil
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from adaswitch.chat_template import ChatTemplate
from adaswitch.jsonfile import write_json
from adaswitch.learning.allocator import return_large_blocks_to_the_os
from adaswitch.learning.checkpoints import (
    CHECKPOINTS,
    RUN_IDENTITY,
    TrainingInterrupted,
    latest_checkpoint,
    run_identity,
    step_timer,
    timer_state,
    training_stopper,
)
from adaswitch.learning.examples import ExampleCounts, prepare_examples, template_for
from adaswitch.learning.finetune_settings import FinetuneSettings
from adaswitch.learning.records import SFTRecord, read_records

log = logging.getLogger(__name__)

LEARN_EXTRA_HINT = "pip install 'adaswitch[learn]'"
_LEARN_MODULES = ("torch", "transformers", "trl", "peft", "datasets", "accelerate")


class LearnExtraMissing(ImportError):
    """The training stack (the ``learn`` extra) is not installed."""


@dataclass(frozen=True)
class FinetuneResult:
    out_dir: Path
    model_dir: Path
    """The full model (LoRA merged into its weights) with its tokenizer, Hugging Face format."""
    adapter_dir: Path | None
    """The LoRA adapter alone; None for full fine-tuning."""
    base: str
    base_path: str
    settings: FinetuneSettings
    counts: ExampleCounts
    steps: int
    losses: list[float]
    """Training loss at each logged optimiser step."""
    step_seconds: list[float]
    """Wall time of each optimiser step (gradient accumulation included)."""
    seconds: float
    """Training time (the optimiser loop), summed over the sittings of a resumed run up to the
    checkpoints they resumed from."""
    total_seconds: float
    """Loading, preparing, training and saving."""
    peak_rss_mb: float
    """Peak resident memory of this process so far."""
    device: str
    bf16: bool = False
    """Whether bf16 autocast was on."""
    resumed_at: list[int] = field(default_factory=list)
    """The optimiser steps at which training resumed from a checkpoint (empty: one sitting)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "model_dir": str(self.model_dir),
            "adapter_dir": str(self.adapter_dir) if self.adapter_dir else None,
            "base": self.base,
            "base_path": self.base_path,
            "settings": self.settings.to_json(),
            "counts": asdict(self.counts),
            "steps": self.steps,
            "losses": self.losses,
            "step_seconds": [round(t, 3) for t in self.step_seconds],
            "median_step_seconds": round(statistics.median(self.step_seconds), 3) if self.step_seconds else None,
            "seconds": round(self.seconds, 3),
            "seconds_per_step": round(self.seconds / self.steps, 3) if self.steps else None,
            "total_seconds": round(self.total_seconds, 3),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "device": self.device,
            "bf16": self.bf16,
            "resumed_at": self.resumed_at,
            "versions": _versions(),
        }


@dataclass
class LoadedBase:
    """A base model ready to train: weights, tokenizer and the inference-time prompt renderer."""

    model: Any
    tokenizer: Any
    template: ChatTemplate
    path: Path
    """The GGUF file or Hugging Face directory the weights came from."""


# -- public API ----------------------------------------------------------------------------


def require_learn_extra() -> None:
    """Import the training stack, or raise :class:`LearnExtraMissing` naming the extra to install."""
    for name in _LEARN_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise LearnExtraMissing(f"fine-tuning needs {name}, which is not installed: {LEARN_EXTRA_HINT}") from err


def load_base(base: str | Path) -> LoadedBase:
    """Load ``base`` in float32 for training.

    ``base`` is an embedded or registered model name, a ``.gguf`` file (dequantised by
    transformers; llama and qwen2 architectures among others) or a Hugging Face model directory,
    such as the ``model/`` (or the whole output directory) of an earlier :func:`finetune`.
    """
    require_learn_extra()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    kind, path = _locate_base(base)
    if kind == "gguf":
        where, name = str(path.parent), path.name
        tokenizer = AutoTokenizer.from_pretrained(where, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(
            where, gguf_file=name, quantization_config=GgufConfig(dequantize=True), dtype=torch.float32
        )
        # dequantised weights are plain tensors; transformers 5.23 attaches no quantizer when asked
        # to dequantise, but one left attached would make the Trainer refuse to train
        if getattr(model, "hf_quantizer", None) is not None:
            model.hf_quantizer = None
            model.config.__dict__.pop("quantization_config", None)
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
    return LoadedBase(model=model, tokenizer=tokenizer, template=template_for(tokenizer), path=path)


def bf16_helps() -> bool:
    """Whether bf16 autocast speeds training here: a GPU that supports bf16, or a CPU with AMX
    tiles (measured on one, ``benchmarks/finetune_speed.py``: a 0.5B LoRA step of 4 records of about
    900 tokens takes 64 s instead of 110 s, median)."""
    import torch

    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private; absent in some builds
    return bool(amx and amx())


def finetune(
    base: str | Path,
    records: list[SFTRecord] | Path | str,
    out_dir: Path | str,
    settings: FinetuneSettings | None = None,
    *,
    progress: bool = True,
    overwrite: bool = False,
    callbacks: Sequence[Any] = (),
    stop_by: float | None = None,
) -> FinetuneResult:
    """Fine-tune ``base`` on ``records`` (a list or a JSONL file) and write to ``out_dir``:
    ``model/`` (the full model, LoRA merged, with its tokenizer), ``adapter/`` (LoRA only) and
    ``finetune.json`` (settings, counts, steps, losses, timings, peak memory).

    See :func:`load_base` for what ``base`` may be. An ``out_dir`` that already holds a
    ``finetune.json`` is an error unless ``overwrite``. One whose ``checkpoints/`` hold an
    unfinished run resumes from its latest complete checkpoint when the base, the prepared examples
    and the training settings are the same, and is a :class:`CheckpointMismatch` otherwise;
    ``overwrite`` starts over instead. ``callbacks`` are extra transformers ``TrainerCallback``
    objects.

    A first SIGINT (Ctrl-C) or SIGTERM while training finishes the optimiser step under way, saves
    a checkpoint and raises :class:`TrainingInterrupted`; a second one stops at once. With
    ``stop_by`` (a ``time.time()`` deadline) training does the same after the last step that, at
    the pace of the one before, ends before the deadline (at least one step when it starts in time;
    none, and no checkpoint, when it does not).
    """
    start = time.perf_counter()
    settings = settings or FinetuneSettings()
    records = _as_records(records)
    if not records:
        raise ValueError("no training records")
    out_dir = Path(out_dir)
    if (out_dir / "finetune.json").exists() and not overwrite:
        raise FileExistsError(f"{out_dir} already holds a fine-tuned model; pass overwrite to replace it")
    require_learn_extra()
    checkpoints = out_dir / CHECKPOINTS
    if overwrite:  # the earlier run is gone at once, so that this one, if stopped, resumes without overwrite
        shutil.rmtree(checkpoints, ignore_errors=True)
        (out_dir / "finetune.json").unlink(missing_ok=True)

    with _quiet(not progress), _torch_threads(settings.threads):
        loaded = load_base(base)
        examples, counts = prepare_examples(records, loaded.tokenizer, loaded.template, settings)
        if not examples:
            raise ValueError(
                f"none of the {counts.records} records can be trained: {counts.dropped_empty} have an empty "
                f"completion, {counts.dropped_overlong} do not fit in max_length={settings.max_length}"
            )
        if counts.truncated or counts.dropped_overlong or counts.dropped_empty:
            log.warning("records: %d truncated, %d dropped as too long, %d dropped as empty (of %d)",
                        counts.truncated, counts.dropped_overlong, counts.dropped_empty, counts.records)
        identity = run_identity(loaded.path, examples, settings.training_json())
        resume_from = latest_checkpoint(checkpoints, identity, remove_incomplete=True)
        if stop_by is not None and time.time() >= stop_by:
            at = f"at step {timer_state(resume_from)['resumed_at'][-1]}" if resume_from else "before its first step"
            raise TrainingInterrupted(f"the time budget was spent before training began; it stands {at}: "
                                      f"run the same training again to go on", budget=True)
        return_large_blocks_to_the_os()  # varying batch shapes otherwise fragment the heap (see the module)
        trainer = _make_trainer(loaded, examples, out_dir, settings, progress)
        timer = step_timer(timer_state(resume_from))
        stopper = training_stopper(stop_by)
        for callback in (timer, stopper, *callbacks):
            trainer.add_callback(callback)
        if trainer.accelerator.is_main_process:
            checkpoints.mkdir(parents=True, exist_ok=True)
            write_json(checkpoints / RUN_IDENTITY, identity)
        if resume_from is not None:
            log.info("resuming from %s", resume_from)
        try:
            trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        finally:
            stopper.restore()  # also when training fails, when on_train_end is not called
        if stopper.stopped_at is not None:
            raise TrainingInterrupted(
                f"training stopped {stopper.reason} at step {stopper.stopped_at} of {trainer.state.max_steps}; "
                f"its checkpoint is under {checkpoints}: run the same training again to resume",
                budget=stopper.budget)
        model_dir, adapter_dir = _save(trainer, loaded.tokenizer, out_dir, settings)

    losses = [float(entry["loss"]) for entry in trainer.state.log_history if "loss" in entry]
    result = FinetuneResult(
        out_dir=out_dir, model_dir=model_dir, adapter_dir=adapter_dir, base=str(base),
        base_path=str(loaded.path), settings=settings, counts=counts, steps=int(trainer.state.global_step),
        losses=losses, step_seconds=list(timer.step_seconds), seconds=timer.seconds(),
        total_seconds=time.perf_counter() - start,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, device=str(trainer.args.device),
        bf16=bool(trainer.args.bf16), resumed_at=list(timer.resumed_at),
    )
    if trainer.accelerator.is_main_process:
        write_json(out_dir / "finetune.json", result.to_json())
        shutil.rmtree(checkpoints, ignore_errors=True)
    return result


# -- internals -----------------------------------------------------------------------------


def _locate_base(base: str | Path) -> tuple[Literal["gguf", "hf"], Path]:
    path = Path(base).expanduser()
    if path.is_dir():
        for candidate in (path, path / "model"):
            if (candidate / "config.json").is_file():
                return "hf", candidate
        raise FileNotFoundError(f"{path} is not a Hugging Face model directory (no config.json)")
    if path.suffix == ".gguf":
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        return "gguf", path
    from adaswitch.embedded import resolve_model

    return "gguf", resolve_model(str(base))


def _as_records(records: list[SFTRecord] | Path | str) -> list[SFTRecord]:
    if isinstance(records, (str, Path)):
        return read_records(Path(records))
    records = list(records)
    for record in records:
        if not isinstance(record, SFTRecord):
            raise TypeError(f"expected SFTRecord items, got {type(record).__name__}")
    return records


def _make_trainer(loaded: LoadedBase, examples: list[dict], out_dir: Path, settings: FinetuneSettings,
                  progress: bool) -> Any:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import PrinterCallback, set_seed
    from trl import SFTConfig, SFTTrainer

    set_seed(settings.seed)
    gpu = torch.cuda.is_available()
    bf16 = settings.bf16 == "on" or (settings.bf16 == "auto" and bf16_helps())
    args = SFTConfig(
        output_dir=str(out_dir / CHECKPOINTS),
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        learning_rate=settings.lr,
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps or -1,
        bf16=bf16,
        # transformers refuses bf16 without a GPU unless told that the CPU is meant
        use_cpu=bf16 and not gpu,
        activation_checkpointing=settings.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if settings.gradient_checkpointing else None,
        seed=settings.seed,
        data_seed=settings.seed,
        max_length=settings.max_length,
        completion_only_loss=True,
        packing=False,
        logging_steps=1,
        save_strategy="steps" if settings.checkpoint_every else "no",
        save_steps=settings.checkpoint_every or 500,
        save_total_limit=1,
        report_to="none",
        disable_tqdm=not progress,
        dataloader_num_workers=0,
    )
    peft_config = None
    if settings.method == "lora":
        targets = settings.target_modules
        peft_config = LoraConfig(
            r=settings.lora_r,
            lora_alpha=settings.lora_alpha,
            lora_dropout=settings.lora_dropout,
            target_modules=targets if isinstance(targets, str) else list(targets),
            task_type="CAUSAL_LM",
        )
    trainer = SFTTrainer(
        model=loaded.model,
        args=args,
        train_dataset=Dataset.from_list(examples),
        processing_class=loaded.tokenizer,
        peft_config=peft_config,
    )
    if not progress:
        trainer.remove_callback(PrinterCallback)
    return trainer


def _save(trainer: Any, tokenizer: Any, out_dir: Path, settings: FinetuneSettings) -> tuple[Path, Path | None]:
    model = trainer.accelerator.unwrap_model(trainer.model)
    model_dir = out_dir / "model"
    adapter_dir = out_dir / "adapter" if settings.method == "lora" else None
    if trainer.accelerator.is_main_process:
        for directory in (model_dir, out_dir / "adapter"):  # an earlier run's, when overwriting
            if directory.exists():
                shutil.rmtree(directory)
        if adapter_dir is not None:
            model.save_pretrained(str(adapter_dir))
            model = model.merge_and_unload()
        model.config.use_cache = True
        model.save_pretrained(str(model_dir))
        tokenizer.save_pretrained(str(model_dir))
    return model_dir, adapter_dir


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def _quiet(enabled: bool) -> Iterator[None]:
    """Hide the progress bars of transformers and datasets (loading, mapping) while ``enabled``."""
    if not enabled:
        yield
        return
    import datasets
    from transformers.utils import logging as hf_logging

    bars_were_on = hf_logging.is_progress_bar_enabled()
    datasets_bars_were_on = not datasets.are_progress_bars_disabled()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
        if datasets_bars_were_on:
            datasets.enable_progress_bars()


def _versions() -> dict[str, str]:
    import importlib.metadata

    versions = {}
    for name in _LEARN_MODULES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
