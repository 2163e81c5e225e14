"""Resumable training: where checkpoints live, which one a run resumes from, and the Trainer
callbacks that carry step timings through checkpoints and turn a signal or a deadline into a last
checkpoint.

A run's checkpoints sit in ``OUT/checkpoints/checkpoint-STEP/`` (written by the Trainer) beside
``run.json``, the run's identity; a run resumes only from checkpoints of the same identity.
transformers is imported only when a callback is made.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adaswitch.jsonfile import read_json

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
"""The directory, inside a fine-tuning output directory, that holds its checkpoints."""
RUN_IDENTITY = "run.json"
_CHECKPOINT_NAME = re.compile(r"checkpoint-(\d+)")


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on a signal or at its time budget, after saving a checkpoint it can resume
    from (``budget``: stopped by the time budget)."""

    def __init__(self, message: str, *, budget: bool = False):
        super().__init__(message)
        self.budget = budget


class CheckpointMismatch(ValueError):
    """The output directory holds checkpoints of a training run with another base, data or settings."""


def latest_checkpoint(
    checkpoints: Path, identity: dict[str, Any] | None = None, *, remove_incomplete: bool = False
) -> Path | None:
    """The latest complete checkpoint under ``checkpoints`` (None when there is none).

    A checkpoint is complete once the Trainer has written its ``trainer_state.json``, the last of
    its files; ``remove_incomplete`` deletes the others (left by a run killed while saving; never
    ask for it while a run may be writing one). With ``identity``, the
    checkpoints must come from a run with that identity (:data:`RUN_IDENTITY`), else
    :class:`CheckpointMismatch`.
    """
    if not checkpoints.is_dir():
        return None
    complete: list[tuple[int, Path]] = []
    for path in checkpoints.iterdir():
        match = _CHECKPOINT_NAME.fullmatch(path.name)
        if not (match and path.is_dir()):
            continue
        if read_json(path / "trainer_state.json") is None:
            if remove_incomplete:
                log.warning("removing the incomplete checkpoint %s (the run stopped while saving it)", path)
                shutil.rmtree(path, ignore_errors=True)
            continue
        complete.append((int(match.group(1)), path))
    if not complete:
        return None
    if identity is not None:
        recorded = read_json(checkpoints / RUN_IDENTITY)
        if recorded != identity:
            differ = sorted(k for k in identity if (recorded or {}).get(k) != identity[k]) or ["the run record"]
            raise CheckpointMismatch(
                f"{checkpoints} holds checkpoints of another training run ({', '.join(differ)} differ); "
                "delete that directory, or pass overwrite, to start over")
    return max(complete)[1]


def step_timer(before: dict[str, Any]) -> Any:
    """A Trainer callback that keeps the wall time of every optimiser step in ``step_seconds`` and
    the training time in ``seconds()``, carried through checkpoints (``before``: what the
    checkpoint resumed from had; empty for a fresh run)."""
    from transformers import TrainerCallback
    from transformers.trainer_callback import ExportableState

    class StepTimer(TrainerCallback, ExportableState):
        def __init__(self) -> None:
            self.step_seconds: list[float] = list(before.get("step_seconds", []))
            self.resumed_at: list[int] = list(before.get("resumed_at", []))
            self._seconds_before = float(before.get("seconds", 0.0))
            self._train_begun: float | None = None
            self._begun = 0.0

        def seconds(self) -> float:
            running = 0.0 if self._train_begun is None else time.perf_counter() - self._train_begun
            return self._seconds_before + running

        def state(self) -> dict[str, Any]:
            return {"args": {}, "attributes": {
                "step_seconds": self.step_seconds, "resumed_at": self.resumed_at, "seconds": self.seconds()}}

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self._train_begun = time.perf_counter()

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self._begun = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.step_seconds.append(time.perf_counter() - self._begun)

    return StepTimer()


def training_stopper(stop_by: float | None = None, clock: Callable[[], float] = time.time) -> Any:
    """A Trainer callback that stops training with a checkpoint: on the first SIGINT or SIGTERM,
    after the step under way; with ``stop_by`` (a ``time.time()`` deadline), after the last step
    that ends before it at the pace of the step just done. ``stopped_at`` is that step, ``reason``
    says why, ``budget`` whether the deadline stopped it. A second signal goes to the handlers from
    before (outside the main thread, where handlers cannot be set, and for a signal the process was
    started ignoring, as a shell's background job ignores SIGINT, signals are left alone). It also
    skips the checkpoint the Trainer would save after the last step. ``clock`` tells the time."""
    import signal
    import threading

    from transformers import TrainerCallback

    class TrainingStopper(TrainerCallback):
        def __init__(self) -> None:
            self.requested: str | None = None
            self.reason = ""
            self.budget = False
            self.stopped_at: int | None = None
            self._previous: dict[int, Any] = {}
            self._step_begun = 0.0

        def _handle(self, signum: int, frame: Any) -> None:
            self.requested = signal.Signals(signum).name
            self.restore()
            log.warning("%s: stopping after this optimiser step, with a checkpoint; send it again to stop now",
                        self.requested)

        def restore(self) -> None:
            """Give the signals back to the handlers from before."""
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)
            self._previous = {}

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if threading.current_thread() is threading.main_thread():
                for signum in (signal.SIGINT, signal.SIGTERM):
                    if signal.getsignal(signum) is signal.SIG_IGN:
                        continue  # ignored by whoever started us (a background job, nohup): keep it so
                    self._previous[signum] = signal.signal(signum, self._handle)

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self._step_begun = clock()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            now = clock()
            if state.global_step >= state.max_steps:
                control.should_save = False  # the finished model is saved by finetune(), not as a checkpoint
                return
            if self.stopped_at is not None:
                return
            if self.requested:
                self.reason = f"by {self.requested}"
            elif stop_by is not None and now + (now - self._step_begun) > stop_by:
                self.reason, self.budget = "to keep within its time budget", True
            else:
                return
            self.stopped_at = int(state.global_step)
            control.should_save = True
            control.should_training_stop = True

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.restore()

    return TrainingStopper()


def timer_state(checkpoint: Path | None) -> dict[str, Any]:
    """What the step timer had when ``checkpoint`` was saved, plus the step it resumes at."""
    if checkpoint is None:
        return {}
    return timer_attributes(read_json(checkpoint / "trainer_state.json") or {})


def timer_attributes(state: dict[str, Any]) -> dict[str, Any]:
    """What the step timer had in a checkpoint's ``trainer_state.json`` (``state``, read), plus
    the step a run resumes at."""
    step = int(state.get("global_step", 0))
    attributes = dict(state.get("stateful_callbacks", {}).get("StepTimer", {}).get("attributes", {}))
    attributes["step_seconds"] = list(attributes.get("step_seconds", []))[:step]
    attributes["resumed_at"] = list(attributes.get("resumed_at", [])) + [step]
    return attributes


def run_identity(base_path: Path, examples: list[dict[str, list[int]]], settings: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint must share with a run that resumes from it: the base model's path, a
    digest of the tokenised examples and the settings that decide what is trained."""
    digest = hashlib.sha256(json.dumps(examples, separators=(",", ":")).encode()).hexdigest()
    return {"base": str(base_path), "examples": f"{len(examples)} examples, sha256 {digest}", **settings}
