"""``adaswitch learn``: collaborative learning (practice, exam, reflect, probe) as resumable stages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from adaswitch.solver import DEFAULT_CLOUD, DEFAULT_LOCAL

EXIT_SIGNAL = 130
"""Exit status when a signal stopped training (after saving a checkpoint)."""
EXIT_BUDGET = 75
"""Exit status when the time budget stopped training (EX_TEMPFAIL: run it again to go on)."""

_OPTIONS: list[Callable[[Any], Any]] = [
    click.argument("work_dir", type=click.Path(file_okay=False, path_type=Path)),
    click.option("--name", default="adaswitch", show_default=True,
                 help="Prefix of the registered models (NAME-practised, NAME-reflected)."),
    click.option("--local", default=DEFAULT_LOCAL, show_default=True, envvar="ADASWITCH_LOCAL",
                 help="The local model to train: an embedded name or a .gguf path."),
    click.option("--cloud", default=DEFAULT_CLOUD, show_default=True, envvar="ADASWITCH_CLOUD",
                 help="The cloud agent that annotates and corrects (any backend spec)."),
    click.option("--cloud-base-url", envvar="ADASWITCH_CLOUD_BASE_URL"),
    click.option("--cloud-api-key", envvar=["ADASWITCH_CLOUD_API_KEY", "OPENAI_API_KEY"]),
    click.option("--benchmark", default="gsm8k", show_default=True, help="Where the training questions come from."),
    click.option("--split", default="train", show_default=True),
    click.option("--offset", type=click.IntRange(0), default=0, show_default=True),
    click.option("--practice-questions", type=click.IntRange(0), default=40, show_default=True),
    click.option("--exam-questions", type=click.IntRange(1), default=40, show_default=True,
                 help="Examined questions, taken after the practice questions."),
    click.option("--skip-practice", is_flag=True, help="Examine the base model directly (no self-practice)."),
    click.option("--max-steps", type=click.IntRange(1, 50), default=10, show_default=True),
    click.option("--max-corrections", type=click.IntRange(0, 20), default=3, show_default=True),
    click.option("--method", type=click.Choice(["lora", "full"]), default="lora", show_default=True),
    click.option("--practice-epochs", type=float, default=2.0, show_default=True),
    click.option("--reflect-epochs", type=float, default=2.0, show_default=True),
    click.option("--max-train-steps", type=int, default=-1, show_default=True,
                 help="Cap on optimiser steps per training stage (-1: no cap)."),
    click.option("--learning-rate", type=float, default=2e-4, show_default=True),
    click.option("--lora-r", type=click.IntRange(1), default=16, show_default=True),
    click.option("--batch-size", type=click.IntRange(1), default=4, show_default=True),
    click.option("--max-length", type=click.IntRange(64), default=1536, show_default=True),
    click.option("--bf16", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
                 help="bf16 autocast while training; auto: on a bf16 GPU or a CPU with AMX."),
    click.option("--checkpoint-every", type=click.IntRange(0), default=10, show_default=True,
                 help="Save a training checkpoint every N optimiser steps; a rerun resumes from it (0: never)."),
    click.option("--train-threads", type=click.IntRange(1), default=None,
                 help="CPU threads for training (default: every core)."),
    click.option("--time-budget", "time_budget_minutes", type=click.FloatRange(0, min_open=True), default=None,
                 metavar="MINUTES",
                 help="Stop training with a checkpoint so that it ends within MINUTES of the command's start "
                      "(exit status 75; a rerun resumes). Other stages are not cut short."),
    click.option("--quant", type=click.Choice(["q4_k_m", "q8_0", "f16"]), default="q4_k_m", show_default=True),
    click.option("--probe-for", default="base", show_default=True,
                 help="Comma-separated frozen local models to fit the probe for: base, practised, reflected."),
    click.option("--n-ctx", type=int, default=4096, show_default=True),
    click.option("--force", is_flag=True, help="Rerun the stages even when marked done."),
    click.option("--progress/--no-progress", default=True, show_default=True),
]


def pipeline_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


@click.group("learn")
def learn() -> None:
    """Teach the local agent when it is wrong: self-practice, examination, reflective learning.

    Every command takes the same WORK_DIR and options; the stages record their inputs, outputs,
    times and figures in WORK_DIR/pipeline.json, and a rerun resumes where a run stopped: the
    generating stages question by question, training from its latest checkpoint. Ctrl-C while
    training finishes the optimiser step, saves a checkpoint and stops (press it twice to stop at once).
    """


@learn.command("run")
@click.option("--stages", default="all", show_default=True,
              help="Comma-separated stages: practice, practice-train, exam, reflect-train, probe.")
@pipeline_options
def run_all(stages: str, **options: Any) -> None:
    """The whole pipeline."""
    from adaswitch.learning.pipeline import STAGES

    chosen = STAGES if stages == "all" else tuple(s.strip() for s in stages.split(",") if s.strip())
    _run(chosen, options)


@learn.command("practice")
@pipeline_options
def practice(**options: Any) -> None:
    """The cloud annotates training questions; fine-tune the local model on them; export; register."""
    _run(("practice", "practice-train"), options)


@learn.command("exam")
@pipeline_options
def exam(**options: Any) -> None:
    """The practised local agent sits the exam; the cloud corrects its first mistakes."""
    _run(("exam",), options)


@learn.command("reflect")
@pipeline_options
def reflect(**options: Any) -> None:
    """Fine-tune on the revised trajectories (judgments and corrections); export; register."""
    _run(("reflect-train",), options)


@learn.command("probe")
@pipeline_options
def probe(**options: Any) -> None:
    """Fit the hidden-state probe on the exam's labelled steps, for frozen local models."""
    _run(("probe",), options)


@learn.command("gold")
@click.argument("work_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--local", default=DEFAULT_LOCAL, show_default=True, envvar="ADASWITCH_LOCAL",
              help="The local model to practise: an embedded name or a .gguf path.")
@click.option("--questions", default="gsm8k=600", show_default=True, metavar="SPLIT=N,...",
              help="How many training questions of each gold split (gsm8k, math, strategyqa, hotpotqa) "
                   "to convert; those that convert are the records.")
@click.option("--register-as", default="adaswitch-gold", show_default=True,
              help="Register the practised model under this name ('' to skip).")
@click.option("--epochs", type=float, default=1.0, show_default=True)
@click.option("--max-train-steps", type=click.IntRange(1), default=None, help="Cap on optimiser steps.")
@click.option("--learning-rate", type=click.FloatRange(0, min_open=True), default=None,
              help="Default: 2e-4 (LoRA). Left unset, a run started without it resumes.")
@click.option("--lora-r", type=click.IntRange(1), default=16, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=4, show_default=True)
@click.option("--quant", type=click.Choice(["q4_k_m", "q8_0", "f16"]), default="q4_k_m", show_default=True)
@click.option("--train-threads", type=click.IntRange(1), default=None, help="CPU threads for training.")
@click.option("--time-budget", "time_budget_minutes", type=click.FloatRange(0, min_open=True), default=None,
              metavar="MINUTES", help="Stop training with a checkpoint within MINUTES (exit status 75; rerun to go on).")
@click.option("--step-format", type=click.Choice(["react", "paragraphs"]), default="react", show_default=True,
              help="The step format the records are written in (paragraphs: the gsm8k and math splits only); "
                   "run the practised model with the same --step-format.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def gold(work_dir: Path, local: str, questions: str, register_as: str, epochs: float, max_train_steps: int | None,
         learning_rate: float | None, lora_r: int, batch_size: int, quant: str, train_threads: int | None,
         time_budget_minutes: float | None, step_format: str, progress: bool) -> None:
    """Self-practice on gold: fine-tune the local model on gold trajectories of the training splits
    (no model in the loop), export it to GGUF and register it; the registered model is served with
    the zero-shot prompts it was trained on. A rerun with the same options resumes."""
    import json
    import time

    from adaswitch.learning.checkpoints import CheckpointMismatch, TrainingInterrupted
    from adaswitch.learning.gold import SPLITS
    from adaswitch.learning.gold_training import practise_on_gold, settings_with

    wanted = _split_counts(questions, SPLITS)
    settings = settings_with(epochs=epochs, max_steps=max_train_steps, learning_rate=learning_rate, lora_r=lora_r,
                             lora_alpha=2 * lora_r, batch_size=batch_size, threads=train_threads)
    stop_by = None if time_budget_minutes is None else time.time() + 60 * time_budget_minutes
    try:
        outcome = practise_on_gold(work_dir, local, wanted, settings, register_as=register_as or None, quant=quant,
                                   stop_by=stop_by, progress=progress, step_format=step_format)
    except TrainingInterrupted as err:
        click.echo(f"stopped: {err}", err=True)
        raise click.exceptions.Exit(EXIT_BUDGET if err.budget else EXIT_SIGNAL) from None
    except (CheckpointMismatch, ValueError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(json.dumps({key: value for key, value in outcome.items() if key != "losses"}, indent=2, default=str))


def _split_counts(text: str, splits: Any) -> dict[str, int]:
    """``gsm8k=600,math=100`` as a mapping, checked against the gold splits."""
    counts: dict[str, int] = {}
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        split, _, number = part.partition("=")
        if split not in splits:
            raise click.BadParameter(f"unknown gold split {split!r}; expected one of {', '.join(splits)}",
                                     param_hint="--questions")
        if not number.isdigit() or int(number) < 1:
            raise click.BadParameter(f"{part!r}: give SPLIT=N with N a positive number", param_hint="--questions")
        counts[split] = int(number)
    if not counts:
        raise click.BadParameter("no split given", param_hint="--questions")
    return counts


@learn.command("status")
@click.argument("work_dir", type=click.Path(file_okay=False, path_type=Path))
def status(work_dir: Path) -> None:
    """Where a pipeline run stands (safe while it runs): each stage's status and time, and how far
    an unfinished training got (its latest checkpoint)."""
    from adaswitch.learning.pipeline import pipeline_status

    try:
        rows = pipeline_status(work_dir)
    except FileNotFoundError as err:
        raise click.ClickException(str(err)) from None
    for row in rows:
        line = f"{row['stage']:<15} {row['status'] or '?':<8}"
        if row.get("seconds") is not None:
            line += f" {row['seconds']:>8.0f} s"
        if "alive" in row:
            line += "  (its process is running)" if row["alive"] else "  (its process is gone: rerun to resume)"
        checkpoint = row.get("checkpoint")
        if checkpoint:
            loss = f", loss {checkpoint['loss']:.3f}" if checkpoint.get("loss") is not None else ""
            line += f"  checkpoint at step {checkpoint['step']} of {checkpoint['max_steps']}{loss}"
            if checkpoint.get("step_seconds") is not None:
                line += (f"; {checkpoint['step_seconds']:.0f} s/step lately,"
                         f" about {_duration(checkpoint['seconds_left'])} left")
        if row.get("error") and row["status"] != "running":
            line += f"\n{'':<16}{row['error']}"
        click.echo(line)


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _run(stages: tuple[str, ...], options: dict[str, Any]) -> None:
    import json

    from adaswitch.learning.checkpoints import CheckpointMismatch, TrainingInterrupted
    from adaswitch.learning.pipeline import Pipeline, PipelineMismatch, PipelineSettings

    force, progress = options.pop("force"), options.pop("progress")
    options["probe_for"] = tuple(s.strip() for s in options["probe_for"].split(",") if s.strip())
    settings = PipelineSettings(**options)
    try:
        pipeline = Pipeline(settings, progress=_tqdm if progress else None)
    except PipelineMismatch as err:
        raise click.ClickException(str(err)) from None
    try:
        manifest = pipeline.run(stages, force=force)
    except TrainingInterrupted as err:
        click.echo(f"stopped: {err}", err=True)
        raise click.exceptions.Exit(EXIT_BUDGET if err.budget else EXIT_SIGNAL) from None
    except CheckpointMismatch as err:
        raise click.ClickException(str(err)) from None
    for stage, entry in manifest["stages"].items():
        figures = json.dumps(entry.get("figures", {}), default=str)
        click.echo(f"{stage}: {entry['status']} in {entry.get('seconds', '?')} s  {figures[:300]}")


def _tqdm(total: int, label: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="q")
