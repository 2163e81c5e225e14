"""Run metrics: AUROC, curves (APGR, shares for 50%/80%), cascade and oracle, FLOPs and shares."""

from __future__ import annotations

import json
import math
from importlib import resources

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaswitch.actions import Action
from adaswitch.benchmarks.base import Sample
from adaswitch.grading.metrics import (
    Costing, Price, auroc, auroc_interval, cascade_points, curve_metrics, default_cascade_thresholds, load_prices,
    oracle_point, paired_difference, price_of, question_outcomes, summarize_run,
)
from adaswitch.grading.records import EvalRecord, RunConfig
from adaswitch.scoring import Extraction, Score
from adaswitch.trace import CallRecord, Proposal, StepRecord, Trace
from adaswitch.usage import Usage

# ---------------------------------------------------------------- AUROC


def test_auroc_known_values():
    assert auroc([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == 1.0
    assert auroc([0.9, 0.8, 0.2, 0.1], [False, False, True, True]) == 0.0
    assert auroc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == 0.75


def test_auroc_counts_ties_as_one_half():
    assert auroc([0.5, 0.5, 0.5], [True, False, False]) == 0.5
    # positives {0.5, 0.9}, negatives {0.5, 0.2}: 0.5 + 1 + 1 + 1 of 4 pairs
    assert auroc([0.5, 0.5, 0.2, 0.9], [True, False, False, True]) == 0.875


def test_auroc_is_none_with_one_class():
    assert auroc([0.2, 0.7], [True, True]) is None
    assert auroc([0.2, 0.7], [False, False]) is None
    assert auroc([], []) is None


@given(st.lists(st.tuples(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]), st.booleans()), min_size=2, max_size=30))
def test_auroc_equals_the_pairwise_probability(pairs):
    pos = [s for s, y in pairs if y]
    neg = [s for s, y in pairs if not y]
    got = auroc([s for s, _ in pairs], [y for _, y in pairs])
    if not pos or not neg:
        assert got is None
        return
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    assert got == pytest.approx(wins / (len(pos) * len(neg)))


# ---------------------------------------------------------------- curves


def test_curve_with_only_the_endpoints_is_the_diagonal():
    c = curve_metrics([], 0.4, 0.8)
    assert c.points == [(0.0, 0.4), (1.0, 0.8)]
    assert c.apgr == pytest.approx(0.5)
    assert c.share_for_50 == pytest.approx(0.5) and c.share_for_80 == pytest.approx(0.8)


def test_curve_reaching_the_cloud_early():
    c = curve_metrics([(0.2, 0.8)], 0.4, 0.8)
    assert c.apgr == pytest.approx(0.2 * 0.5 + 0.8 * 1.0)
    assert c.share_for_50 == pytest.approx(0.1) and c.share_for_80 == pytest.approx(0.16)


def test_curve_without_a_gap_has_no_apgr():
    c = curve_metrics([(0.5, 0.5)], 0.6, 0.6)
    assert c.apgr is None and c.share_for_50 is None and c.share_for_80 is None


# ---------------------------------------------------------------- records by hand


def call(agent: str, prompt: int, recomputed: int, completion: int, latency: float = 0.0) -> CallRecord:
    return CallRecord(agent=agent, purpose="step", prompt_tokens=prompt, recomputed_prompt_tokens=recomputed,
                      completion_tokens=completion, latency_s=latency)


def calc(index: int, author: str, value: str, calls: list[CallRecord], p: float | None = None, **kw) -> StepRecord:
    return StepRecord(index=index, author=author, text=f"Thought {index}: x\nAction {index}: calculate[{value}]",
                      action=Action(tool="calculate", argument=value), observation=value, calls=calls, p_error=p, **kw)


def finish(index: int, author: str, answer: str, calls: list[CallRecord], p: float | None = None) -> StepRecord:
    return StepRecord(index=index, author=author, text=f"Thought {index}: done\nAction {index}: finish[{answer}]",
                      action=Action(tool="finish", argument=answer), calls=calls, p_error=p)


def record(sample_id: str, steps: list[StepRecord], correct: bool, answer: str = "18", gold: str = "18",
           final_check_p: float | None = None, wall: float = 1.0, **kw) -> EvalRecord:
    trace = Trace(id=sample_id, question=f"question {sample_id}", family="math", mode="adaswitch",
                  local_model="loc", steps=steps, answer=answer, wall_time_s=wall)
    extraction = Extraction(answer=answer, ok=True, method="finish")
    return EvalRecord(sample_id=sample_id, benchmark="gsm8k", gold=gold, prediction=answer, extraction=extraction,
                      score=Score(correct=correct, value=float(correct), extraction=extraction), trace=trace,
                      final_check_p=final_check_p, **kw)


CONFIG = RunConfig(benchmark="gsm8k", method="adaswitch", threshold=0.5, local_model="loc", cloud_model="big",
                   local_parameters=1_000_000_000, cloud_parameters=10_000_000_000, sample_ids=["a", "b", "c", "d"])
PRICES = {"loc": Price(usd_per_million_input=1.0, usd_per_million_output=2.0),
          "big": Price(usd_per_million_input=10.0, usd_per_million_output=30.0)}


def test_flops_money_and_shares():
    steps = [calc(1, "local", "9", [call("local", 100, 40, 10, 0.5)]),
             calc(2, "cloud", "18", [call("local", 60, 10, 0, 0.1), call("cloud", 100, 100, 20, 2.0)], p=0.9,
                  switched=True)]
    s = summarize_run(CONFIG, [record("a", steps, True)], prices=PRICES)
    assert (s.local.calls, s.local.prompt_tokens, s.local.recomputed_prompt_tokens, s.local.completion_tokens) == (2, 160, 50, 10)
    assert s.local.processed_tokens == 60 and s.cloud.processed_tokens == 120
    assert s.local.flops == 2 * 1e9 * 60 and s.cloud.flops == 2 * 1e10 * 120
    assert s.cloud_share_flops == pytest.approx(2.4e12 / (2.4e12 + 1.2e11))
    assert s.cloud_share_tokens == pytest.approx(120 / 180)
    assert s.cloud_share_steps == 0.5 and s.switch_rate == 0.5 and s.switched_steps == 1
    assert s.local.usd == pytest.approx((160 * 1 + 10 * 2) / 1e6)
    assert s.cloud.usd == pytest.approx((100 * 10 + 20 * 30) / 1e6)
    assert s.usd == pytest.approx(s.local.usd + s.cloud.usd)
    assert s.local.wall_s == pytest.approx(0.6) and s.cloud.wall_s == pytest.approx(2.0)
    # model time sums the calls' own latencies (kept by cache hits), not the run's wall clock (1.0 here)
    assert s.wall_time_s == pytest.approx(2.6)
    assert s.local.steps == 1 and s.cloud.steps == 1


def test_unknown_parameters_or_prices_give_none_not_zero():
    config = CONFIG.model_copy(update={"cloud_parameters": None, "cloud_model": "unpriced"})
    steps = [calc(1, "cloud", "9", [call("cloud", 10, 10, 5)]), finish(2, "local", "18", [call("local", 10, 5, 2)])]
    s = summarize_run(config, [record("a", steps, True)], prices=PRICES)
    assert s.cloud.flops is None and s.cloud_share_flops is None and s.cloud.usd is None and s.usd is None
    assert s.local.flops is not None and s.cloud_share_tokens == pytest.approx(15 / 22)


def test_accuracy_standard_error_f1_and_extraction():
    records = [record(i, [finish(1, "local", "18", [])], ok) for i, ok in zip("abcd", [True, True, True, False])]
    records[3] = records[3].model_copy(update={"extraction": Extraction(answer=None, ok=False, method="empty")})
    s = summarize_run(CONFIG, records, prices=PRICES)
    assert s.n == 4 and s.n_planned == 4 and s.accuracy == 0.75
    assert s.accuracy_se == pytest.approx(math.sqrt(0.75 * 0.25 / 4))
    assert s.extraction_rate == 0.75 and s.mean_f1 is None
    assert s.cloud_share_tokens is None and s.usd == 0.0


def test_auroc_of_a_run_uses_the_replaced_local_proposals():
    janet = Sample(id="a", benchmark="gsm8k", family="math", question="q", answer="18", gold_values=["9", "18"])
    wrong_proposal = Proposal(author="local", text="Thought 1: x\nAction 1: calculate[13]",
                              action=Action(tool="calculate", argument="13"), observation="13", p_error=0.7)
    steps = [calc(1, "cloud", "9", [], p=0.7, switched=True, replaced=[wrong_proposal]),
             calc(2, "local", "27", [], p=0.6),
             calc(3, "local", "18", [], p=0.2),
             finish(4, "local", "27", [], p=0.4)]
    s = summarize_run(CONFIG, [record("a", steps, False, answer="27")], samples={"a": janet}, prices=PRICES)
    # local proposals: 0.7 wrong (replaced), 0.6 wrong (27 not gold), 0.2 right (18), 0.4 wrong (finish 27)
    assert s.auroc_n == 4 and s.auroc_wrong == 3 and s.auroc == 1.0
    assert s.cloud_replaced_judged == 1 and s.cloud_on_wrong_share == 1.0
    # without the sample's gold values only the finish can be judged: one class, no AUROC
    bare = summarize_run(CONFIG, [record("a", steps, False, answer="27")], prices=PRICES)
    assert bare.auroc is None and bare.auroc_n == 1 and bare.cloud_on_wrong_share is None


def test_position_baseline_and_auroc_up_to_the_first_error():
    def janet(i: str) -> Sample:
        return Sample(id=i, benchmark="gsm8k", family="math", question="q", answer="18", gold_values=["9", "18"])

    went_wrong = [calc(1, "local", "9", [], p=0.5), calc(2, "local", "13", [], p=0.2),
                  calc(3, "local", "27", [], p=0.9), finish(4, "local", "27", [], p=0.8)]
    went_right = [calc(1, "local", "9", [], p=0.1), calc(2, "local", "18", [], p=0.3), finish(3, "local", "18", [], p=0.4)]
    s = summarize_run(CONFIG, [record("a", went_wrong, False, answer="27"), record("b", went_right, True)],
                      samples={"a": janet("a"), "b": janet("b")}, prices=PRICES)
    # all: wrong {0.2, 0.9, 0.8} against right {0.5, 0.1, 0.3, 0.4} -> 9 of 12 pairs ordered
    assert s.auroc == 0.75 and s.auroc_n == 7
    # position: wrong at {1, 2, 3} against right at {0, 0, 1, 2} -> 10 of 12, ties one half
    assert s.auroc_position == pytest.approx(10 / 12)
    # up to the first error: "a" stops at its second step (0.2, wrong); "b" has none
    assert s.auroc_first_n == 5 and s.auroc_first == 0.25
    assert s.auroc_first_position == pytest.approx(2.5 / 4)
    low, high = s.auroc_first_interval
    assert 0.0 <= low <= s.auroc_first <= high <= 1.0


def test_the_auroc_interval_resamples_whole_trajectories():
    separated = [[(0.1, False), (0.9, True)]] * 20
    assert auroc_interval(separated) == (1.0, 1.0)
    # two kinds of trajectory, one ordered right and one wrong: the interval spans both outcomes
    mixed = [[(0.1, False), (0.9, True)]] * 10 + [[(0.9, False), (0.1, True)]] * 10
    low, high = auroc_interval(mixed)
    assert low < 0.5 < high and high - low > 0.2
    assert auroc_interval(mixed) == auroc_interval(mixed)  # seeded
    wider = auroc_interval(mixed[:4] + mixed[10:14])
    assert wider[1] - wider[0] > high - low  # fewer trajectories, wider interval


def test_the_auroc_interval_needs_two_groups_and_both_classes():
    assert auroc_interval([[(0.1, False), (0.9, True)]]) is None
    assert auroc_interval([[(0.1, True)], [(0.5, True)], []]) is None
    assert auroc_interval([]) is None


# ---------------------------------------------------------------- cascade and oracle

LOCAL_OK = [True, False, True, False]
CHECK = [0.1, 0.9, 0.6, 0.3]
CLOUD_OK = [True, True, False, False]


def baseline_runs():
    local = [record(i, [finish(1, "local", "x", [call("local", 10, 10, 10)])], ok, final_check_p=p,
                    final_check_usage=Usage(calls=1, prompt_tokens=5, recomputed_prompt_tokens=5))
             for i, ok, p in zip("abcd", LOCAL_OK, CHECK)]
    cloud = [record(i, [finish(1, "cloud", "x", [call("cloud", 10, 10, 30)])], ok) for i, ok in zip("abcd", CLOUD_OK)]
    return local, cloud


def test_cascade_keeps_the_local_answer_unless_the_check_rejects_it():
    local, cloud = baseline_runs()
    costing = Costing(local_model="loc", cloud_model="big", local_parameters=1, cloud_parameters=1, prices=PRICES)
    half, none_sent, all_sent = cascade_points(local, cloud, [0.5, 1.0, 0.0], costing)
    # rejected at 0.5: b (0.9) and c (0.6) -> a local right, b cloud right, c cloud wrong, d local wrong
    assert half.label == "cascade@0.5" and half.accuracy == 0.5 and half.n == 4
    # cost: every local trace and final check, plus the cloud traces of b and c
    assert half.local.processed_tokens == 4 * 20 + 4 * 5 and half.cloud.processed_tokens == 2 * 40
    assert half.local.calls == 8 and half.cloud.calls == 2
    assert half.cloud_share_tokens == pytest.approx(80 / 180) and half.cloud_share_steps == pytest.approx(2 / 6)
    assert none_sent.accuracy == 0.5 and none_sent.cloud_share_tokens == 0.0
    assert all_sent.accuracy == 0.5 and all_sent.cloud.calls == 4
    # the final check's AUROC: wrong local answers b (0.9), d (0.3) against right a (0.1), c (0.6)
    assert half.auroc == 0.75 and half.auroc_n == 4


def test_oracle_sends_exactly_the_wrong_local_questions():
    local, cloud = baseline_runs()
    oracle = oracle_point(local, cloud)
    assert oracle.accuracy == 0.75 and oracle.n == 4
    # an oracle pays the local work only where it keeps the local answer (a, c)
    assert oracle.local.processed_tokens == 2 * 20 and oracle.cloud.processed_tokens == 2 * 40
    assert "2 of 4" in oracle.note


def test_baselines_pair_questions_by_id():
    local, cloud = baseline_runs()
    assert oracle_point(local, cloud[:2]).n == 2
    assert cascade_points(local[2:], cloud, [0.5])[0].n == 2


def test_default_cascade_thresholds_are_quantiles_of_the_checks():
    local, _ = baseline_runs()
    thresholds = default_cascade_thresholds(local, count=3)
    assert thresholds == sorted(thresholds) and len(thresholds) == 4 and thresholds[0] == 0.0
    assert min(CHECK) <= thresholds[1] and thresholds[-1] <= max(CHECK)
    assert default_cascade_thresholds([]) == []
    # thresholds that reject the same questions collapse into one
    same = [record(i, [], True, final_check_p=p) for i, p in zip("abc", [0.2, 0.2, 0.9])]
    assert default_cascade_thresholds(same) == [0.0, 0.2]


# ---------------------------------------------------------------- prices


def test_packaged_prices_are_marked_illustrative(tmp_path):
    raw = json.loads(resources.files("adaswitch").joinpath("data/prices.json").read_text(encoding="utf-8"))
    assert "ILLUSTRATIVE" in raw["_note"]
    prices = load_prices()
    assert "qwen2.5-coder-0.5b" in prices and "_note" not in prices
    assert price_of(prices, "llama:qwen2.5-coder-1.5b") == prices["qwen2.5-coder-1.5b"]
    assert price_of(prices, "nobody") is None
    own = tmp_path / "p.json"
    own.write_text(json.dumps({"gpt-x": {"usd_per_million_input": 1, "usd_per_million_output": 4}}))
    assert price_of(load_prices(own), "openai:gpt-x").usd_per_million_output == 4


def test_cascade_always_escalates_a_local_run_without_an_answer():
    local, cloud = baseline_runs()
    local[3] = local[3].model_copy(update={"prediction": None, "final_check_p": None, "final_check_usage": None})
    (none_sent,) = cascade_points(local, cloud, [1.0])
    # at threshold 1 nothing is rejected by the check, but d had no answer: it goes to the cloud
    assert none_sent.cloud.calls == 1 and "1 of 4" in none_sent.note


def test_signal_only_auroc_leaves_out_forced_steps():
    calc = StepRecord(index=1, author="local", text="Thought 1: x\nAction 1: calculate[9 * 2]",
                      action=Action(tool="calculate", argument="9 * 2"), observation="18", p_error=0.3)
    broken = StepRecord(index=1, author="local", text="Thought 1: hmm", action=None, parse_error="no action found",
                        tool_ok=False, observation="Invalid step", p_error=1.0)
    right = record("a", [calc, finish(2, "local", "18", [], p=0.2)], True)
    wrong = record("b", [broken, finish(2, "local", "5", [], p=0.25)], False, answer="5")
    s = summarize_run(CONFIG, [right, wrong])
    # all judged steps: wrong {1.0, 0.25} against right {0.3, 0.2} -> 3 of 4 pairs ordered
    assert s.auroc == 0.75 and s.auroc_n == 4
    # the signal alone: wrong {0.25} against right {0.3, 0.2} -> 1 of 2
    assert s.auroc_signal == 0.5 and s.auroc_signal_n == 3


# ---------------------------------------------------------------- forced steps and wrong trajectories


def janet_sample(sample_id: str) -> Sample:
    return Sample(id=sample_id, benchmark="gsm8k", family="math", question="q", answer="18", gold_values=["9", "18"])


def step_computing(index: int, expression: str, value: str, p: float) -> StepRecord:
    """A local calculation whose argument and result differ (so two of them are not a repeated call)."""
    return StepRecord(index=index, author="local", text=f"Thought {index}: x\nAction {index}: calculate[{expression}]",
                      action=Action(tool="calculate", argument=expression), observation=value, p_error=p)


def unreadable(index: int) -> StepRecord:
    return StepRecord(index=index, author="local", text=f"Thought {index}: hmm", action=None,
                      parse_error="no action found", tool_ok=False, observation="Invalid step", p_error=1.0)


def summary_of(*records: EvalRecord):
    return summarize_run(CONFIG, list(records), samples={r.sample_id: janet_sample(r.sample_id) for r in records},
                         prices=PRICES)


def base_trajectories() -> list[EvalRecord]:
    went_wrong = [step_computing(1, "16 - 7", "9", 0.5), step_computing(2, "9 + 4", "13", 0.2),
                  step_computing(3, "13 * 2", "26", 0.9), finish(4, "local", "26", [], p=0.8)]
    went_right = [step_computing(1, "16 - 7", "9", 0.1), step_computing(2, "9 * 2", "18", 0.3),
                  finish(3, "local", "18", [], p=0.4)]
    return [record("a", went_wrong, False, answer="26"), record("b", went_right, True)]


def test_forced_steps_leave_the_signal_and_position_aurocs_alone_and_are_counted_apart():
    base = summary_of(*base_trajectories())
    # a trajectory whose only step was unreadable: the engine forced p = 1, the rules call it wrong
    forced = record("c", [unreadable(1)], False, answer="")
    with_forced = summary_of(*base_trajectories(), forced)
    for name in ("auroc_signal", "auroc_signal_n", "auroc_position", "auroc_first", "auroc_first_n",
                 "auroc_first_position", "auroc_first_interval"):
        assert getattr(with_forced, name) == getattr(base, name), name
    assert base.auroc_forced == 0 and base.auroc_first_forced == 0
    assert with_forced.auroc_forced == 1 and with_forced.auroc_first_forced == 1
    # the all-steps figure keeps them, and its count says so
    assert with_forced.auroc_n == base.auroc_n + 1


def test_a_forced_first_error_is_not_credited_to_the_signal_up_to_the_first_error():
    # the signal ranks nothing (every own probability 0.5); only the forced first errors stand out
    wrong = [record(i, [step_computing(1, "16 - 7", "9", 0.5), unreadable(2), finish(3, "local", "5", [], p=0.5)],
                    False, answer="5") for i in "ab"]
    right = [record(i, [step_computing(1, "16 - 7", "9", 0.5), finish(2, "local", "18", [], p=0.5)], True)
             for i in "cd"]
    s = summary_of(*wrong, *right)
    # up to the first error the signal's own steps are all right: no AUROC can be claimed for it
    assert s.auroc_first is None and s.auroc_first_position is None
    assert s.auroc_first_forced == 2 and s.auroc_first_n == 6


def test_a_signal_probability_of_one_is_not_taken_for_a_forced_step():
    steps = [step_computing(1, "16 - 7", "9", 1.0), step_computing(2, "9 + 4", "13", 0.2),
             finish(3, "local", "13", [], p=0.6)]
    s = summary_of(record("a", steps, False, answer="13"))
    assert s.auroc_forced == 0 and s.auroc_signal_n == 3


def test_auroc_within_wrong_trajectories_weighs_trajectories_equally():
    # ends wrong: a right step (0.2) then a wrong one (0.8); another: a right step (0.9), a wrong one (0.1)
    short = [record("a", [step_computing(1, "16 - 7", "9", 0.2), step_computing(2, "9 + 4", "13", 0.8)],
                    False, answer="13"),
             record("b", [step_computing(1, "20 - 11", "9", 0.9), step_computing(2, "9 + 5", "14", 0.1)],
                    False, answer="14")]
    # wrong {0.8, 0.1} against right {0.2, 0.9}: one pair of four ordered
    s = summary_of(*short)
    assert s.auroc_within_wrong == pytest.approx(0.25)
    assert s.auroc_within_wrong_trajectories == 2 and s.auroc_within_wrong_n == 4
    # "b" goes on five times as long, the same way: its steps weigh one trajectory still
    looping = [step_computing(2 * k + 1, f"{20 + k} - {11 + k}", "9", 0.9) for k in range(5)]
    looping += [step_computing(2 * k + 2, f"9 + {5 + k}", str(40 + k), 0.1) for k in range(5)]
    long = summary_of(short[0], record("b", looping, False, answer="40"))
    assert long.auroc_within_wrong == pytest.approx(0.25) and long.auroc_within_wrong_n == 12
    # a trajectory that ends right says nothing about which step went wrong
    right = record("c", [step_computing(1, "16 - 7", "9", 0.05), finish(2, "local", "18", [], p=0.01)], True)
    assert summary_of(*short, right).auroc_within_wrong == pytest.approx(0.25)


def test_position_within_wrong_trajectories_is_scored_on_the_same_steps():
    # in both wrong trajectories the later step is the wrong one: position alone separates them
    trajectories = [record(i, [step_computing(1, f"{16 + 4 * k} - {7 + 4 * k}", "9", 0.5),
                               step_computing(2, f"9 + {4 + k}", str(13 + k), 0.5)], False, answer="x")
                    for k, i in enumerate("ab")]
    s = summary_of(*trajectories)
    assert s.auroc_within_wrong == 0.5 and s.auroc_within_wrong_position == 1.0


@given(st.lists(st.tuples(st.sampled_from([0.0, 0.2, 0.5, 0.9]), st.booleans(), st.sampled_from([0.5, 1.0, 2.0])),
                min_size=2, max_size=12))
def test_weighted_auroc_is_the_weighted_pairwise_probability(triples):
    pos = [(s, w) for s, y, w in triples if y]
    neg = [(s, w) for s, y, w in triples if not y]
    got = auroc([s for s, _, _ in triples], [y for _, y, _ in triples], [w for _, _, w in triples])
    if not pos or not neg:
        assert got is None
        return
    wins = sum(wp * wn * (1.0 if p > n else 0.5 if p == n else 0.0) for p, wp in pos for n, wn in neg)
    assert got == pytest.approx(wins / (sum(w for _, w in pos) * sum(w for _, w in neg)))


@settings(deadline=None)  # the first example imports scikit-learn
@given(st.lists(st.tuples(st.floats(0.0, 1.0), st.booleans(), st.floats(0.01, 5.0)), min_size=2, max_size=20))
def test_weighted_auroc_agrees_with_scikit_learn(triples):
    metrics = pytest.importorskip("sklearn.metrics")
    scores, positives, weights = (list(column) for column in zip(*triples))
    got = auroc(scores, positives, weights)
    if all(positives) or not any(positives):
        assert got is None
        return
    assert got == pytest.approx(metrics.roc_auc_score(positives, scores, sample_weight=weights))


# ---------------------------------------------------------------- the concave hull


def test_a_dominated_interior_point_does_not_drag_the_curve_down():
    diagonal = curve_metrics([], 0.4, 0.8)
    c = curve_metrics([(0.5, 0.45)], 0.4, 0.8)
    assert c.apgr == pytest.approx(diagonal.apgr)
    assert c.share_for_50 == pytest.approx(diagonal.share_for_50)


def test_two_operating_points_can_be_mixed():
    # (0.2, 0.7) and (1, 0.8) are mixed to reach the chord between them; (0.5, 0.72) lies below it
    c = curve_metrics([(0.5, 0.72), (0.2, 0.7)], 0.4, 0.8)
    assert c.hull == [(0.0, 0.4), (0.2, 0.7), (1.0, 0.8)]
    assert c.apgr == pytest.approx(0.2 * 0.75 / 2 + 0.8 * (0.75 + 1.0) / 2)


def test_a_point_beyond_the_cloud_recovers_the_whole_gap_and_no_more():
    c = curve_metrics([(0.5, 0.9)], 0.4, 0.8)
    assert c.apgr == pytest.approx(0.5 * 0.5 + 0.5 * 1.0)
    assert c.share_for_80 == pytest.approx(0.4)


curve_points = st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)), max_size=6)


@given(curve_points, st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)), st.floats(0.0, 0.45), st.floats(0.55, 1.0))
def test_apgr_is_a_share_of_the_gap_and_never_falls_when_a_point_is_added(points, extra, local, cloud):
    before = curve_metrics(points, local, cloud)
    after = curve_metrics([*points, extra], local, cloud)
    assert 0.0 <= before.apgr <= 1.0 + 1e-9
    assert after.apgr >= before.apgr - 1e-9
    assert before.share_for_50 <= before.share_for_80


@given(curve_points, st.floats(0.0, 0.45), st.floats(0.55, 1.0))
def test_the_hull_covers_every_point_up_to_the_cloud(points, local, cloud):
    c = curve_metrics(points, local, cloud)
    xs, ys = zip(*c.hull)
    for x, y in points:
        assert float(np.interp(x, xs, ys)) >= min(y, cloud) - 1e-9
    assert c.share_for_50 == pytest.approx(float(np.interp(local + 0.5 * (cloud - local), ys, xs)))


# ---------------------------------------------------------------- paired differences


def outcome_runs(a_right: list[bool], b_right: list[bool]) -> tuple[dict[str, bool], dict[str, bool]]:
    """Two runs' per-question outcomes, as :func:`question_outcomes` reads them from records."""
    ids = [f"q{i}" for i in range(max(len(a_right), len(b_right)))]
    a = question_outcomes([record(i, [], ok) for i, ok in zip(ids, a_right)])
    b = question_outcomes([record(i, [], ok) for i, ok in zip(ids, b_right)])
    return a, b


def test_paired_difference_of_a_run_with_itself_is_zero():
    a, _ = outcome_runs([True, False] * 10, [])
    d = paired_difference(a, a)
    assert d.difference == 0.0 and d.interval == (0.0, 0.0) and d.includes_zero and d.n == 20


def test_paired_difference_pairs_questions_by_id():
    a, b = outcome_runs([True] * 10, [False] * 6)
    d = paired_difference({"extra": False, **dict(reversed(a.items()))}, b)
    assert d.n == 6 and d.difference == 1.0 and d.interval == (1.0, 1.0) and not d.includes_zero


def test_paired_interval_follows_the_questions_not_the_marginal_accuracies():
    # same accuracy, 50%: paired on the same questions there is no difference at all...
    same = [True, False] * 30
    assert paired_difference(*outcome_runs(same, same)).interval == (0.0, 0.0)
    # ...while a run that wins 15 questions and loses none is clearly ahead
    better = [True] * 15 + [False] * 15 + [True, False] * 15
    worse = [False] * 30 + [True, False] * 15
    d = paired_difference(*outcome_runs(better, worse))
    assert d.difference == pytest.approx(0.25) and d.interval[0] > 0.0 and not d.includes_zero
    low, high = d.interval
    assert low <= d.difference <= high
    assert paired_difference(*outcome_runs(better, worse)) == d  # seeded


def test_paired_interval_of_a_small_mixed_difference_contains_zero():
    d = paired_difference(*outcome_runs([True, False, True, False, True], [False, True, True, False, False]))
    assert d.difference == pytest.approx(0.2) and d.includes_zero
    assert (d.gained, d.lost) == (2, 1)
    # the interval is wider than the difference, so more questions would be needed for it to exclude 0
    half_width = (d.interval[1] - d.interval[0]) / 2
    assert half_width > d.difference
    assert d.questions_to_exclude_zero == math.ceil(5 * (half_width / 0.2) ** 2) > 5
    assert paired_difference(*outcome_runs([True, False], [True, False])).questions_to_exclude_zero is None


def test_paired_difference_needs_shared_questions():
    assert paired_difference({"a": True}, {"b": True}) is None


def test_question_outcomes_are_kept_on_every_row():
    local, cloud = baseline_runs()
    assert summarize_run(CONFIG, local).correct == dict(zip("abcd", LOCAL_OK))
    assert oracle_point(local, cloud).correct == {"a": True, "b": True, "c": True, "d": False}
    assert "correct" not in summarize_run(CONFIG, local).model_dump()
