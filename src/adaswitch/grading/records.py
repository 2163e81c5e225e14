"""The on-disk format of an evaluation run: a configuration and one JSON line per sample.

A run directory holds ``config.json`` (what was run, with which models and versions) and
``records.jsonl`` (one :class:`EvalRecord` per sample, appended as each finishes). Records carry
the whole trace, so a run can be re-scored, reported or turned into training data without running
a model again.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from adaswitch.scoring import Extraction, Score
from adaswitch.trace import Trace
from adaswitch.usage import Usage

RECORD_VERSION = 1
CONFIG_FILE = "config.json"
RECORDS_FILE = "records.jsonl"


class RunConfig(BaseModel):
    version: int = RECORD_VERSION
    benchmark: str
    split: str = "test"
    sample_ids: list[str] = Field(default_factory=list)
    """The slice, fixed when the run starts (so a resumed run covers exactly the same samples)."""
    method: str
    """``local``, ``cloud``, ``adaswitch``, ``self-reflection``, ``random`` or ``cot``."""
    threshold: float | None = None
    switch_rate: float | None = None
    cot_model: str | None = None
    """The chain-of-thought baseline's model: ``local`` or ``cloud`` (None for other methods)."""
    introspection: str | None = None
    probe: str | None = None
    """The probe file of ``introspection="probe"``."""
    probe_sha256: str | None = None
    """Its SHA-256: a resumed run refuses a changed probe."""
    local_model: str
    cloud_model: str | None = None
    local_identity: str | None = None
    """The local model's identity (its file's SHA-256 and settings): a resumed run refuses another model
    under the same name. None in runs recorded before identities."""
    cloud_identity: str | None = None
    local_parameters: int | None = None
    cloud_parameters: int | None = None
    solver: dict = Field(default_factory=dict)
    """The full solver settings (keys removed)."""
    versions: dict[str, str] = Field(default_factory=dict)
    created_at: str = ""
    machines: list[str] = Field(default_factory=list)
    """Every machine that solved some of the run's questions, in the order they started on it
    (:func:`adaswitch.evaluation.machine.describe_machine`); empty in runs recorded before."""

    @property
    def label(self) -> str:
        if self.method in ("adaswitch", "self-reflection") and self.threshold is not None:
            return f"{self.method}@{self.threshold:g}"
        if self.method == "random" and self.switch_rate is not None:
            return f"random@{self.switch_rate:g}"
        if self.method == "cot" and self.cot_model == "cloud":
            return "cot-cloud"
        return self.method


class EvalRecord(BaseModel):
    version: int = RECORD_VERSION
    sample_id: str
    benchmark: str
    gold: str
    prediction: str | None
    extraction: Extraction
    score: Score
    trace: Trace
    final_check_p: float | None = None
    """Local-only runs: the local agent's probability that its own final answer is wrong (for the
    query-level cascade baseline)."""
    final_check_usage: Usage | None = None
    """What the final self-check cost the local agent (added to the cascade's cost)."""
    error: str | None = None
