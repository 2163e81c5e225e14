"""Reading a run directory (``config.json`` + ``records.jsonl``) back, tolerating a killed writer."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from pydantic import ValidationError

from adaswitch.grading.records import CONFIG_FILE, RECORDS_FILE, EvalRecord, RunConfig

log = logging.getLogger(__name__)


class RunDirError(ValueError):
    """A run directory that cannot be read as one run (missing config, bad or repeated records)."""


def load_run(run_dir: Path) -> tuple[RunConfig, list[EvalRecord]]:
    """The run's configuration and records, in file order.

    A last line without its newline that does not parse is a record torn by a killed run and is
    skipped. Any other unreadable line, or two records for the same sample, is a :class:`RunDirError`.
    A run with no ``records.jsonl`` yet has no records.
    """
    run_dir = Path(run_dir)
    config_path = run_dir / CONFIG_FILE
    if not config_path.is_file():
        raise RunDirError(f"{run_dir} is not a run directory: no {CONFIG_FILE}")
    try:
        config = RunConfig.model_validate_json(config_path.read_text(encoding="utf-8"))
    except ValidationError as error:
        raise RunDirError(f"{config_path}: not a run configuration ({error.error_count()} errors)") from error
    records = read_records(run_dir / RECORDS_FILE)
    repeated = sorted(i for i, count in Counter(r.sample_id for r in records).items() if count > 1)
    if repeated:
        shown = ", ".join(repeated[:5]) + (" ..." if len(repeated) > 5 else "")
        raise RunDirError(f"{run_dir / RECORDS_FILE}: {len(repeated)} samples recorded more than once: {shown}")
    return config, records


def load_cloud_only_run(run_dir: Path, cloud_identity: str | None = None) -> tuple[RunConfig, list[EvalRecord]]:
    """A cloud-only run (the cascade's and the oracle's cloud side): a ``--mode cloud`` run as it is,
    or a local-only run of the cloud model read as one. The two solve with the same prompt, so their
    text is the same; the second has its steps and calls marked the local agent's, and here they are
    counted as the cloud's. ``cloud_identity``, when given, is the model (``RunConfig``'s identity
    string) the run must have used; any other run is a :class:`RunDirError`."""
    config, records = load_run(run_dir)
    if config.method not in ("cloud", "local"):
        raise RunDirError(f"{run_dir} is a {config.method!r} run, not a cloud-only or local-only one")
    used = config.cloud_identity if config.method == "cloud" else config.local_identity
    if cloud_identity is not None and used != cloud_identity:
        raise RunDirError(f"{run_dir} ran {used}, not the cloud model {cloud_identity}")
    if config.method == "cloud":
        return config, records
    return config, [_as_cloud(record) for record in records]


def _as_cloud(record: EvalRecord) -> EvalRecord:
    trace = record.trace
    steps = [step.model_copy(update={
        "author": "cloud", "calls": [call.model_copy(update={"agent": "cloud"}) for call in step.calls]})
        for step in trace.steps]
    return record.model_copy(update={"trace": trace.model_copy(update={
        "mode": "cloud", "cloud_model": trace.local_model, "steps": steps})})


def read_records(path: Path) -> list[EvalRecord]:
    """The records of a ``records.jsonl`` file, skipping a torn last line (see :func:`load_run`)."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    torn = lines[-1] if not text.endswith("\n") else ""
    body = lines[:-1]
    records = []
    for number, line in enumerate(body, 1):
        if not line.strip():
            continue
        try:
            records.append(EvalRecord.model_validate_json(line))
        except ValidationError as error:
            raise RunDirError(f"{path}:{number}: not a record ({error.error_count()} errors)") from error
    if torn.strip():
        try:
            records.append(EvalRecord.model_validate_json(torn))
        except ValidationError:
            log.warning("%s: skipping a torn last line (%d characters)", path, len(torn))
    return records
