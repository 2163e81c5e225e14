"""The headline of a comparison: per benchmark, every method on the same questions, with intervals.

:func:`benchmark_headline` reads the run directories of one benchmark (a local-only run, a cloud-only
run, which may be a local-only run of the cloud model, and any number of switching runs), composes the
query-level cascade and oracle from the first two, and states for every method its accuracy with a 95%
interval, the cloud's share of steps and of processed tokens, and the wall time its run took; then each
AdaSwitch run's paired difference from every other method at the nearest cloud share (same questions,
bootstrap over questions), each family's APGR, and which of the standard methods were not run.
:func:`markdown` renders it. Nothing here runs a model.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field

from adaswitch.grading.metrics import (
    AgentCost, RunSummary, cascade_points, curve_metrics, default_cascade_thresholds, default_escalation_thresholds,
    escalation_points, oracle_point, paired_difference, summarize_run,
)
from adaswitch.grading.records import EvalRecord, RunConfig
from adaswitch.grading.rundir import load_cloud_only_run, load_run

STANDARD_ADASWITCH_POINTS = 3
"""The standard comparison runs AdaSwitch at three thresholds (or budgets)."""
ESCALATED_SHARES = (0.1, 0.2)
"""Each AdaSwitch run is also shown with question-level escalation of about these shares of its questions."""
FAMILIES = ("adaswitch", "escalation", "random", "position", "self-reflection", "cascade", "step-oracle")
"""Methods that trace a curve of accuracy against cloud share (APGR on the share of steps)."""


class MethodRow(BaseModel):
    """One method on the benchmark's questions: a run, or a baseline composed from two runs."""

    label: str
    method: str
    """``local``, ``cloud``, ``adaswitch``, ``escalation`` (an AdaSwitch run with question-level
    escalation, composed with the cloud-only run), ``position``, ``random``, ``self-reflection``,
    ``cascade`` or ``oracle``."""
    run: str | None = None
    n: int
    accuracy: float
    interval: tuple[float, float]
    """95% Wilson score interval of the accuracy."""
    cloud_share_steps: float | None = None
    cloud_share_tokens: float | None = None
    cloud_spend_steps: float | None = None
    """The cloud's steps as a share of those the cloud alone writes on the same questions: the cloud
    bill against sending every question to the cloud. The cloud's share of the work counts the local
    work too, so a method that pays for local work it then throws away (a cascade pays for every local
    trajectory it rejects) looks cheaper there than its cloud bill is; here it does not."""
    cloud_spend_tokens: float | None = None
    """As :attr:`cloud_spend_steps`, in tokens the cloud processed (those it wrote and the prompt tokens
    it had to compute, as in the share of tokens)."""
    signal: str | None = None
    threshold: float | None = None
    cloud_budget: float | None = None
    switch_rate: float | None = None
    wall_time_s: float | None = None
    """Time the run's questions were being solved (the union of their solving intervals, so the pauses
    of a resumed run do not count); None for composed baselines, which cost no run of their own."""
    question_auroc: float | None = None
    """For the question-level baselines (``cascade``, ``escalation``): the AUROC of the score that sends
    a question to the cloud (the cascade's final check, the escalation's trajectory risk) against wrong
    answers of the trajectories it scores."""
    note: str = ""
    correct: dict[str, bool] = Field(default_factory=dict, exclude=True)


class PairedRow(BaseModel):
    """An AdaSwitch run's accuracy minus another method's, on the questions both answered."""

    label: str
    reference: str
    axis: str
    """Where the reference was chosen nearest: the cloud's share of the ``steps`` or the ``tokens``, or
    its spend against the cloud alone's, in steps (``spend``) or tokens (``spend tokens``)."""
    n: int
    difference: float
    interval: tuple[float, float]
    includes_zero: bool
    gained: int = 0
    """Questions the AdaSwitch run answered right and the reference wrong."""
    lost: int = 0
    questions_to_exclude_zero: int | None = None
    """Where the interval holds 0: the questions at which it would not, if the difference and the
    rate of disagreements held (:attr:`PairedDifference.questions_to_exclude_zero`)."""


class BenchmarkHeadline(BaseModel):
    benchmark: str
    n: int
    """Questions of the local-only run: the slice every method is compared on."""
    slice: str = ""
    local_model: str
    cloud_model: str
    step_format: str | None = None
    methods: list[MethodRow]
    paired: list[PairedRow] = Field(default_factory=list)
    apgr: dict[str, float | None] = Field(default_factory=dict)
    """Average performance-gap recovered over the share of steps, per family (upper concave hull)."""
    apgr_cloud_spend: dict[str, float | None] = Field(default_factory=dict)
    """The same over :attr:`MethodRow.cloud_spend_steps`, the cloud's steps against the cloud alone's."""
    apgr_cloud_spend_tokens: dict[str, float | None] = Field(default_factory=dict)
    """The same over :attr:`MethodRow.cloud_spend_tokens` (a point past the cloud alone's tokens counts
    at the cloud alone's)."""
    not_run: list[str] = Field(default_factory=list)
    """Methods of the standard comparison that no run here covers."""
    wall_time_s: float
    """The runs' wall time together."""
    notes: list[str] = Field(default_factory=list)


def wilson_interval(correct: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of ``correct`` successes in ``n`` trials (95% by default)."""
    if n == 0:
        return (0.0, 1.0)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def solving_time(records: Iterable[EvalRecord]) -> float | None:
    """Seconds during which at least one of the records' questions was being solved.

    Each trace says when it started and how long it took; the union of those intervals is the run's
    wall time whether its questions ran one at a time or many at once, and a run resumed the next day
    does not count the night. None when no trace says when it started."""
    spans = sorted((start, start + trace.wall_time_s) for trace in (r.trace for r in records)
                   if (start := _timestamp(trace.started_at)) is not None)
    total, end = 0.0, -math.inf
    for low, high in spans:
        if high > end:
            total += high - max(low, end)
            end = high
    return round(total, 1) if spans else None


def _timestamp(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp() if text else None
    except ValueError:
        return None


def benchmark_headline(local: Path, cloud: Path, switching: Sequence[Path] = (), slice_text: str = "") -> BenchmarkHeadline:
    """The headline of one benchmark from its local-only, cloud-only and switching runs."""
    local_config, local_records = load_run(local)
    configs = [load_run(Path(p)) for p in switching]
    cloud_identities = {c.cloud_identity for c, _ in configs} - {None}
    if len(cloud_identities) > 1:
        raise ValueError(f"the switching runs used different cloud models: {sorted(cloud_identities)}")
    cloud_config, cloud_records = load_cloud_only_run(cloud, next(iter(cloud_identities), None))
    notes = []
    if cloud_config.method == "local":
        notes.append(f"cloud: {cloud} is a local-only run of {cloud_config.local_model}, the cloud model, "
                     "read as the cloud-only run (the same prompt; its steps counted as the cloud's)")
    benchmark = local_config.benchmark
    for config in [cloud_config, *(c for c, _ in configs)]:
        if config.benchmark != benchmark:
            raise ValueError(f"a {config.benchmark} run among {benchmark} runs")
    questions = {r.sample_id for r in local_records}
    alone = _cloud_alone(cloud_config, cloud_records)
    rows = [_row(local_config, local_records, local, alone, "local"),
            _row(cloud_config, cloud_records, cloud, alone, "cloud")]
    switched = [(_row(config, records, Path(path), alone), records)
                for path, (config, records) in zip(switching, configs)]
    _tell_calibrations_apart([(row, config) for (row, _), (config, _) in zip(switched, configs)])
    rows += [row for row, _ in switched]
    for row in rows:
        missing = len(questions - set(row.correct))
        if missing:
            notes.append(f"{row.label}: {missing} of the {len(questions)} questions not answered (a run not finished?)")
    thresholds = default_cascade_thresholds(local_records)
    rows += [_composed(s, alone) for s in cascade_points(local_records, cloud_records, thresholds)]
    rows.append(_composed(oracle_point(local_records, cloud_records), alone))
    for row, records in switched:
        if row.method == "adaswitch":
            shares = default_escalation_thresholds(records, shares=ESCALATED_SHARES)
            points = escalation_points(records, cloud_records, shares, label=row.label)
            rows += [_composed(s, alone) for s in points]
    return BenchmarkHeadline(
        benchmark=benchmark, n=len(local_records), slice=slice_text or _slice(local_config),
        local_model=local_config.local_model, cloud_model=_cloud_name(cloud_config),
        step_format=local_config.solver.get("step_format"), methods=rows, paired=_paired(rows),
        apgr=_apgr(rows, "cloud_share_steps"), apgr_cloud_spend=_apgr(rows, "cloud_spend_steps"),
        apgr_cloud_spend_tokens=_apgr(rows, "cloud_spend_tokens"), not_run=_not_run(rows),
        wall_time_s=round(sum(r.wall_time_s or 0.0 for r in rows), 1), notes=notes)


def _tell_calibrations_apart(rows: Sequence[tuple[MethodRow, RunConfig]]) -> None:
    """Runs that share a label (the same signal and budget) but not a calibration file: name the
    file in each label, the package's own as "shipped calibration"."""
    count = Counter(row.label for row, _ in rows)
    for row, config in rows:
        path = str(config.solver.get("calibration_path") or "").replace("\\", "/")
        if count[row.label] > 1 and path:
            where = "shipped calibration" if "/data/signals/" in path else f"calibration {'/'.join(path.split('/')[-2:])}"
            row.label = f"{row.label} ({where})"


def _apgr(rows: Sequence[MethodRow], axis: str) -> dict[str, float | None]:
    """Each family's APGR over the cloud cost ``axis`` (a field of :class:`MethodRow`); the first two
    rows are the local and the cloud alone."""
    local_acc, cloud_acc = rows[0].accuracy, rows[1].accuracy
    apgr = {}
    for family in FAMILIES:
        points = [(getattr(r, axis), r.accuracy) for r in rows if r.method == family and getattr(r, axis) is not None]
        if points and cloud_acc > local_acc:
            apgr[family] = _round(curve_metrics(points, local_acc, cloud_acc).apgr)
    return apgr


def _cloud_alone(config: RunConfig, records: list[EvalRecord]) -> AgentCost:
    """What the cloud-only run's cloud agent spent (the reference of the cloud spend columns)."""
    return summarize_run(config, records).cloud


def _row(config: RunConfig, records: list[EvalRecord], run: Path, alone: AgentCost,
         method: str | None = None) -> MethodRow:
    summary = summarize_run(config, records)
    method = method or _family(config)
    budget = config.solver.get("cloud_budget")
    extras = [f"repair-back {config.solver['repair_back']}"] if config.solver.get("repair_back") else []
    extras += [f"escalation above {config.solver['escalate_above']:g}"] if config.solver.get("escalate_above") is not None else []
    extras += ["code run"] if config.solver.get("run_code") else []
    cap = config.solver.get("max_cloud_steps")
    extras += [f"at most {cap} cloud step{'s' if cap != 1 else ''} a question"] if cap is not None else []
    return MethodRow(
        label=_label(method, config, budget) + (f" ({', '.join(extras)})" if extras else ""), method=method,
        run=str(run), **_figures(summary, alone),
        signal=config.introspection if method in ("adaswitch", "escalation", "self-reflection") else None,
        threshold=_round(config.threshold), cloud_budget=budget, switch_rate=_round(summary.switch_rate),
        wall_time_s=solving_time(records), correct=summary.correct)


def _family(config: RunConfig) -> str:
    """The run's method, an AdaSwitch run told apart by its signal (position) or its escalation."""
    if config.method != "adaswitch":
        return config.method
    if config.introspection in ("position", "step-oracle"):
        return config.introspection
    return "escalation" if config.solver.get("escalate_above") is not None else "adaswitch"


def _label(method: str, config: RunConfig, budget: float | None) -> str:
    if method == "random":
        return f"random @{config.switch_rate:.3g}"
    if method in ("adaswitch", "escalation", "self-reflection", "position", "step-oracle"):
        at = f"budget {budget:g}" if budget is not None else f"τ {config.threshold:g}"
        name = "adaswitch" if method == "escalation" else method
        signal = f" {config.introspection}" if name == "adaswitch" and config.introspection else ""
        return f"{name}{signal}, {at}"
    return method


def _composed(summary: RunSummary, alone: AgentCost) -> MethodRow:
    question_auroc = _round(summary.auroc) if summary.method in ("cascade", "escalation") else None
    return MethodRow(label=summary.label, method=summary.method, **_figures(summary, alone),
                     threshold=summary.threshold, question_auroc=question_auroc, note=summary.note,
                     correct=summary.correct)


def _figures(summary: RunSummary, alone: AgentCost) -> dict:
    right = sum(summary.correct.values())
    return {"n": summary.n, "accuracy": _round(summary.accuracy or 0.0),
            "interval": tuple(_round(v) for v in wilson_interval(right, summary.n)),
            "cloud_share_steps": _round(summary.cloud_share_steps),
            "cloud_share_tokens": _round(summary.cloud_share_tokens),
            "cloud_spend_steps": _round(summary.cloud.steps / alone.steps) if alone.steps else None,
            "cloud_spend_tokens": (_round(summary.cloud.processed_tokens / alone.processed_tokens)
                                   if alone.processed_tokens else None)}


_REFERENCES = {
    "adaswitch": ("local", "cloud", "random", "position", "self-reflection", "cascade", "oracle"),
    "escalation": ("adaswitch", "cascade"),
    "step-oracle": ("local", "cloud", "adaswitch", "random"),
}


def _paired(rows: Sequence[MethodRow]) -> list[PairedRow]:
    """Each AdaSwitch row against local, cloud, and every other family's row nearest in cloud share of
    steps (the cascade also nearest in share of tokens and in cloud spend, steps and tokens: the axes
    of the cloud bill); each escalation row against the AdaSwitch and cascade rows nearest it; each
    step-oracle row (the gold rules as the signal: the ceiling of any signal) against local, cloud,
    and the AdaSwitch and random rows nearest it."""
    out = []
    for mine in (r for r in rows if r.method in _REFERENCES):
        for family in _REFERENCES[mine.method]:
            theirs = [r for r in rows if r.method == family]
            for axis in (("steps", "tokens", "spend", "spend tokens") if family == "cascade" else ("steps",)):
                near = _nearest(mine, theirs, axis)
                found = paired_difference(mine.correct, near.correct) if near else None
                if found is not None:
                    out.append(PairedRow(label=mine.label, reference=near.label, axis=axis, n=found.n,
                                         difference=_round(found.difference),
                                         interval=tuple(_round(v) for v in found.interval),
                                         includes_zero=found.includes_zero, gained=found.gained, lost=found.lost,
                                         questions_to_exclude_zero=found.questions_to_exclude_zero
                                         if found.includes_zero else None))
    return out


_AXES = {"steps": "cloud_share_steps", "tokens": "cloud_share_tokens", "spend": "cloud_spend_steps",
         "spend tokens": "cloud_spend_tokens"}


def _nearest(mine: MethodRow, theirs: Sequence[MethodRow], axis: str) -> MethodRow | None:
    key = _AXES[axis]
    placed = [r for r in theirs if getattr(r, key) is not None]
    if not placed or getattr(mine, key) is None:
        return theirs[0] if theirs else None
    return min(placed, key=lambda r: abs(getattr(r, key) - getattr(mine, key)))


def _not_run(rows: Sequence[MethodRow]) -> list[str]:
    methods = [r.method for r in rows]
    missing = []
    adaswitch = methods.count("adaswitch")
    if adaswitch < STANDARD_ADASWITCH_POINTS:
        missing.append(f"adaswitch at {STANDARD_ADASWITCH_POINTS - adaswitch} more threshold(s) or budget(s)")
    randoms = methods.count("random")
    if randoms < adaswitch:
        missing.append(f"random at {adaswitch - randoms} more AdaSwitch switch rate(s)")
    missing += [m for m in ("position", "self-reflection") if m not in methods]
    return missing


def _slice(config: RunConfig) -> str:
    ids = config.sample_ids
    return f"{config.split} {ids[0]} .. {ids[-1]} ({len(ids)})" if ids else config.split


def _cloud_name(config: RunConfig) -> str:
    return (config.cloud_model if config.method == "cloud" else config.local_model) or ""


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


# ---------------------------------------------------------------- rendering


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}%"


def _points(value: float) -> str:
    return f"{100 * value + 0.0:+.1f}".replace("+0.0", "0.0").replace("-0.0", "0.0")


def markdown(headline: BenchmarkHeadline, name: str | None = None) -> str:
    """One benchmark's tables: every method, then AdaSwitch's paired differences."""
    h = headline
    lines = [f"### {name or h.benchmark} ({h.slice}; n = {h.n}; local {h.local_model}, cloud {h.cloud_model}"
             + (f", {h.step_format}" if h.step_format else "") + ")", "",
             "| method | n | accuracy [95%] | cloud share of steps | of tokens | cloud spend: steps | tokens | wall time |",
             "|---|---|---|---|---|---|---|---|"]
    compared = {p.reference for p in h.paired}
    cascades = [r for r in h.methods if r.method == "cascade"]
    for r in h.methods:
        if r.method == "cascade" and r.label not in compared and r is not cascades[-1]:
            continue  # the cascade's other thresholds are in the JSON; shown: those compared, and its cheapest
        wall = f"{r.wall_time_s / 60:.0f} min" if r.wall_time_s else ""
        lines.append(f"| {r.label} | {r.n} | {_pct(r.accuracy)} [{_pct(r.interval[0])}, {_pct(r.interval[1])}] "
                     f"| {_pct(r.cloud_share_steps)} | {_pct(r.cloud_share_tokens)} | {_pct(r.cloud_spend_steps)} "
                     f"| {_pct(r.cloud_spend_tokens)} | {wall} |")
    if h.paired:
        lines += ["", "| AdaSwitch run | minus | at the nearest share of | n | gained / lost | difference (points) "
                      "| paired 95% | questions to exclude 0 |",
                  "|---|---|---|---|---|---|---|---|"]
        for p in h.paired:
            mark = "" if p.includes_zero else " (excludes 0)"
            needed = "" if p.questions_to_exclude_zero is None else f"about {p.questions_to_exclude_zero}"
            lines.append(f"| {p.label} | {p.reference} | {p.axis} | {p.n} | {p.gained} / {p.lost} "
                         f"| {_points(p.difference)} | [{_points(p.interval[0])}, {_points(p.interval[1])}]{mark} "
                         f"| {needed} |")
    extras = ["APGR (share of steps): " + ", ".join(f"{k} {v:.2f}" for k, v in h.apgr.items() if v is not None)]
    for unit, apgr in (("steps", h.apgr_cloud_spend), ("tokens", h.apgr_cloud_spend_tokens)):
        if apgr:
            extras.append(f"APGR (cloud spend, the cloud's {unit} against the cloud alone's): "
                          + ", ".join(f"{k} {v:.2f}" for k, v in apgr.items() if v is not None))
    scored = {}
    for r in h.methods:  # one figure per scored run: a family's rows share their score
        if r.question_auroc is not None:
            scorer = "the cascade's final check" if r.method == "cascade" else f"the risk of {r.label.split(' + ')[0]}"
            scored.setdefault(scorer, r.question_auroc)
    if scored:
        extras.append("AUROC against wrong answers of the score that sends a question to the cloud: "
                      + "; ".join(f"{k} {v:.2f}" for k, v in scored.items()) + ".")
    extras += [f"Wall time of the runs: {h.wall_time_s / 3600:.1f} h (a step the response cache already held, "
               "from an earlier run on the same questions, takes none)."]
    if h.not_run:
        extras.append("Not run yet: " + "; ".join(h.not_run) + ".")
    extras += h.notes
    return "\n".join(lines + [""] + [f"- {e}" for e in extras]) + "\n"
