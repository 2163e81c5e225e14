"""A threshold set by a cloud budget: the distribution of a signal's probabilities on a calibration slice.

``adaswitch calibrate`` reads run records in which every local proposal was judged (a ``local``
run with ``--judge-steps``: the local agent alone, each step judged, none switched) and stores the probability
of error of every judged proposal, with the signal and the local model they belong to. A budget
``b`` (the share of steps the cloud may write) then becomes the smallest threshold whose share of
proposals above it is at most ``b`` on that slice (:meth:`Calibration.threshold_for`). The share on
new questions differs (a switched step changes the steps after it; the slice is a sample), which is
why the evaluation reports the share achieved beside the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from adaswitch.jsonfile import load_json, save_json

CALIBRATION_VERSION = 1


class Calibration(BaseModel):
    version: int = CALIBRATION_VERSION
    introspection: str
    signal_file_sha256: str | None = None
    """SHA-256 of the probe or combiner file the probabilities came from, if any."""
    local_model: str
    local_identity: str | None = None
    p_errors: list[float] = Field(min_length=1)
    """The probability of error of every judged local proposal of the slice, sorted."""
    questions: int
    sources: list[str] = Field(default_factory=list)

    def share_above(self, threshold: float) -> float:
        """Share of the slice's proposals whose probability exceeds ``threshold`` (they would switch)."""
        p = np.asarray(self.p_errors)
        return float((p > threshold).mean())

    def threshold_for(self, budget: float) -> float:
        """The smallest threshold at which at most ``budget`` of the slice's proposals switch.

        Candidates are the observed probabilities (and 1, where nothing switches but forced steps,
        which switch at any threshold below 1)."""
        if not 0.0 <= budget <= 1.0:
            raise ValueError(f"a cloud budget is a share of steps in [0, 1], got {budget}")
        candidates = np.unique(np.append(np.asarray(self.p_errors), 0.0))
        for threshold in candidates:
            if self.share_above(float(threshold)) <= budget:
                return float(threshold)
        return 1.0

    def check_for(self, introspection: str, local_model: str) -> None:
        """Refuse a calibration of another signal or another local model."""
        if introspection != self.introspection:
            raise ValueError(f"the calibration is of signal {self.introspection!r}, not {introspection!r}")
        if local_model != self.local_model:
            raise ValueError(f"the calibration is of local model {self.local_model!r}, not {local_model!r}")

    def save(self, path: str | Path) -> Path:
        return save_json(path, self.model_dump())

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        data = load_json(path, "calibration file")
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise ValueError(f"{path} is not a calibration file: {str(error).splitlines()[0]}") from None


def calibration_from_runs(run_dirs: Sequence[str | Path]) -> Calibration:
    """The calibration of the judged local proposals in ``run_dirs`` (one signal, one local model)."""
    from adaswitch.grading.rundir import load_run

    p_errors: list[float] = []
    questions = 0
    signals, models, identities, files = set(), set(), set(), set()
    for run_dir in run_dirs:
        config, records = load_run(Path(run_dir))
        if config.introspection is None:
            raise ValueError(f"{run_dir}: the run judged no steps; calibrate on a local run with --judge-steps "
                             "(or an adaswitch run)")
        signals.add(config.introspection)
        models.add(config.local_model)
        identities.add(config.local_identity)
        files.add(config.probe_sha256)
        for record in records:
            questions += 1
            p_errors += [p for step in record.trace.steps for _, p in step.judged_local()]
    if len(signals) > 1 or len(models) > 1 or len(files) > 1:
        raise ValueError("the runs mix signals, signal files or local models; calibrate on one of each")
    if not p_errors:
        raise ValueError("the runs hold no judged local proposals")
    return Calibration(introspection=signals.pop(), signal_file_sha256=files.pop(), local_model=models.pop(),
                       local_identity=identities.pop() if len(identities) == 1 else None,
                       p_errors=sorted(p_errors), questions=questions, sources=[str(d) for d in run_dirs])
