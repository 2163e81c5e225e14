"""The whole collaborative-learning pipeline as resumable stages in one work directory.

Stages, in order (each writes under ``WORK/<stage>/`` and records its inputs, outputs, time and
figures in ``WORK/pipeline.json``; a stage marked done is skipped on a rerun, and the generating
stages resume their journals question by question):

1. ``practice``: the cloud agent annotates training questions (self-practice data);
2. ``practice-train``: fine-tune the local model on them, export to GGUF, register ``NAME-practised``;
3. ``exam``: the practised agent sits the exam on other training questions, the cloud corrects;
4. ``reflect-train``: fine-tune the practised model on the revised trajectories, export, register
   ``NAME-reflected`` (the local agent for ``--introspection trained``);
5. ``probe``: fit the hidden-state probe on the exam's labelled steps for a frozen local model.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adaswitch.benchmarks import Sample, get_benchmark
from adaswitch.jsonfile import write_json
from adaswitch.learning.records import SFTRecord

if TYPE_CHECKING:
    from adaswitch.solver import Solver

STAGES = ("practice", "practice-train", "exam", "reflect-train", "probe")
MANIFEST = "pipeline.json"
TRAIN_DIRS = {"practice-train": "practice", "reflect-train": "reflect"}
"""Where each training stage writes (``WORK/<dir>/train`` holds the fine-tuning run)."""


@dataclass
class PipelineSettings:
    work_dir: Path
    name: str = "adaswitch"
    """Prefix of the registered models: NAME-practised, NAME-reflected."""
    local: str = "qwen2.5-coder-0.5b"
    cloud: str = "qwen2.5-coder-1.5b"
    benchmark: str = "gsm8k"
    split: str = "train"
    offset: int = 0
    practice_questions: int = 40
    exam_questions: int = 40
    """Exam questions follow the practice questions in the split (disjoint slices)."""
    max_steps: int = 10
    max_corrections: int = 3
    skip_practice: bool = False
    """Examine the base model directly (no self-practice stage)."""
    practice_epochs: float = 2.0
    reflect_epochs: float = 2.0
    max_train_steps: int = -1
    """Cap on optimiser steps per training stage (-1: as many as the epochs take)."""
    learning_rate: float = 2e-4
    lora_r: int = 16
    batch_size: int = 4
    max_length: int = 1536
    method: str = "lora"
    bf16: str = "auto"
    """bf16 autocast while training: "auto" (where it speeds training), "on" or "off"."""
    checkpoint_every: int = 10
    """Save a resumable training checkpoint every this many optimiser steps (0: never)."""
    train_threads: int | None = None
    """CPU threads for training (None: torch's default, every core)."""
    time_budget_minutes: float | None = None
    """Stop a training stage with a checkpoint so that it ends within this many minutes of the
    pipeline's start (a rerun resumes it); other stages are not cut short. None: no limit."""
    quant: str = "q4_k_m"
    probe_for: tuple[str, ...] = ("base",)
    """Frozen local models to fit the probe for: "base", "practised", "reflected"."""
    n_ctx: int = 4096
    cloud_base_url: str | None = None
    cloud_api_key: str | None = field(default=None, repr=False)

    def manifest_settings(self) -> dict[str, Any]:
        data = asdict(self)
        data["work_dir"] = str(self.work_dir)
        data.pop("cloud_api_key")
        return data


class PipelineMismatch(ValueError):
    """The work directory holds a pipeline run with other settings."""


_DATA = ("local", "cloud", "benchmark", "split", "offset", "practice_questions", "max_steps", "skip_practice")
_TRAIN = ("method", "learning_rate", "lora_r", "batch_size", "max_length", "max_train_steps", "quant")
_PRACTISED = _TRAIN + ("practice_epochs", "name")
_EXAM = ("exam_questions", "max_corrections")


def stage_settings(stage: str, skip_practice: bool) -> tuple[str, ...]:
    """The settings a stage's results depend on: a finished stage refuses a rerun that changes them.
    Without self-practice the exam and the probe do not depend on how a model is trained."""
    practised = () if skip_practice else _PRACTISED
    return {
        "practice": _DATA,
        "practice-train": _DATA + _PRACTISED,
        "exam": _DATA + practised + _EXAM,
        "reflect-train": _DATA + _PRACTISED + _EXAM + ("reflect_epochs",),
        "probe": _DATA + _PRACTISED + _EXAM + ("reflect_epochs",),
    }.get(stage, ())


ProgressFactory = Callable[[int, str], Any]
"""Makes a progress bar (total, description) with ``update()`` and ``close()``."""


class Pipeline:
    def __init__(self, settings: PipelineSettings, progress: ProgressFactory | None = None):
        self.s = settings
        self.work = Path(settings.work_dir)
        self.work.mkdir(parents=True, exist_ok=True)
        self.progress = progress
        self.manifest = self._load_manifest()
        minutes = settings.time_budget_minutes
        self.stop_training_by = None if minutes is None else time.time() + 60 * minutes

    # -- driver -----------------------------------------------------------------------------

    def run(self, stages: tuple[str, ...] = STAGES, force: bool = False) -> dict[str, Any]:
        for stage in stages:
            if stage not in STAGES:
                raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
        for stage in STAGES:
            if stage not in stages or (self.s.skip_practice and stage in ("practice", "practice-train")):
                continue
            if self.done(stage) and not force:
                continue
            self._run_stage(stage)
        return self.manifest

    def done(self, stage: str) -> bool:
        return self.manifest["stages"].get(stage, {}).get("status") == "done"

    def _run_stage(self, stage: str) -> None:
        entry = {"status": "running", "started_at": _now(), "pid": os.getpid(), "host": socket.gethostname()}
        self.manifest["stages"][stage] = entry
        self._save_manifest()
        started = time.perf_counter()
        try:
            inputs, outputs, figures = getattr(self, "_" + stage.replace("-", "_"))()
        except BaseException as err:
            entry.update(status="stopped" if isinstance(err, KeyboardInterrupt) else "failed", error=f"{type(err).__name__}: {err}",
                         seconds=round(time.perf_counter() - started, 1))
            self._save_manifest()
            raise
        entry.update(status="done", finished_at=_now(), seconds=round(time.perf_counter() - started, 1),
                     inputs=inputs, outputs=outputs, figures=figures)
        self._save_manifest()

    # -- stages -----------------------------------------------------------------------------

    def _practice(self) -> tuple[dict, dict, dict]:
        from adaswitch.learning.practice import annotate, practice_records
        from adaswitch.learning.records import write_jsonl

        samples = self._samples(self.s.offset, self.s.practice_questions)
        journal = self.work / "practice" / "trajectories.jsonl"
        with self._solver(self.s.local) as solver, self._bar(samples, journal, "practice") as bar:
            summary = annotate(solver, samples, journal, on_done=bar.update)
        records = practice_records(journal)
        records_path = self.work / "practice" / "records.jsonl"
        write_jsonl(records_path, records)
        figures = summary.as_dict() | {"records": len(records)}
        return self._slice(self.s.offset, samples), {"journal": str(journal), "records": str(records_path)}, figures

    def _practice_train(self) -> tuple[dict, dict, dict]:
        records = self.work / "practice" / "records.jsonl"
        return self._train(TRAIN_DIRS["practice-train"], self.s.local, records, f"{self.s.name}-practised", self.s.practice_epochs)

    def _exam(self) -> tuple[dict, dict, dict]:
        from adaswitch.learning.exam import (
            ExamSettings,
            exam_figures,
            exam_records,
            exam_results,
            labelled_steps,
            sit_exam,
        )
        from adaswitch.learning.records import write_jsonl

        start = self.s.offset + (0 if self.s.skip_practice else self.s.practice_questions)
        samples = self._samples(start, self.s.exam_questions)
        local = self.s.local if self.s.skip_practice else self._registered("practice-train")
        journal = self.work / "exam" / "journal.jsonl"
        settings = ExamSettings(max_corrections=self.s.max_corrections)
        with self._solver(local) as solver, self._bar(samples, journal, "exam") as bar:
            sit_exam(solver, samples, journal, settings, on_done=bar.update)
        by_id = {s.id: s for s in samples}
        records_path = self.work / "exam" / "records.jsonl"
        steps_path = self.work / "exam" / "labelled_steps.jsonl"
        records = exam_records(journal, by_id)
        write_jsonl(records_path, records)
        write_jsonl(steps_path, labelled_steps(journal))
        figures = exam_figures(exam_results(journal)) | {"records": len(records), "records_by_kind": _kinds(records)}
        inputs = self._slice(start, samples) | {"local": local}
        return inputs, {"journal": str(journal), "records": str(records_path), "labelled_steps": str(steps_path)}, figures

    def _reflect_train(self) -> tuple[dict, dict, dict]:
        records = self.work / "exam" / "records.jsonl"
        base = self.s.local if self.s.skip_practice else self.manifest["stages"]["practice-train"]["outputs"]["model_dir"]
        return self._train(TRAIN_DIRS["reflect-train"], base, records, f"{self.s.name}-reflected", self.s.reflect_epochs)

    def _probe(self) -> tuple[dict, dict, dict]:
        from adaswitch.learning.probe import fit_probe_on_steps
        from adaswitch.learning.records import read_labelled_steps

        steps_path = self.work / "exam" / "labelled_steps.jsonl"
        steps = read_labelled_steps(steps_path)
        outputs, figures = {}, {}
        for which in self.s.probe_for:
            model_spec = self._model_for(which)
            with self._solver(model_spec, cloud=False) as solver:
                probe = fit_probe_on_steps(solver.local, steps, progress=self.progress is not None)
            path = self.work / "probe" / f"{which}.probe.json"
            probe.save(path)
            outputs[which] = str(path)
            figures[which] = probe.figures
        return {"labelled_steps": str(steps_path), "models": list(self.s.probe_for)}, outputs, figures

    # -- helpers ----------------------------------------------------------------------------

    def _train(self, directory: str, base: str, records: Path, register_as: str, epochs: float) -> tuple[dict, dict, dict]:
        from adaswitch.learning.export import export_gguf
        from adaswitch.learning.finetune import finetune
        from adaswitch.learning.finetune_settings import FinetuneSettings
        from adaswitch.trained_models import register_trained_model

        out_dir = self.work / directory
        settings = FinetuneSettings(
            method=self.s.method, epochs=epochs, learning_rate=self.s.learning_rate,
            max_steps=self.s.max_train_steps if self.s.max_train_steps > 0 else None,  # -1: the epochs decide
            lora_r=self.s.lora_r, lora_alpha=2 * self.s.lora_r, batch_size=self.s.batch_size,
            max_length=self.s.max_length, bf16=self.s.bf16, checkpoint_every=self.s.checkpoint_every,
            threads=self.s.train_threads,
        )
        train_dir = out_dir / "train"  # a killed training resumes from its latest checkpoint there
        if (train_dir / "finetune.json").exists():  # trained before the export failed or the run was killed
            result = json.loads((train_dir / "finetune.json").read_text(encoding="utf-8"))
        else:
            result = finetune(base, records, train_dir, settings, progress=self.progress is not None,
                              stop_by=self.stop_training_by).to_json()
        gguf = export_gguf(result["model_dir"], out_dir / "model.gguf", quant=self.s.quant)
        registered = register_trained_model(register_as, gguf, {
            "base": str(base), "stage": directory, "records": str(records), "quant": self.s.quant,
            "settings": asdict(settings), "pipeline": str(self.work),
        }, replace=True)
        figures = {k: v for k, v in result.items() if k in ("steps", "losses", "seconds", "total_seconds",
                                                             "peak_rss_mb", "counts", "device", "seconds_per_step",
                                                             "median_step_seconds", "bf16", "resumed_at")}
        outputs = {"model_dir": str(result["model_dir"]), "gguf": str(registered), "registered_as": register_as}
        return {"base": str(base), "records": str(records)}, outputs, figures

    def _registered(self, stage: str) -> str:
        return self.manifest["stages"][stage]["outputs"]["registered_as"]

    def _model_for(self, which: str) -> str:
        if which == "base":
            return self.s.local
        stage = {"practised": "practice-train", "reflected": "reflect-train"}.get(which)
        if stage is None:
            raise ValueError(f"unknown probe model {which!r}; expected base, practised or reflected")
        return self._registered(stage)

    def _samples(self, offset: int, limit: int) -> list[Sample]:
        return get_benchmark(self.s.benchmark).load(self.s.split, limit=limit, offset=offset)

    def _slice(self, offset: int, samples: list[Sample]) -> dict[str, Any]:
        return {"benchmark": self.s.benchmark, "split": self.s.split, "offset": offset, "questions": len(samples)}

    def _solver(self, local: str, cloud: bool = True) -> Solver:
        from adaswitch.solver import EndpointSettings, Solver, SolverSettings

        return Solver(SolverSettings(
            local=local, cloud=self.s.cloud if cloud else None, mode="local", max_steps=self.s.max_steps,
            local_endpoint=EndpointSettings(n_ctx=self.s.n_ctx),
            cloud_endpoint=EndpointSettings(n_ctx=self.s.n_ctx, base_url=self.s.cloud_base_url,
                                            api_key=self.s.cloud_api_key),
        ))

    def _bar(self, samples: list[Sample], journal: Path, label: str) -> AbstractContextManager[Any]:
        from contextlib import nullcontext

        from adaswitch.learning.journal import Journal

        if self.progress is None:
            return nullcontext(_NoBar())
        done = len(Journal(journal).done_ids() & {s.id for s in samples})
        bar = self.progress(len(samples), label)
        bar.update(done)
        return _Closing(bar)

    def _load_manifest(self) -> dict[str, Any]:
        path = self.work / MANIFEST
        settings = self.s.manifest_settings()
        if path.exists():
            manifest = json.loads(path.read_text(encoding="utf-8"))
            old = manifest.get("settings", {})
            done = [stage for stage, entry in manifest.get("stages", {}).items() if entry.get("status") == "done"]
            keys = {k for stage in done for k in stage_settings(stage, bool(old.get("skip_practice")))}
            changed = sorted(k for k in keys if old.get(k) != settings.get(k))
            if changed:
                raise PipelineMismatch(
                    f"{self.work} holds a pipeline run with other settings ({', '.join(changed)}); "
                    "use another work directory")
            manifest["settings"] = settings
            return manifest
        return {"version": 1, "created_at": _now(), "settings": settings, "stages": {}}

    def _save_manifest(self) -> None:
        write_json(self.work / MANIFEST, self.manifest)


def pipeline_status(work_dir: Path) -> list[dict[str, Any]]:
    """Where a pipeline run stands, read from its files (it may be running): for each recorded stage
    its status, time and error; for a stage recorded as running, whether its process is still
    alive (when run on this host); for an unfinished training stage, its latest checkpoint's step,
    the step count, the last training loss, the recent pace and the time left."""
    from adaswitch.jsonfile import read_json
    from adaswitch.learning.checkpoints import (
        CHECKPOINTS,
        latest_checkpoint,
        timer_attributes,
    )

    path = Path(work_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{work_dir} holds no pipeline run (no {MANIFEST})")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for stage in STAGES:
        entry = manifest.get("stages", {}).get(stage)
        if entry is None:
            continue
        row = {"stage": stage, "status": entry.get("status"), "seconds": entry.get("seconds"),
               "error": entry.get("error")}
        if entry.get("status") == "running" and entry.get("pid") and entry.get("host") == socket.gethostname():
            row["alive"] = _process_alive(int(entry["pid"]))
        if stage in TRAIN_DIRS and entry.get("status") != "done":
            checkpoint = latest_checkpoint(Path(work_dir) / TRAIN_DIRS[stage] / "train" / CHECKPOINTS)
            # None also when a newer checkpoint replaced this one since it was listed
            state = read_json(checkpoint / "trainer_state.json") if checkpoint is not None else None
            if state is not None:
                losses = [e["loss"] for e in state.get("log_history", []) if "loss" in e]
                row["checkpoint"] = {"path": str(checkpoint), "step": state.get("global_step"),
                                     "max_steps": state.get("max_steps"), "loss": losses[-1] if losses else None,
                                     **_time_left(timer_attributes(state), state)}
        rows.append(row)
    return rows


def _time_left(timer: dict[str, Any], state: dict[str, Any], recent: int = 10) -> dict[str, float]:
    """The median of the last ``recent`` step times a checkpoint records (``timer``: its step
    timer's state) and the training time left at that pace (empty without step times)."""
    seconds = list(timer.get("step_seconds", []))[-recent:]
    step, max_steps = state.get("global_step"), state.get("max_steps")
    if not seconds or step is None or max_steps is None:
        return {}
    median = statistics.median(seconds)
    return {"step_seconds": median, "seconds_left": median * max(int(max_steps) - int(step), 0)}


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class _NoBar:
    def update(self, n: int = 1) -> None: ...


class _Closing:
    def __init__(self, bar: Any):
        self.bar = bar

    def __enter__(self) -> Any:
        return self.bar

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


def _kinds(records: list[SFTRecord]) -> dict[str, int]:
    return dict(Counter(r.kind for r in records))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
