"""Measures of a run, as pure functions of its records (METHOD.md section 4).

Quality (accuracy and its standard error, QA F1, extraction rate); cost per agent (calls, tokens,
time, FLOPs = 2 x parameters x processed tokens, money from a price table) and the cloud's share of
it; switching; introspection quality (AUROC of the local agent's probability of error against the
rule labels of :mod:`adaswitch.grading.rules`). Then cost-quality curves (APGR, the cloud share
needed for 50% and 80% of the local-to-cloud gap), the query-level baselines computed offline
from a local-only and a cloud-only run (the cascade and the oracle) or a switching run and a
cloud-only run (question-level escalation), and paired differences in
accuracy between two runs on the same questions.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, computed_field

from adaswitch.benchmarks.base import Sample
from adaswitch.escalation import should_escalate, trajectory_risk
from adaswitch.grading.records import EvalRecord, RunConfig
from adaswitch.grading.rules import (
    Judgment,
    StepLabel,
    is_placeholder,
    label_steps,
    local_judgments,
    up_to_first_error,
)
from adaswitch.trace import Agent, Trace
from adaswitch.usage import Usage

ShareAxis = Literal["tokens", "flops", "steps"]

# ---------------------------------------------------------------- prices


class Price(BaseModel):
    """USD per million prompt (input) and completion (output) tokens."""

    usd_per_million_input: float
    usd_per_million_output: float


def load_prices(path: Path | None = None) -> dict[str, Price]:
    """The price table in ``path`` (JSON: model name -> Price), or the packaged illustrative one."""
    if path is None:
        text = resources.files("adaswitch").joinpath("data/prices.json").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"price table {path or 'prices.json'}: expected a JSON object of model names")
    return {name: Price.model_validate(entry) for name, entry in data.items() if not name.startswith("_")}


def price_of(prices: Mapping[str, Price], model: str | None) -> Price | None:
    """The price of ``model``, also under its name without an ``openai:``/``llama:`` prefix."""
    if not model:
        return None
    if model in prices:
        return prices[model]
    kind, _, name = model.partition(":")
    return prices.get(name) if kind in ("openai", "llama") and name else None


@dataclass(frozen=True)
class Costing:
    """What the two agents are, for FLOPs and money."""

    local_model: str | None = None
    cloud_model: str | None = None
    local_parameters: int | None = None
    cloud_parameters: int | None = None
    prices: Mapping[str, Price] = field(default_factory=dict)

    @classmethod
    def of(cls, local: RunConfig | None, cloud: RunConfig | None = None,
           prices: Mapping[str, Price] | None = None) -> "Costing":
        """The local agent from ``local``, the cloud agent from ``cloud`` (default: ``local`` too)."""
        cloud = cloud or local
        return cls(
            local_model=local.local_model if local else None,
            cloud_model=cloud.cloud_model if cloud else None,
            local_parameters=local.local_parameters if local else None,
            cloud_parameters=cloud.cloud_parameters if cloud else None,
            prices=prices if prices is not None else {},
        )

    def model(self, agent: Agent) -> str | None:
        return self.local_model if agent == "local" else self.cloud_model

    def parameters(self, agent: Agent) -> int | None:
        return self.local_parameters if agent == "local" else self.cloud_parameters


# ---------------------------------------------------------------- summaries


class AgentCost(BaseModel):
    """What one agent spent over a run."""

    model: str | None = None
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    recomputed_prompt_tokens: int = 0
    wall_s: float = 0.0
    """Sum of the agent's call latencies."""
    steps: int = 0
    """Committed steps the agent wrote."""
    flops: float | None = None
    usd: float | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def processed_tokens(self) -> int:
        return self.recomputed_prompt_tokens + self.completion_tokens


class RunSummary(BaseModel):
    """One row of the comparison: a run, or a baseline composed from two runs."""

    label: str
    method: str
    benchmark: str
    threshold: float | None = None
    n: int = 0
    n_planned: int | None = None
    errors: int = 0
    accuracy: float | None = None
    accuracy_se: float | None = None
    mean_f1: float | None = None
    extraction_rate: float | None = None
    local: AgentCost = Field(default_factory=AgentCost)
    cloud: AgentCost = Field(default_factory=AgentCost)
    cloud_share_tokens: float | None = None
    cloud_share_flops: float | None = None
    cloud_share_steps: float | None = None
    steps: int = 0
    switched_steps: int = 0
    switch_rate: float | None = None
    auroc: float | None = None
    auroc_n: int = 0
    """Labelled local proposals behind the AUROC (questions, for the cascade), forced ones included."""
    auroc_wrong: int = 0
    auroc_forced: int = 0
    """Labelled proposals whose p = 1 the engine forced (unreadable action, failing tool, repeated call;
    see :attr:`adaswitch.grading.rules.Judgment.forced`): all wrong, and no credit to any signal."""
    auroc_signal: float | None = None
    """AUROC over the steps whose probability came from the signal itself: the forced steps are left
    out, since the rules label those wrong too and they would flatter any signal."""
    auroc_signal_n: int = 0
    auroc_position: float | None = None
    """AUROC of the step's position alone on the proposals of :attr:`auroc_signal`: what a signal that
    knows only how far into its trajectory a step is would score (a small model that goes wrong early
    and then loops makes later steps wrong, so position alone can score high)."""
    auroc_first: float | None = None
    """AUROC over each trajectory's proposals up to and including its first wrong one (the decisions
    at which switching to the cloud could still keep the trajectory right), forced steps left out."""
    auroc_first_n: int = 0
    """The signal's own proposals behind :attr:`auroc_first`."""
    auroc_first_forced: int = 0
    """Forced proposals up to the first error, left out of :attr:`auroc_first` (each is a first error)."""
    auroc_first_position: float | None = None
    """The position baseline on the proposals of :attr:`auroc_first`."""
    auroc_first_interval: tuple[float, float] | None = None
    """95% interval of :attr:`auroc_first`, resampling whole trajectories (see :func:`auroc_interval`)."""
    auroc_within_wrong: float | None = None
    """AUROC over the signal's own proposals of the trajectories that end wrong only (which step went
    wrong, not whether the question will), each trajectory weighing one in all: a step of a trajectory
    with k such proposals weighs 1/k, so a long loop counts as much as a short slip."""
    auroc_within_wrong_n: int = 0
    auroc_within_wrong_trajectories: int = 0
    auroc_within_wrong_position: float | None = None
    """The position baseline on the proposals and weights of :attr:`auroc_within_wrong`."""
    auroc_within_wrong_interval: tuple[float, float] | None = None
    """95% interval of :attr:`auroc_within_wrong`, resampling whole trajectories."""
    cloud_replaced_judged: int = 0
    """Cloud steps that replaced a local proposal the rules could judge."""
    cloud_replaced_wrong: int = 0
    cloud_on_wrong_share: float | None = None
    """Share of those cloud steps whose replaced local proposal was wrong."""
    usd: float | None = None
    wall_time_s: float = 0.0
    note: str = ""
    correct: dict[str, bool] = Field(default_factory=dict, exclude=True)
    """Each question's outcome by sample id, for paired comparisons (left out of dumps)."""

    def share(self, axis: ShareAxis) -> float | None:
        return {"tokens": self.cloud_share_tokens, "flops": self.cloud_share_flops,
                "steps": self.cloud_share_steps}[axis]


def summarize_run(
    config: RunConfig,
    records: Sequence[EvalRecord],
    samples: Mapping[str, Sample] | None = None,
    prices: Mapping[str, Price] | None = None,
) -> RunSummary:
    """Everything :class:`RunSummary` holds, for one run. ``samples`` (by id) supply gold values and
    gold titles for the step rules; without them only the any-task rules can label steps."""
    costing = Costing.of(config, prices=prices if prices is not None else load_prices())
    labels = [run_labels(r, samples) for r in records]
    return RunSummary(
        label=config.label, method=config.method, benchmark=config.benchmark, threshold=config.threshold,
        n_planned=len(config.sample_ids) or None,
        **_quality(records), **_cost([(r.trace, None) for r in records], costing),
        **introspection_figures(labels, [r.score.correct for r in records]),
    )


def run_labels(record: EvalRecord, samples: Mapping[str, Sample] | None = None) -> list[StepLabel]:
    """The rule labels of one record's steps (see :func:`adaswitch.grading.rules.label_steps`)."""
    return label_steps(record.trace, sample_for(record, samples), record.score.correct)


def sample_for(record: EvalRecord, samples: Mapping[str, Sample] | None = None) -> Sample:
    """The record's sample, or a stand-in with only the gold answer when it is not available."""
    if samples and record.sample_id in samples:
        return samples[record.sample_id]
    family = record.trace.family if record.trace.family in ("math", "qa") else "math"
    return Sample(id=record.sample_id, benchmark=record.benchmark, family=family,  # type: ignore[arg-type]
                  question=record.trace.question, answer=record.gold)


def _quality(records: Sequence[EvalRecord]) -> dict:
    n = len(records)
    if n == 0:
        return {"n": 0}
    p = sum(r.score.correct for r in records) / n
    f1s = [r.score.f1 for r in records if r.score.f1 is not None]
    return {
        "n": n,
        "errors": sum(r.error is not None or r.trace.status == "error" for r in records),
        "accuracy": p,
        "accuracy_se": standard_error(p, n),
        "mean_f1": sum(f1s) / len(f1s) if f1s else None,
        "extraction_rate": sum(r.extraction.ok for r in records) / n,
        "correct": question_outcomes(records),
    }


def question_outcomes(records: Iterable[EvalRecord]) -> dict[str, bool]:
    """Whether each question was answered right, by sample id."""
    return {r.sample_id: r.score.correct for r in records}


def standard_error(p: float, n: int) -> float | None:
    """Binomial standard error of an accuracy ``p`` over ``n`` questions."""
    return math.sqrt(p * (1 - p) / n) if n > 0 else None


def _cost(spent: Iterable[tuple[Trace, Usage | None]], costing: Costing) -> dict:
    """Per-agent cost and the cloud's shares of the work in ``spent`` (a trace, plus extra local usage)."""
    usage: dict[Agent, Usage] = {"local": Usage(), "cloud": Usage()}
    steps: dict[Agent, int] = {"local": 0, "cloud": 0}
    switched = 0
    for trace, extra in spent:
        for agent in ("local", "cloud"):
            usage[agent] = usage[agent] + trace.usage_of(agent)
        if extra is not None:
            usage["local"] = usage["local"] + extra
        for step in trace.paid_steps:
            if not is_placeholder(step):
                steps[step.author] += 1
                switched += step.switched
    agents = {agent: _agent_cost(agent, usage[agent], steps[agent], costing) for agent in ("local", "cloud")}
    local, cloud = agents["local"], agents["cloud"]
    flops_known = all(a.flops is not None for a in agents.values())
    money = [a.usd for a in agents.values()]
    total_steps = steps["local"] + steps["cloud"]
    return {
        "local": local,
        "cloud": cloud,
        "cloud_share_tokens": _share(cloud.processed_tokens, local.processed_tokens),
        "cloud_share_flops": _share(cloud.flops or 0.0, local.flops or 0.0) if flops_known else None,
        "cloud_share_steps": _share(steps["cloud"], steps["local"]),
        "steps": total_steps,
        "switched_steps": switched,
        "switch_rate": switched / total_steps if total_steps else None,
        "usd": sum(money) if None not in money else None,  # type: ignore[arg-type]
        # model time, not the run's wall clock: a call served from the response cache counts
        # with the latency it had when it was made, like its tokens
        "wall_time_s": usage["local"].latency_s + usage["cloud"].latency_s,
    }


def _agent_cost(agent: Agent, usage: Usage, steps: int, costing: Costing) -> AgentCost:
    """An agent that made no call costs zero; one with unknown parameters or price costs None."""
    model, parameters = costing.model(agent), costing.parameters(agent)
    price = price_of(costing.prices, model)
    usd = None
    if price is not None:
        usd = (usage.prompt_tokens * price.usd_per_million_input
               + usage.completion_tokens * price.usd_per_million_output) / 1e6
    idle = 0.0 if usage.calls == 0 else None
    return AgentCost(
        model=model,
        calls=usage.calls,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        recomputed_prompt_tokens=usage.recomputed_prompt_tokens,
        wall_s=usage.latency_s,
        steps=steps,
        flops=flops(parameters, usage) if parameters else idle,
        usd=usd if usd is not None else idle,
    )


def flops(parameters: int, usage: Usage) -> float:
    """Estimated FLOPs: 2 x parameters x (recomputed prompt tokens + completion tokens)."""
    return 2.0 * parameters * usage.processed_tokens


def _share(cloud: float, local: float) -> float | None:
    total = cloud + local
    return cloud / total if total > 0 else None


def introspection_figures(labels: Sequence[Sequence[StepLabel]], ends_right: Sequence[bool]) -> dict:
    """The AUROC figures of a run: ``labels`` per trajectory, ``ends_right`` whether each ended right.

    Every figure but ``auroc`` leaves out the forced steps, and each position baseline is scored on
    exactly the steps (and weights) of the figure it stands beside.
    """
    known = [[j for j in local_judgments(steps) if j.verdict != "unknown"] for steps in labels]
    every = _flatten(known)
    first = [up_to_first_error(js) for js in known]
    signal, signal_first = _signal_only(known), _signal_only(first)
    signal_wrong = _signal_only([js for js, right in zip(known, ends_right, strict=True) if not right])
    return {
        "auroc": _auroc_of(every), "auroc_n": len(every), "auroc_wrong": sum(_wrong(every)),
        "auroc_forced": sum(j.forced for j in every),
        **_signal_figures("auroc_signal", signal),
        "auroc_position": _auroc_of(_flatten(signal), by_position=True),
        **_signal_figures("auroc_first", signal_first, interval=True),
        "auroc_first_forced": sum(j.forced for j in _flatten(first)),
        "auroc_first_position": _auroc_of(_flatten(signal_first), by_position=True),
        **_signal_figures("auroc_within_wrong", signal_wrong, interval=True, weighted=True),
        "auroc_within_wrong_trajectories": sum(bool(js) for js in signal_wrong),
        "auroc_within_wrong_position": _auroc_of(_flatten(signal_wrong), _trajectory_weights(signal_wrong),
                                                 by_position=True),
        **_replaced_figures(labels),
    }


def _signal_only(groups: Sequence[Sequence[Judgment]]) -> list[list[Judgment]]:
    return [[j for j in js if not j.forced] for js in groups]


def _flatten(groups: Sequence[Sequence[Judgment]]) -> list[Judgment]:
    return [j for js in groups for j in js]


def _wrong(judgments: Sequence[Judgment]) -> list[bool]:
    return [j.verdict == "wrong" for j in judgments]


def _trajectory_weights(groups: Sequence[Sequence[Judgment]]) -> list[float]:
    """1/k for each judgment of a group of k: every group weighs one in all."""
    return [1.0 / len(js) for js in groups for _ in js]


def _auroc_of(judgments: Sequence[Judgment], weights: Sequence[float] | None = None,
              by_position: bool = False) -> float | None:
    scores = [float(j.position) if by_position else j.p_error for j in judgments]
    return auroc(scores, _wrong(judgments), weights)


def _signal_figures(name: str, groups: Sequence[Sequence[Judgment]], interval: bool = False,
                    weighted: bool = False) -> dict:
    """``name`` (the AUROC of the judgments in ``groups``), ``name_n`` and, if asked, ``name_interval``."""
    judgments = _flatten(groups)
    out: dict = {name: _auroc_of(judgments, _trajectory_weights(groups) if weighted else None),
                 f"{name}_n": len(judgments)}
    if interval:
        out[f"{name}_interval"] = auroc_interval([[(j.p_error, j.verdict == "wrong") for j in js] for js in groups],
                                                 weighted=weighted)
    return out


def _replaced_figures(labels: Sequence[Sequence[StepLabel]]) -> dict:
    """How often a cloud step replaced a local proposal the rules call wrong."""
    judged = bad = 0
    for steps in labels:
        for step in steps:
            if step.author == "cloud" and step.switched and step.replaced:
                verdict = step.replaced[0].label
                judged += verdict != "unknown"
                bad += verdict == "wrong"
    return {"cloud_replaced_judged": judged, "cloud_replaced_wrong": bad,
            "cloud_on_wrong_share": bad / judged if judged else None}


def auroc(scores: Sequence[float], positives: Sequence[bool],
          weights: Sequence[float] | None = None) -> float | None:
    """Area under the ROC curve of ``scores`` for the ``positives``; ties count one half.

    The Mann-Whitney statistic: the share of (positive, negative) pairs the scores order right. With
    ``weights`` a pair counts with the product of its two weights (what scikit-learn's
    ``roc_auc_score`` computes with ``sample_weight``; this runs inside bootstraps, so it is done here
    in a few array operations). None when a class has no weight.
    """
    s = np.asarray(scores, dtype=float)
    y = np.asarray(positives, dtype=bool)
    w = np.ones(len(s)) if weights is None else np.asarray(weights, dtype=float)
    total_pos, total_neg = float(w[y].sum()), float(w[~y].sum())
    if total_pos <= 0 or total_neg <= 0:
        return None
    values, group = np.unique(s, return_inverse=True)
    pos = np.bincount(group.ravel(), weights=np.where(y, w, 0.0), minlength=len(values))
    neg = np.bincount(group.ravel(), weights=np.where(y, 0.0, w), minlength=len(values))
    neg_below = np.cumsum(neg) - neg
    return float((pos * (neg_below + 0.5 * neg)).sum() / (total_pos * total_neg))


def auroc_interval(
    groups: Sequence[Sequence[tuple[float, bool]]], level: float = 0.95, draws: int = 1000, seed: int = 0,
    weighted: bool = False,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the AUROC of (score, positive) pairs that come in groups.

    Whole groups (a trajectory's steps, which are not independent of each other) are drawn with
    replacement, ``draws`` times with a fixed ``seed``, so the interval is reproducible. ``weighted``:
    each pair of a group of k weighs 1/k, so every drawn group weighs one. None when the AUROC itself
    is undefined or fewer than two groups hold any pair.
    """
    groups = [g for g in groups if g]
    if len(groups) < 2 or _group_auroc(groups, weighted) is None:
        return None
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(draws):
        value = _group_auroc([groups[i] for i in rng.integers(0, len(groups), len(groups))], weighted)
        if value is not None:
            values.append(value)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


def _group_auroc(groups: Sequence[Sequence[tuple[float, bool]]], weighted: bool) -> float | None:
    pairs = [pair for g in groups for pair in g]
    weights = [1.0 / len(g) for g in groups for _ in g] if weighted else None
    return auroc([s for s, _ in pairs], [y for _, y in pairs], weights)


# ---------------------------------------------------------------- curves


class CurveSummary(BaseModel):
    """A method's cost-quality curve over a threshold sweep, with its standard figures.

    ``points`` are the measured (cloud share, accuracy) points sorted by share, the best accuracy kept
    where two share one share, with (0, local accuracy) and (1, cloud accuracy) added. Each point's
    performance gap recovered, (accuracy - local) / (cloud - local), is clipped to [0, 1] (a point
    above the cloud recovers the whole gap and no more). ``hull`` is the upper concave hull of the
    clipped points, in accuracy: randomising question by question between two operating points reaches
    any mix of them, so every point under a chord between two measured points is attainable, and a
    dominated point does not pull the curve down. APGR is the area under the hull's recovered gap over
    shares 0..1 (exact, the hull being piecewise linear); it is None when the cloud is not better than
    the local agent. ``share_for_50``/``_80``: the smallest share at which the hull recovers 50%/80% of
    the gap, None without a gap.
    """

    points: list[tuple[float, float]]
    hull: list[tuple[float, float]]
    apgr: float | None = None
    share_for_50: float | None = None
    share_for_80: float | None = None


def curve_metrics(points: Iterable[tuple[float, float]], local_acc: float, cloud_acc: float) -> CurveSummary:
    """APGR and the 50%/80% cloud shares of the curve through ``points`` (see :class:`CurveSummary`)."""
    curve = _curve_points(points, local_acc, cloud_acc)
    gap = cloud_acc - local_acc
    if gap <= 0:
        return CurveSummary(points=curve, hull=upper_concave_hull(curve))
    hull = upper_concave_hull([(x, min(max(y, local_acc), cloud_acc)) for x, y in curve])
    pgr = [(x, (y - local_acc) / gap) for x, y in hull]
    area = sum((x1 - x0) * (g0 + g1) / 2 for (x0, g0), (x1, g1) in zip(pgr, pgr[1:]))
    return CurveSummary(points=curve, hull=hull, apgr=area,
                        share_for_50=_share_reaching(pgr, 0.5), share_for_80=_share_reaching(pgr, 0.8))


def _curve_points(points: Iterable[tuple[float, float]], local_acc: float,
                  cloud_acc: float) -> list[tuple[float, float]]:
    """The measured points with shares clamped to [0, 1] and the two endpoints, best accuracy per share."""
    best: dict[float, float] = {0.0: local_acc, 1.0: cloud_acc}
    for x, y in points:
        x = min(max(float(x), 0.0), 1.0)
        best[x] = max(float(y), best.get(x, float("-inf")))
    return sorted(best.items())


def upper_concave_hull(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """The vertices of the upper concave hull of ``points`` (distinct x), from left to right.

    Andrew's monotone chain: a point is dropped when it lies on or below the chord between its
    neighbours on the hull.
    """
    hull: list[tuple[float, float]] = []
    for point in sorted(points):
        while len(hull) >= 2 and _turns_left_or_straight(hull[-2], hull[-1], point):
            hull.pop()
        hull.append(point)
    return hull


def _turns_left_or_straight(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> bool:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]) >= 0


def _share_reaching(pgr: Sequence[tuple[float, float]], target: float) -> float | None:
    """The smallest share at which the piecewise-linear non-decreasing ``pgr`` reaches ``target``."""
    for i, (x, g) in enumerate(pgr):
        if g >= target:
            if i == 0:
                return x
            x0, g0 = pgr[i - 1]
            return x0 + (target - g0) / (g - g0) * (x - x0)
    return None


# ---------------------------------------------------------------- paired comparisons


class PairedDifference(BaseModel):
    """The difference in accuracy of one run over a reference run on the questions both answered."""

    label: str = ""
    reference: str = ""
    n: int
    """Questions both runs answered."""
    difference: float
    """Accuracy of ``label`` minus accuracy of ``reference``, on those questions."""
    interval: tuple[float, float]
    """Percentile bootstrap interval of the difference, resampling questions (see :func:`paired_difference`)."""
    level: float = 0.95
    gained: int = 0
    """Questions this run answered right and the reference wrong."""
    lost: int = 0
    """Questions this run answered wrong and the reference right."""

    @property
    def includes_zero(self) -> bool:
        """True when the interval does not rule out that the two runs are equally accurate."""
        return self.interval[0] <= 0.0 <= self.interval[1]

    @property
    def questions_to_exclude_zero(self) -> int | None:
        """How many questions would bring the interval's half-width below the difference, if the
        difference and the rate of disagreements held (the width shrinks as one over the square root
        of the questions): a figure for planning the next run, not a test. None for no difference."""
        if self.difference == 0.0:
            return None
        half_width = (self.interval[1] - self.interval[0]) / 2.0
        return max(1, math.ceil(self.n * (half_width / abs(self.difference)) ** 2))


def paired_difference(
    outcomes: Mapping[str, bool], reference: Mapping[str, bool], label: str = "", reference_label: str = "",
    level: float = 0.95, draws: int = 2000, seed: int = 0,
) -> PairedDifference | None:
    """Paired bootstrap of the accuracy of ``outcomes`` minus that of ``reference`` (both: sample id ->
    answered right, as :func:`question_outcomes` gives them), over the questions both hold.

    The same questions are drawn for both runs (with replacement, ``draws`` times, fixed ``seed``), so
    what the two have in common (easy and hard questions) cancels and only their disagreements vary.
    None when the runs share no question.
    """
    shared = [sample_id for sample_id in outcomes if sample_id in reference]
    if not shared:
        return None
    diffs = np.array([float(outcomes[i]) - float(reference[i]) for i in shared])
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, len(diffs), (draws, len(diffs)))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return PairedDifference(label=label, reference=reference_label, n=len(shared), difference=float(diffs.mean()),
                            interval=(float(low), float(high)), level=level,
                            gained=int((diffs > 0).sum()), lost=int((diffs < 0).sum()))


# ---------------------------------------------------------------- query-level baselines


def _pairs(local_records: Sequence[EvalRecord],
           cloud_records: Sequence[EvalRecord]) -> list[tuple[EvalRecord, EvalRecord]]:
    cloud = {r.sample_id: r for r in cloud_records}
    return [(r, cloud[r.sample_id]) for r in local_records if r.sample_id in cloud]


def cascade_points(
    local_records: Sequence[EvalRecord],
    cloud_records: Sequence[EvalRecord],
    thresholds: Iterable[float],
    costing: Costing | None = None,
) -> list[RunSummary]:
    """The query-level cascade at each threshold, on the questions both runs answered.

    The local answer stands unless its ``final_check_p`` exceeds the threshold; then the whole
    question goes to the cloud (its answer from the cloud-only run). Cost: all the local work,
    final checks included, plus the cloud run's work on the rejected questions. A local run that
    ended without an answer has nothing to check and is always rejected. The AUROC column is the
    final check's, at question level, against wrong local answers.
    """
    costing = costing or Costing()
    pairs = _pairs(local_records, cloud_records)
    checked = [(lr.final_check_p, not lr.score.correct) for lr, _ in pairs if lr.final_check_p is not None]
    check_auroc = auroc([p for p, _ in checked], [w for _, w in checked])
    out = []
    for t in thresholds:
        rejected = [lr.prediction is None or (lr.final_check_p is not None and lr.final_check_p > t)
                    for lr, _ in pairs]
        outcomes = [cr if rej else lr for (lr, cr), rej in zip(pairs, rejected)]
        spent = [(lr.trace, lr.final_check_usage) for lr, _ in pairs]
        spent += [(cr.trace, None) for (_, cr), rej in zip(pairs, rejected) if rej]
        out.append(RunSummary(
            label=f"cascade@{t:g}", method="cascade", benchmark=_benchmark(pairs), threshold=t,
            **_quality(outcomes), **_cost(spent, costing),
            auroc=check_auroc, auroc_n=len(checked), auroc_wrong=sum(w for _, w in checked),
            note=f"{sum(rejected)} of {len(pairs)} questions sent to the cloud",
        ))
    return out


def escalation_points(
    switch_records: Sequence[EvalRecord],
    cloud_records: Sequence[EvalRecord],
    thresholds: Iterable[float],
    costing: Costing | None = None,
    label: str = "adaswitch",
) -> list[RunSummary]:
    """A switching run with question-level escalation (:mod:`adaswitch.escalation`) at each threshold.

    A question whose trajectory ended without an answer or with a risk above the threshold takes the
    cloud-only run's answer, as ``--escalate-above`` would give it (the cloud solves it from the
    start, greedily); its switching trajectory is paid for all the same. The AUROC column is the
    risk's, at question level, against wrong answers of the answered switching trajectories (the
    counterpart of the cascade's final check).
    """
    costing = costing or Costing()
    pairs = _pairs(switch_records, cloud_records)
    judged = [(trajectory_risk(sr.trace), not sr.score.correct) for sr, _ in pairs if sr.trace.answer is not None]
    risk_auroc = auroc([r for r, _ in judged], [w for _, w in judged])
    out = []
    for t in thresholds:
        sent = [should_escalate(sr.trace, t) for sr, _ in pairs]
        outcomes = [cr if up else sr for (sr, cr), up in zip(pairs, sent)]
        spent = [(sr.trace, None) for sr, _ in pairs] + [(cr.trace, None) for (_, cr), up in zip(pairs, sent) if up]
        out.append(RunSummary(
            label=f"{label} + escalation@{t:.3g}", method="escalation", benchmark=_benchmark(pairs), threshold=t,
            **_quality(outcomes), **_cost(spent, costing),
            auroc=risk_auroc, auroc_n=len(judged), auroc_wrong=sum(w for _, w in judged),
            note=f"{sum(sent)} of {len(pairs)} questions escalated to the cloud",
        ))
    return out


def default_escalation_thresholds(switch_records: Sequence[EvalRecord],
                                  shares: Sequence[float] = (0.05, 0.1, 0.2, 0.3)) -> list[float]:
    """Risk thresholds that escalate about each share of the answered questions: just below the risk
    of the question ranked at that share (ties escalate together; questions without an answer
    escalate at any threshold), one threshold per distinct set escalated."""
    ordered = sorted((trajectory_risk(r.trace) for r in switch_records if r.trace.answer is not None), reverse=True)
    kept: dict[int, float] = {}
    for share in shares:
        last = ordered[min(max(1, round(share * len(ordered))), len(ordered)) - 1] if ordered else None
        below = [v for v in ordered if last is not None and v < last]
        if below:
            kept.setdefault(sum(v > below[0] for v in ordered), below[0])
    return sorted(kept.values())


def oracle_point(
    local_records: Sequence[EvalRecord], cloud_records: Sequence[EvalRecord], costing: Costing | None = None
) -> RunSummary:
    """The query-level oracle: the cloud answers exactly the questions the local agent got wrong.

    An oracle knows in advance, so it pays the local work only on the questions it leaves local.
    """
    pairs = _pairs(local_records, cloud_records)
    chosen = [lr if lr.score.correct else cr for lr, cr in pairs]
    sent = sum(not lr.score.correct for lr, _ in pairs)
    return RunSummary(
        label="oracle", method="oracle", benchmark=_benchmark(pairs),
        **_quality(chosen), **_cost([(r.trace, None) for r in chosen], costing or Costing()),
        note=f"{sent} of {len(pairs)} questions sent to the cloud",
    )


def default_cascade_thresholds(local_records: Sequence[EvalRecord], count: int = 9) -> list[float]:
    """Threshold 0 and the 10%..90% quantiles of the final checks, rounded, keeping one threshold per
    distinct set of rejected questions (two thresholds that reject the same questions are one point)."""
    values = [r.final_check_p for r in local_records if r.final_check_p is not None]
    if not values:
        return []
    qs = np.quantile(np.asarray(values, dtype=float), np.linspace(0.1, 0.9, count))
    kept: dict[int, float] = {}
    for t in sorted({0.0} | {round(float(q), 4) for q in qs}):  # 0: every question with a doubt goes
        kept.setdefault(sum(v > t for v in values), t)
    return sorted(kept.values())


def _benchmark(pairs: Sequence[tuple[EvalRecord, EvalRecord]]) -> str:
    return pairs[0][0].benchmark if pairs else ""
