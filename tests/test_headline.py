"""The headline comparison: every method on the same questions, with intervals, from run directories."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from adaswitch.cli import _register, cli
from adaswitch.evaluation.headline import benchmark_headline, markdown, solving_time, wilson_interval
from adaswitch.grading.rundir import load_run

# GSM8K test 0-3 (gold 18, 3, 70000, 540): the local agent answers 18 to everything, unsure of its
# first step; the cloud knows every answer (asked once per question, in order)
LOCAL = {"rules": [
    {"match": "Thought 1:$", "text": " Compute.\nAction 1: calculate[9 * 2]", "logprob": -0.9},
    {"match": "Thought 2:$", "text": " Done.\nAction 2: finish[18]", "logprob": -0.05}]}
CLOUD = {"queue": [  # one call per question, in order
    {"text": " Eggs.\nAction 1: finish[18]"},
    {"text": " Half of 2 is 1, and 2 + 1 = 3.\nAction 1: finish[3]"},
    {"text": " The profit.\nAction 1: finish[70000]"},
    {"text": " 3 * 3 * 60.\nAction 1: finish[540]"}]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    _register()
    root = tmp_path_factory.mktemp("headline")
    local, cloud = root / "local.json", root / "cloud.json"
    local.write_text(json.dumps(LOCAL))
    cloud.write_text(json.dumps(CLOUD))
    common = ["gsm8k", "--limit", "4", "--cache", "off", "--no-progress", "--cloud", f"fake:{cloud}"]
    commands = {
        "local": ["--local", f"fake:{local}", "--mode", "local"],
        "cloud": ["--local", f"fake:{cloud}", "--mode", "local"],  # the cloud model's own local run
        "cloud-mode": ["--local", f"fake:{local}", "--mode", "cloud"],
        "adaswitch": ["--local", f"fake:{local}", "--mode", "adaswitch", "--introspection", "confidence", "-t", "0.5"],
        "random": ["--local", f"fake:{local}", "--mode", "random", "--switch-rate", "0.3"],
        "position": ["--local", f"fake:{local}", "--mode", "adaswitch", "--introspection", "position", "-t", "0.5"],
        "step-oracle": ["--local", f"fake:{local}", "--mode", "adaswitch", "--introspection", "step-oracle", "-t", "0.7"],
        "step-oracle-first": ["--local", f"fake:{local}", "--mode", "adaswitch", "--introspection", "step-oracle",
                              "-t", "0.7", "--max-cloud-steps", "1"],
    }
    for name, args in commands.items():
        result = CliRunner().invoke(cli, ["eval", *common, *args, "--out", str(root / name)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return root


def test_every_method_is_stated_with_its_interval_and_adaswitch_is_paired_with_each(runs):
    h = benchmark_headline(runs / "local", runs / "cloud", [runs / "adaswitch", runs / "random", runs / "position"])
    rows = {r.method: r for r in h.methods if r.method not in ("cascade",)}
    assert h.n == 4 and h.benchmark == "gsm8k"
    assert rows["local"].accuracy == 0.25 and rows["local"].cloud_share_steps == 0.0
    # the cloud model's local-only run is read as the cloud-only run: all its steps are the cloud's
    assert rows["cloud"].accuracy == 1.0 and rows["cloud"].cloud_share_steps == 1.0
    assert any("read as the cloud-only run" in note for note in h.notes)
    # the unsure first step goes to the cloud, which answers every question in it
    assert rows["adaswitch"].accuracy == 1.0 and rows["adaswitch"].cloud_share_steps == 1.0
    assert rows["adaswitch"].label == "adaswitch confidence, τ 0.5" and rows["adaswitch"].signal == "confidence"
    assert rows["position"].label == "position, τ 0.5" and rows["random"].label == "random @0.3"
    assert rows["oracle"].accuracy == 1.0
    for row in h.methods:
        low, high = row.interval
        assert low <= row.accuracy <= high and 0.0 <= low and high <= 1.0
    references = {(p.reference, p.axis) for p in h.paired}
    assert {("local", "steps"), ("cloud", "steps"), ("random @0.3", "steps"), ("position, τ 0.5", "steps"),
            ("oracle", "steps")} <= references
    against_local = next(p for p in h.paired if p.reference == "local")
    assert against_local.difference == 0.75 and against_local.n == 4
    assert (against_local.gained, against_local.lost) == (3, 0)
    assert h.apgr["adaswitch"] == 0.5  # the cloud's accuracy at the cloud's share: the straight line
    assert h.not_run == ["adaswitch at 2 more threshold(s) or budget(s)", "self-reflection"]
    assert all(r.wall_time_s is not None for r in h.methods if r.run) and h.wall_time_s >= 0.0
    text = markdown(h, "GSM8K")
    assert "| adaswitch confidence, τ 0.5 | local | steps | 4 | 3 / 0 | +75.0 |" in text
    assert "Not run yet: adaswitch at 2 more threshold(s) or budget(s); self-reflection." in text


def test_the_step_oracle_is_its_own_family_paired_with_adaswitch_and_random(runs):
    h = benchmark_headline(runs / "local", runs / "cloud", [runs / "adaswitch", runs / "random", runs / "step-oracle"])
    oracle = next(r for r in h.methods if r.method == "step-oracle")
    # test-0's 9 * 2 = 18 is on its gold path and stays local; the other three go to the cloud at step 1
    assert oracle.label == "step-oracle, τ 0.7" and oracle.signal is None
    assert oracle.cloud_share_steps == pytest.approx(3 / 5)
    assert {p.reference for p in h.paired if p.label == oracle.label} == {
        "local", "cloud", "adaswitch confidence, τ 0.5", "random @0.3"}
    assert "step-oracle" in h.apgr and h.not_run[0].startswith("adaswitch at 2 more")
    capped = benchmark_headline(runs / "local", runs / "cloud", [runs / "step-oracle-first"])
    assert [r.label for r in capped.methods if r.method == "step-oracle"] == [
        "step-oracle, τ 0.7 (at most 1 cloud step a question)"]


def test_two_runs_at_one_budget_with_different_calibrations_are_told_apart(runs, tmp_path):
    local = runs / "local.json"
    common = ["gsm8k", "--limit", "4", "--cache", "off", "--no-progress", "--local", f"fake:{local}"]
    judged = tmp_path / "judged"
    result = CliRunner().invoke(cli, ["eval", *common, "--mode", "local", "--judge-steps", "--introspection",
                                      "confidence", "--out", str(judged)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for name in ("mine", "theirs"):
        (tmp_path / name).mkdir()
        result = CliRunner().invoke(cli, ["calibrate", str(judged), "--out", str(tmp_path / name / "confidence.json")])
        assert result.exit_code == 0, result.output
        result = CliRunner().invoke(cli, ["eval", *common, "--cloud", f"fake:{runs / 'cloud.json'}", "--mode", "adaswitch",
                                          "--introspection", "confidence", "--cloud-budget", "0.5", "--calibration",
                                          str(tmp_path / name / "confidence.json"), "--out", str(tmp_path / f"run-{name}")],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
    h = benchmark_headline(runs / "local", runs / "cloud", [tmp_path / "run-mine", tmp_path / "run-theirs", runs / "random"])
    labels = [r.label for r in h.methods if r.method == "adaswitch"]
    assert labels == ["adaswitch confidence, budget 0.5 (calibration mine/confidence.json)",
                      "adaswitch confidence, budget 0.5 (calibration theirs/confidence.json)"]
    assert {p.label for p in h.paired} >= set(labels)


def test_a_run_of_another_cloud_model_or_benchmark_is_refused(runs, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    config, _ = load_run(runs / "cloud")
    (other / "config.json").write_text(config.model_copy(update={"local_identity": "another/model"}).model_dump_json())
    (other / "records.jsonl").write_text((runs / "cloud" / "records.jsonl").read_text())
    with pytest.raises(ValueError, match="not the cloud model"):
        benchmark_headline(runs / "local", other, [runs / "adaswitch"])
    (other / "config.json").write_text(config.model_copy(update={"benchmark": "svamp"}).model_dump_json())
    with pytest.raises(ValueError, match="a svamp run among gsm8k runs"):
        benchmark_headline(runs / "local", other)


def test_the_wilson_interval_matches_its_formula_at_known_points():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    # the figures of scipy.stats.binomtest(k, n).proportion_ci(method="wilson")
    assert wilson_interval(55, 200) == pytest.approx((0.217797, 0.340683), abs=1e-6)
    assert wilson_interval(10, 10) == pytest.approx((0.722467, 1.0), abs=1e-6)


def test_solving_time_counts_overlapping_questions_once_and_skips_the_pause_of_a_resumed_run(runs):
    _, records = load_run(runs / "local")
    start = datetime(2026, 11, 27, 10, tzinfo=timezone.utc)
    spans = [(0, 60), (30, 90), (100, 110), (86400, 86430)]  # two at once, one after, one the next day
    timed = [r.model_copy(update={"trace": r.trace.model_copy(update={
        "started_at": (start + timedelta(seconds=a)).isoformat(), "wall_time_s": float(b - a)})})
        for r, (a, b) in zip(records, spans)]
    assert solving_time(timed) == 90 + 10 + 30
    assert solving_time([r.model_copy(update={"trace": r.trace.model_copy(update={"started_at": ""})})
                         for r in records]) is None


def test_the_script_writes_the_benchmarks_it_has_runs_for_and_keeps_the_others(runs, tmp_path, benchmark_script, monkeypatch):
    script = benchmark_script("headline")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({
        "gsm8k": {"local": str(runs / "local"), "cloud": str(runs / "cloud"), "switching": [str(runs / "adaswitch")],
                  "records": ["runs.tar.xz", "more.tar.xz"]},
        "svamp": {"local": str(tmp_path / "absent"), "cloud": str(runs / "cloud"), "records": "svamp.tar.xz"}}))
    out = tmp_path / "results"
    out.mkdir()
    kept = benchmark_headline(runs / "local", runs / "cloud").model_dump() | {"benchmark": "asdiv", "n": 7}
    (out / "headline.json").write_text(json.dumps({"benchmarks": {"asdiv": kept}}))
    monkeypatch.setattr(sys, "argv", ["headline.py", "--manifest", str(manifest), "--out", str(out)])
    script.main()
    written = json.loads((out / "headline.json").read_text())
    assert list(written["benchmarks"]) == ["gsm8k", "asdiv"]
    assert written["benchmarks"]["asdiv"] == json.loads(json.dumps(kept))
    entry = written["benchmarks"]["gsm8k"]
    assert entry["n"] == 4 and entry["records"] == ["runs.tar.xz", "more.tar.xz"]
    assert {"n", "methods", "paired", "apgr", "not_run", "wall_time_s"} <= set(entry)
    assert all({"accuracy", "interval", "cloud_share_steps", "cloud_share_tokens"} <= set(m) for m in entry["methods"])
    text = (out / "headline.md").read_text()
    assert text.index("### GSM8K") < text.index("### ASDiv (")


def test_the_standard_comparison_hands_its_sweeps_to_the_headline(runs, tmp_path, benchmark_script):
    sweeps = tmp_path / "standard" / "gsm8k"
    sweeps.mkdir(parents=True)
    for name in ("local", "cloud-mode", "adaswitch", "random"):
        (sweeps / name).symlink_to(runs / name)
    manifest = benchmark_script("standard_comparison").sweep_manifest(tmp_path / "standard", ["gsm8k"])
    assert manifest == {"gsm8k": {"local": str(sweeps / "local"), "cloud": str(sweeps / "cloud-mode"),
                                  "switching": [str(sweeps / "adaswitch"), str(sweeps / "random")]}}
    h = benchmark_headline(Path(manifest["gsm8k"]["local"]), Path(manifest["gsm8k"]["cloud"]),
                           [Path(p) for p in manifest["gsm8k"]["switching"]])
    assert [r.method for r in h.methods][:4] == ["local", "cloud", "adaswitch", "random"]
    assert not any("read as the cloud-only run" in note for note in h.notes)


def test_cloud_spend_counts_the_cloud_bill_against_the_cloud_alone_not_diluted_by_local_work(runs):
    h = benchmark_headline(runs / "local", runs / "cloud", [runs / "adaswitch"])
    rows = {r.method: r for r in h.methods if r.method != "cascade"}
    assert (rows["local"].cloud_spend_steps, rows["cloud"].cloud_spend_steps) == (0.0, 1.0)
    assert rows["cloud"].cloud_spend_tokens == 1.0 and rows["local"].cloud_spend_tokens == 0.0
    # the cloud alone writes one step per question, the local agent two. A cascade that sends k of the
    # four questions pays the cloud k steps (k/4 of the cloud alone's bill) on top of all 8 local
    # steps, so its share of the work, k/(8 + k), is at most a third while its bill reaches the cloud's
    cascades = [r for r in h.methods if r.method == "cascade"]
    assert cascades
    for row in cascades:
        sent = int(row.note.split(" of ")[0])
        assert row.cloud_spend_steps == pytest.approx(sent / 4, abs=1e-4)
        assert row.cloud_share_steps == pytest.approx(sent / (8 + sent), abs=1e-4)
    assert max(r.cloud_spend_steps for r in cascades) == 1.0
    # AdaSwitch hands every first step to the cloud, which finishes there: the cloud alone's bill
    assert rows["adaswitch"].cloud_spend_steps == 1.0
    assert {p.axis for p in h.paired if p.reference.startswith("cascade")} == {"steps", "tokens", "spend", "spend tokens"}
    assert h.apgr_cloud_spend["adaswitch"] == 0.5 and h.apgr_cloud_spend["cascade"] <= h.apgr["cascade"]
    assert "APGR (cloud spend, the cloud's steps against the cloud alone's): adaswitch 0.50" in markdown(h)
