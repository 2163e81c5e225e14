"""The comparison report: runs grouped by benchmark, one row per method, curves, and every question.

:func:`build_report` reads run directories, summarises each run, adds the query-level baselines
(cascade and oracle, when the group has a local-only and a cloud-only run), the cost-quality
curve figures and each row's paired difference in accuracy from a reference run on the same
questions. :func:`write_markdown` writes the tables; :func:`write_html` writes one
self-contained page with the tables, one SVG panel per benchmark and a collapsible per-question view.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from html import escape
from pathlib import Path

from pydantic import BaseModel, Field

from adaswitch.benchmarks.base import Sample
from adaswitch.grading.metrics import (
    Costing, CurveSummary, PairedDifference, Price, RunSummary, ShareAxis, cascade_points, curve_metrics,
    default_cascade_thresholds, load_prices, oracle_point, paired_difference, run_labels, summarize_run,
)
from adaswitch.grading.records import EvalRecord, RunConfig
from adaswitch.grading.rules import StepLabel
from adaswitch.grading.rundir import load_run
from adaswitch.evaluation.svg import Series, line_chart
from adaswitch.trace import StepRecord

_ORDER = ("local", "cloud", "adaswitch", "self-reflection", "random", "cascade", "oracle")
_CURVE_FAMILIES = ("adaswitch", "cascade", "random")
_AXIS_NAMES = {"tokens": "processed tokens", "flops": "FLOPs", "steps": "steps"}


class RunView(BaseModel):
    """One run with its records and step labels, for the per-question view."""

    label: str
    run_dir: str
    config: RunConfig
    records: list[EvalRecord]
    labels: list[list[StepLabel]]


class BenchmarkReport(BaseModel):
    benchmark: str
    rows: list[RunSummary]
    curves: dict[str, CurveSummary] = Field(default_factory=dict)
    reference: str | None = None
    """The label of the row every other row is paired with (see :attr:`paired`)."""
    paired: list[PairedDifference] = Field(default_factory=list)
    """Each other row's difference in accuracy from :attr:`reference`, on the same questions."""
    runs: list[RunView] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class Report(BaseModel):
    share_axis: ShareAxis = "tokens"
    benchmarks: list[BenchmarkReport]
    created_at: str = ""


def build_report(
    run_dirs: Sequence[Path],
    prices: Mapping[str, Price] | Path | None = None,
    share: ShareAxis = "tokens",
    load_samples: bool = True,
    reference: str = "local",
) -> Report:
    """Read ``run_dirs`` and build the report; curves use the cloud's share of ``share``.

    With ``load_samples`` the benchmark data is read for gold values and gold titles (the step
    rules need them); when it cannot be found only the any-task rules label steps, and a note says so.
    ``reference`` (a method or a row label) names the row each other row is paired with.
    """
    table = prices if isinstance(prices, Mapping) else load_prices(prices)
    groups: dict[str, list[tuple[Path, RunConfig, list[EvalRecord]]]] = {}
    for run_dir in run_dirs:
        config, records = load_run(Path(run_dir))
        groups.setdefault(config.benchmark, []).append((Path(run_dir), config, records))
    return Report(
        share_axis=share,
        benchmarks=[_benchmark_report(name, runs, table, share, load_samples, reference)
                    for name, runs in groups.items()],
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def _benchmark_report(name: str, runs: list[tuple[Path, RunConfig, list[EvalRecord]]], prices: Mapping[str, Price],
                      share: ShareAxis, load_samples: bool, reference: str) -> BenchmarkReport:
    notes: list[str] = []
    by_split: dict[str, dict[str, Sample] | None] = {}
    rows, views = [], []
    labels_seen: dict[str, int] = {}
    for run_dir, config, records in runs:
        if load_samples and config.split not in by_split:
            by_split[config.split] = _samples(name, config.split, notes)
        samples = by_split.get(config.split)
        missing = sum(r.sample_id not in samples for r in records) if samples is not None else 0
        if missing:
            notes.append(f"{config.label}: {missing} of {len(records)} questions are not in the {config.split} "
                         "data; their steps are labelled by the any-task rules only")
        row = summarize_run(config, records, samples, prices)
        labels_seen[row.label] = labels_seen.get(row.label, 0) + 1
        if labels_seen[row.label] > 1:
            row.label = f"{row.label} ({run_dir.name})"
        rows.append(row)
        views.append(RunView(label=row.label, run_dir=str(run_dir), config=config, records=records,
                             labels=[run_labels(r, samples) for r in records]))
    local = next(((c, r) for _, c, r in runs if c.method == "local"), None)
    cloud = next(((c, r) for _, c, r in runs if c.method == "cloud"), None)
    for method in ("local", "cloud"):
        dirs = [d.name for d, c, _ in runs if c.method == method]
        if len(dirs) > 1:
            notes.append(f"several {method}-only runs ({', '.join(dirs)}): baselines and curves use {dirs[0]}")
    if local and cloud:
        costing = Costing.of(local[0], cloud[0], prices)
        thresholds = default_cascade_thresholds(local[1])
        if not thresholds:
            notes.append("cascade: the local-only run has no final self-checks")
        rows += cascade_points(local[1], cloud[1], thresholds, costing)
        rows.append(oracle_point(local[1], cloud[1], costing))
    else:
        notes.append("cascade and oracle need a local-only and a cloud-only run of this benchmark")
    rows.sort(key=lambda r: (_ORDER.index(r.method) if r.method in _ORDER else len(_ORDER),
                             r.threshold if r.threshold is not None else -1.0, r.label))
    curves = _curves(rows, share, notes)
    base = _reference_row(rows, reference)
    if base is None:
        notes.append(f"no {reference} run: no paired differences")
    return BenchmarkReport(benchmark=name, rows=rows, curves=curves, runs=views, notes=notes,
                           reference=base.label if base else None, paired=_paired(rows, base) if base else [])


def _reference_row(rows: Sequence[RunSummary], reference: str) -> RunSummary | None:
    """The row labelled ``reference``, else the first row of that method."""
    by_label = next((r for r in rows if r.label == reference), None)
    return by_label or next((r for r in rows if r.method == reference), None)


def _paired(rows: Sequence[RunSummary], base: RunSummary) -> list[PairedDifference]:
    """Every row but ``base`` against ``base``, on the questions both answered."""
    out = []
    for row in rows:
        if row is not base:
            found = paired_difference(row.correct, base.correct, label=row.label, reference_label=base.label)
            if found is not None:
                out.append(found)
    return out


def _samples(benchmark: str, split: str, notes: list[str]) -> dict[str, Sample] | None:
    from adaswitch.benchmarks import get_benchmark

    try:
        return {s.id: s for s in get_benchmark(benchmark).load(split)}
    except (KeyError, ValueError, OSError) as error:
        notes.append(f"benchmark data not available ({error}); steps labelled by the any-task rules only")
        return None


def _curves(rows: list[RunSummary], share: ShareAxis, notes: list[str]) -> dict[str, CurveSummary]:
    local = next((r for r in rows if r.method == "local"), None)
    cloud = next((r for r in rows if r.method == "cloud"), None)
    if not (local and cloud and local.accuracy is not None and cloud.accuracy is not None):
        return {}
    curves = {}
    for family in _CURVE_FAMILIES:
        points = [(r.share(share), r.accuracy) for r in rows if r.method == family]
        points = [(x, y) for x, y in points if x is not None and y is not None]
        if points:
            curves[family] = curve_metrics(points, local.accuracy, cloud.accuracy)
    if cloud.accuracy <= local.accuracy:
        notes.append("the cloud-only run is not more accurate than the local-only run: no APGR")
    return curves


# ---------------------------------------------------------------- formatting


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def _num(value: float | None, fmt: str = ".3f") -> str:
    return "-" if value is None else format(value, fmt)


def _interval(bounds: tuple[float, float] | None) -> str:
    return "" if bounds is None else f"[{bounds[0]:.2f}, {bounds[1]:.2f}] "


def _cells(r: RunSummary) -> list[str]:
    acc = "-" if r.accuracy is None else f"{100 * r.accuracy:.1f} ± {100 * (r.accuracy_se or 0):.1f}"
    auroc = "-" if r.auroc is None else f"{r.auroc:.3f} ({r.auroc_n})"
    # the cascade's question-level AUROC has no steps, forced or not
    forced = f"{r.auroc_forced} / {r.auroc_first_forced}" if r.auroc_signal_n or r.auroc_forced else "-"
    signal = "-" if r.auroc_signal is None else f"{r.auroc_signal:.3f} ({r.auroc_signal_n})"
    first = "-"
    if r.auroc_first is not None:
        first = f"{r.auroc_first:.3f} {_interval(r.auroc_first_interval)}({r.auroc_first_n})"
    within = "-"
    if r.auroc_within_wrong is not None:
        within = (f"{r.auroc_within_wrong:.3f} {_interval(r.auroc_within_wrong_interval)}"
                  f"({r.auroc_within_wrong_trajectories})")
    positions = (r.auroc_position, r.auroc_first_position, r.auroc_within_wrong_position)
    position = "-" if all(p is None for p in positions) else " / ".join(_num(p, ".2f") for p in positions)
    on_wrong = "-"
    if r.cloud_on_wrong_share is not None:
        on_wrong = f"{_pct(r.cloud_on_wrong_share, 0)} of {r.cloud_replaced_judged}"
    return [r.label, str(r.n), acc, _num(r.mean_f1), _pct(r.cloud_share_tokens), _pct(r.cloud_share_flops),
            _pct(r.cloud_share_steps), _pct(r.switch_rate), auroc, forced, signal, first, within, position,
            on_wrong, _num(r.usd, ".4g"), f"{r.wall_time_s:.1f}"]


_HEADERS = ["method", "n", "accuracy % ± SE", "F1", "cloud share (tokens)", "cloud share (FLOPs)",
            "cloud share (steps)", "switch rate", "AUROC (n)", "forced steps: all / to 1st error",
            "AUROC, signal only (n)", "AUROC to 1st error, signal only (n)",
            "AUROC within wrong trajectories (trajectories)",
            "step position alone: signal only / to 1st error / within wrong", "cloud on wrong step", "USD",
            "model time s"]
_CURVE_HEADERS = ["family", "APGR", "cloud share for 50% of gap", "cloud share for 80% of gap"]


def _paired_headers(reference: str) -> list[str]:
    return [f"method vs {reference}", "questions", "difference (points)", "95% interval", "interval contains 0"]


def _paired_cells(d: PairedDifference) -> list[str]:
    low, high = d.interval
    return [d.label, str(d.n), f"{100 * d.difference:+.1f}", f"[{100 * low:+.1f}, {100 * high:+.1f}]",
            "yes" if d.includes_zero else "no"]


def _curve_cells(family: str, c: CurveSummary) -> list[str]:
    return [family, _num(c.apgr), _pct(c.share_for_50), _pct(c.share_for_80)]


def markdown(report: Report) -> str:
    """The report's tables as Markdown."""

    def table(headers: list[str], rows: list[list[str]]) -> list[str]:
        clean = [[cell.replace("|", "\\|") for cell in row] for row in rows]
        return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers),
                *("| " + " | ".join(row) + " |" for row in clean)]

    lines = ["# AdaSwitch evaluation report", "",
             f"Curves: accuracy against the cloud's share of {_AXIS_NAMES[report.share_axis]}. "
             "AUROC: the local agent's probability of error against rule-labelled step errors "
             "(cascade rows: the final self-check against wrong local answers); 'AUROC (n)' counts every "
             "judged step, 'signal only' leaves out the steps forced to probability 1 (unreadable action, "
             "failing tool, repeated call), counted apart under 'forced steps'; "
             "'to 1st error' keeps each trajectory's steps up to its first wrong one, the decisions where "
             "switching can still help (in brackets: its 95% interval, resampling whole trajectories); "
             "'within wrong trajectories' asks which step of a trajectory that ends wrong went wrong, each "
             "trajectory weighing one; 'step position alone' is the AUROC of a step's index in its "
             "trajectory on the same steps, what any signal that rises along a trajectory gets for free. "
             "APGR: area under the upper concave hull of the curve's gap recovered, each point clipped to "
             "[0, 1]. Paired differences: accuracy minus the reference's on the same questions, with a 95% "
             "bootstrap interval over questions; 'interval contains 0' marks a difference these questions "
             "do not establish. "
             "Prices may be illustrative (see the price table's note).", ""]
    for bench in report.benchmarks:
        lines += [f"## {bench.benchmark}", "", *table(_HEADERS, [_cells(r) for r in bench.rows]), ""]
        if bench.curves:
            lines += [*table(_CURVE_HEADERS, [_curve_cells(f, c) for f, c in bench.curves.items()]), ""]
        if bench.paired and bench.reference:
            lines += [*table(_paired_headers(bench.reference), [_paired_cells(d) for d in bench.paired]), ""]
        lines += [f"- {note}" for note in bench.notes] + ([""] if bench.notes else [])
    return "\n".join(lines)


def write_markdown(report: Report, path: Path) -> None:
    Path(path).write_text(markdown(report), encoding="utf-8")


# ---------------------------------------------------------------- HTML

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.chart text{font:11px sans-serif;fill:#333}.chart .title{font-size:13px;font-weight:600}
.chart .grid{stroke:#eee}.chart .axis{stroke:#333}.chart .frame{fill:none;stroke:#333}
.panels{display:flex;flex-wrap:wrap;gap:1em}details{margin:.2em 0 .2em 1em}summary{cursor:pointer}
.ok{color:#1a7f37}.bad{color:#c62828}pre{white-space:pre-wrap;background:#f7f7f7;padding:4px 6px;margin:2px 0}
.step{border-left:3px solid #1f77b4;padding-left:8px;margin:6px 0}.step.cloud{border-color:#d62728}
.meta{color:#555;font-size:12px}.replaced{margin-left:1.5em;opacity:.85}.fault{color:#c62828}
"""


def _html_table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _chart(bench: BenchmarkReport, share: ShareAxis) -> str:
    series = []
    for family in ("local", "cloud", "adaswitch", "self-reflection", "random", "cascade", "oracle"):
        points = [(r.share(share), r.accuracy) for r in bench.rows if r.method == family]
        points = [(x, y) for x, y in points if x is not None and y is not None]
        if family in bench.curves:  # the sweep with the local and cloud endpoints
            points = bench.curves[family].points
        if points:
            series.append(Series(family, points, connect=family in _CURVE_FAMILIES))
    return line_chart(series, title=bench.benchmark, x_label=f"cloud share of {_AXIS_NAMES[share]}",
                      y_label="accuracy")


def _label_text(label: StepLabel | None) -> str:
    return "" if label is None else f"rule: {label.label} ({label.rule})"


def _step_html(step: StepRecord, label: StepLabel | None) -> str:
    p = "-" if step.p_error is None else f"{step.p_error:.3f}"
    meta = [f"step {step.index}", step.author, f"p(error)={p}"]
    if step.switched:
        meta.append("switched")
    if label is not None:
        meta.append(_label_text(label))
    parts = [f'<div class="step {escape(step.author)}"><div class="meta">{escape(" · ".join(meta))}</div>',
             f"<pre>{escape(step.text)}</pre>"]
    if step.observation:
        parts.append(f"<pre>Observation: {escape(step.observation)}</pre>")
    for k, proposal in enumerate(step.replaced):
        p_label = label.replaced[k] if label is not None and k < len(label.replaced) else None
        pp = "-" if proposal.p_error is None else f"{proposal.p_error:.3f}"
        info = f"replaced {proposal.author} proposal · p(error)={pp}"
        if p_label is not None:
            info += f" · rule: {p_label.label} ({p_label.rule})"
        parts.append(f'<div class="replaced"><div class="meta">{escape(info)}</div><pre>{escape(proposal.text)}</pre>'
                     + (f"<pre>Observation: {escape(proposal.observation)}</pre>" if proposal.observation else "")
                     + "</div>")
    for fault in step.faults:
        parts.append(f'<div class="fault">fault: {escape(fault.agent)} {escape(fault.kind)} (attempt {fault.attempt}, '
                     f"{escape(fault.outcome)}): {escape(fault.message)}</div>")
    return "".join(parts) + "</div>"


def _question_html(record: EvalRecord, labels: list[StepLabel]) -> str:
    ok = record.score.correct
    mark = '<span class="ok">✓</span>' if ok else '<span class="bad">✗</span>'
    question = record.trace.question
    short = question if len(question) <= 110 else question[:107] + "..."
    trace = record.trace
    facts = [f"gold: {record.gold}", f"prediction: {record.prediction}",
             f"extraction: {record.extraction.method}{'' if record.extraction.ok else ' (failed)'}",
             f"correct: {'yes' if ok else 'no'}", f"status: {trace.status}"]
    if record.score.f1 is not None:
        facts.append(f"F1: {record.score.f1:.3f}")
    if record.final_check_p is not None:
        facts.append(f"final check p(wrong): {record.final_check_p:.3f}")
    if record.error or trace.error:
        facts.append(f"error: {record.error or trace.error}")
    steps = "".join(_step_html(s, labels[i] if i < len(labels) else None) for i, s in enumerate(trace.steps))
    return (f"<details><summary>{mark} {escape(record.sample_id)}: {escape(short)}</summary>"
            f"<pre>{escape(question)}</pre><div class=\"meta\">{escape(' · '.join(facts))}</div>{steps}</details>")


def _run_html(view: RunView) -> str:
    n = len(view.records)
    right = sum(r.score.correct for r in view.records)
    questions = "".join(_question_html(r, ls) for r, ls in zip(view.records, view.labels))
    return (f"<details><summary>{escape(view.label)}: {right}/{n} right ({escape(view.run_dir)})</summary>"
            f"{questions}</details>")


def html(report: Report) -> str:
    """One self-contained HTML page: tables, inline SVG curves and the per-question view."""
    parts = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
             "<title>AdaSwitch evaluation report</title>", f"<style>{_CSS}</style></head><body>",
             "<h1>AdaSwitch evaluation report</h1>",
             f"<p>{escape(report.created_at)}. Curves: accuracy against the cloud's share of "
             f"{escape(_AXIS_NAMES[report.share_axis])}. AUROC: the local agent's probability of error against "
             "rule-labelled step errors (cascade rows: the final self-check against wrong local answers). "
             "Paired differences: accuracy minus the reference's on the same questions, with a 95% bootstrap "
             "interval over questions; 'interval contains 0' marks a difference these questions do not "
             "establish.</p>",
             '<div class="panels">', *(_chart(b, report.share_axis) for b in report.benchmarks), "</div>"]
    for bench in report.benchmarks:
        parts += [f"<h2>{escape(bench.benchmark)}</h2>", _html_table(_HEADERS, [_cells(r) for r in bench.rows])]
        if bench.curves:
            parts.append(_html_table(_CURVE_HEADERS, [_curve_cells(f, c) for f, c in bench.curves.items()]))
        if bench.paired and bench.reference:
            parts.append(_html_table(_paired_headers(bench.reference), [_paired_cells(d) for d in bench.paired]))
        parts += [f"<p class=\"meta\">{escape(note)}</p>" for note in bench.notes]
    parts.append("<h2>Questions</h2>")
    for bench in report.benchmarks:
        parts += [f"<h3>{escape(bench.benchmark)}</h3>", *(_run_html(v) for v in bench.runs)]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(report: Report, path: Path) -> None:
    Path(path).write_text(html(report), encoding="utf-8")
