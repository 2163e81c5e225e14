"""A threshold set by a cloud budget: adaswitch calibrate, --cloud-budget, and the hard cap on cloud steps."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from adaswitch.calibration import Calibration
from adaswitch.cli import _register, cli
from adaswitch.grading.rundir import load_run
from adaswitch.policies import make_policy

# two steps; the verifier doubts the second (p = 0.9) and trusts the first (p = 0.2)
SCRIPT = {
    "rules": [
        {"match": "Thought 1:$", "text": " Compute.\nAction 1: calculate[9 * 2]"},
        {"match": "Thought 2:$", "text": " Done.\nAction 2: finish[18]"},
    ],
    "probe_rules": [
        {"match": r"step 1\b", "probs": {"Yes": 0.8, "No": 0.2}},
        {"match": r"step 2\b", "probs": {"Yes": 0.1, "No": 0.9}},
    ],
}


def test_threshold_for_a_budget_is_the_smallest_that_keeps_the_share_within_it():
    calibration = Calibration(introspection="verifier", local_model="m", questions=5,
                              p_errors=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    assert calibration.threshold_for(0.2) == pytest.approx(0.8)
    assert calibration.share_above(0.8) == pytest.approx(0.2)
    assert calibration.threshold_for(0.25) == pytest.approx(0.8)  # 0.7 would switch 0.3
    assert calibration.threshold_for(1.0) == 0.0
    assert calibration.threshold_for(0.0) == 1.0  # nothing above 1; forced steps still switch below it
    with pytest.raises(ValueError, match="share of steps"):
        calibration.threshold_for(1.5)
    with pytest.raises(ValueError, match="signal 'verifier', not 'confidence'"):
        calibration.check_for("confidence", "m")


def test_the_cap_keeps_flagged_steps_local_once_the_cloud_wrote_enough():
    import random

    policy = make_policy("adaswitch", threshold=0.5, max_cloud_steps=1)
    rng = random.Random(0)
    assert policy.decide(0.9, rng, 1, cloud_steps_so_far=0) == "cloud"
    assert policy.decide(0.9, rng, 2, cloud_steps_so_far=1) == "keep"
    with pytest.raises(ValueError, match="0 or more"):
        make_policy("adaswitch", max_cloud_steps=-1)


def test_calibrate_then_run_at_a_budget(tmp_path):
    _register()
    script = tmp_path / "s.json"
    script.write_text(json.dumps(SCRIPT))
    common = ["gsm8k", "--limit", "3", "--local", f"fake:{script}", "--cloud", f"fake:{script}", "--cache", "off",
              "--no-progress", "--mode", "adaswitch", "--introspection", "verifier"]
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, list(args), catch_exceptions=False)

    judged = invoke("eval", *common, "--out", str(tmp_path / "cal"), "--mode", "local", "--judge-steps")
    assert judged.exit_code == 0, judged.output
    config, records = load_run(tmp_path / "cal")
    assert config.method == "local" and config.introspection == "verifier"
    assert all(r.final_check_p is not None for r in records)  # a local run: the cascade can use it
    assert all(s.author == "local" and s.p_error is not None for r in records for s in r.trace.steps)
    made = invoke("calibrate", str(tmp_path / "cal"), "--out", str(tmp_path / "cal.json"))
    assert made.exit_code == 0, made.output
    calibration = Calibration.load(tmp_path / "cal.json")
    assert calibration.p_errors == pytest.approx([0.2, 0.2, 0.2, 0.9, 0.9, 0.9]) and calibration.questions == 3
    assert "budget 0.20: threshold 0.9000" in made.output

    budget = invoke("eval", *common, "--out", str(tmp_path / "budget"), "--cloud-budget", "0.5",
                    "--calibration", str(tmp_path / "cal.json"))
    assert budget.exit_code == 0, budget.output
    config, records = load_run(tmp_path / "budget")
    assert config.threshold == pytest.approx(0.2)
    assert all([s.author for s in r.trace.steps] == ["local", "cloud"] for r in records)

    capped = invoke("eval", *common, "--out", str(tmp_path / "capped"), "--cloud-budget", "0.5",
                    "--calibration", str(tmp_path / "cal.json"), "--max-cloud-steps", "0")
    assert capped.exit_code == 0, capped.output
    _, records = load_run(tmp_path / "capped")
    assert all(s.author == "local" and not s.switched for r in records for s in r.trace.steps)


def test_budget_and_calibration_errors_are_one_line(tmp_path):
    _register()
    runner = CliRunner()
    script = tmp_path / "s.json"
    script.write_text(json.dumps(SCRIPT))
    base = ["eval", "gsm8k", "--limit", "1", "--local", f"fake:{script}", "--cloud", f"fake:{script}",
            "--cache", "off", "--no-progress", "--out", str(tmp_path / "run")]
    missing = runner.invoke(cli, [*base, "--cloud-budget", "0.2"])
    assert missing.exit_code == 2 and "needs a calibration file" in missing.output
    Calibration(introspection="verifier", local_model="fake", questions=1, p_errors=[0.5]).save(tmp_path / "c.json")
    other = runner.invoke(cli, [*base, "--cloud-budget", "0.2", "--calibration", str(tmp_path / "c.json"),
                                "--introspection", "position"])
    assert other.exit_code == 2 and "signal 'verifier', not 'position'" in other.output
    local = runner.invoke(cli, [*base, "--mode", "local"])
    assert local.exit_code == 0, local.output
    refused = runner.invoke(cli, ["calibrate", str(tmp_path / "run"), "--out", str(tmp_path / "x.json")])
    assert refused.exit_code == 1 and "judged no steps" in refused.output


def test_a_server_model_name_may_ask_for_a_budget():
    from adaswitch.server.names import UnknownModel, parse_model

    calibration = Calibration(introspection="verifier", local_model="m", questions=2, p_errors=[0.2, 0.4, 0.6, 0.9])
    choice = parse_model("adaswitch@budget=0.5", 0.5, 0.2, True, calibration.threshold_for)
    assert choice.mode == "adaswitch" and choice.value == pytest.approx(0.4)
    assert parse_model("adaswitch@0.3", 0.5, 0.2, True, calibration.threshold_for).value == 0.3
    with pytest.raises(UnknownModel, match="no calibration"):
        parse_model("adaswitch@budget=0.5", 0.5, 0.2, True)
    with pytest.raises(UnknownModel, match="only adaswitch"):
        parse_model("adaswitch-random@budget=0.5", 0.5, 0.2, True, calibration.threshold_for)
    with pytest.raises(UnknownModel, match="cloud budget must be in"):
        parse_model("adaswitch@budget=2", 0.5, 0.2, True, calibration.threshold_for)
