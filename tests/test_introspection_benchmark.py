"""benchmarks/introspection.py on runs of fake models: it fits, scores, calibrates and draws curves."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

from adaswitch.calibration import Calibration
from adaswitch.cli import _register, cli
from adaswitch.introspection.combined import CombinerModel

# a local agent that answers 18 to everything (right on the first GSM8K test question only); the
# multiplication is unsure (low log-probabilities), the finish sure
SCRIPT = {"rules": [
    {"match": "Thought 1:$", "text": " Compute.\nAction 1: calculate[9 * 2]", "logprob": -0.9},
    {"match": "Thought 2:$", "text": " Done.\nAction 2: finish[18]", "logprob": -0.05}]}
# the same agent unsure of its multiplication on the first three questions only (solved in order)
UNEVEN = {"rules": [{**SCRIPT["rules"][0], "times": 3}, {**SCRIPT["rules"][0], "logprob": -0.01}, SCRIPT["rules"][1]]}


def test_the_benchmark_fits_scores_and_calibrates(tmp_path, benchmark_script, monkeypatch):
    _register()
    script = tmp_path / "s.json"
    script.write_text(json.dumps(SCRIPT))
    uneven = tmp_path / "uneven.json"
    uneven.write_text(json.dumps(UNEVEN))
    runner = CliRunner()
    common = ["gsm8k", "--local", f"fake:{script}", "--cloud", f"fake:{script}", "--cache", "off", "--no-progress"]
    judged = ["--mode", "local", "--judge-steps", "--introspection", "confidence"]
    for args in (["--split", "train", "--limit", "8", *judged, "--out", str(tmp_path / "fit")],
                 ["--limit", "6", *judged, "--out", str(tmp_path / "test")],
                 ["--limit", "6", "--mode", "cloud", "--out", str(tmp_path / "cloud")],
                 ["--limit", "6", "--mode", "random", "--switch-rate", "0.5", "--out", str(tmp_path / "random")],
                 ["--limit", "6", "--mode", "adaswitch", "--introspection", "confidence", "-t", "0.99", "--workers", "1",
                  "--local", f"fake:{uneven}", "--out", str(tmp_path / "adaswitch")]):
        result = runner.invoke(cli, ["eval", *common, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    share = benchmark_script("cloud_share").cloud_share
    assert share(tmp_path / "cloud") == 1.0 and share(tmp_path / "test") == 0.0
    assert 0.0 < share(tmp_path / "random") < 1.0
    out = tmp_path / "introspection.json"
    out.write_text(json.dumps({"svamp": {"kept": True}, "gsm8k": {
        "signals": {"consistency": {"auroc_first": 0.78}, "confidence": {"auroc_first": 0.0}}, "paragraphs": {"n": 1}}}))
    argv = ["introspection.py", "--fit", str(tmp_path / "fit"), "--test", str(tmp_path / "test"),
            "--curve", f"random={tmp_path / 'random'}", "--curve", f"adaswitch={tmp_path / 'adaswitch'}", "--local", str(tmp_path / "test"), "--cloud", str(tmp_path / "cloud"),
            "--combiner-out", str(tmp_path / "combiner.json"), "--calibration-out", str(tmp_path / "cal"), "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    benchmark_script("introspection").main()
    written = json.loads(out.read_text())
    assert written["svamp"] == {"kept": True}  # other benchmarks' entries stay
    entry = written["gsm8k"]
    # figures made by other runs stay (a signal scored elsewhere, the other step format's entry);
    # what this run scores is replaced
    assert entry["signals"]["consistency"] == {"auroc_first": 0.78} and entry["paragraphs"] == {"n": 1}
    assert entry["signals"]["confidence"]["auroc_first"] != 0.0
    monkeypatch.setattr(sys, "argv", [*argv, "--within", "paragraphs"])
    benchmark_script("introspection").main()
    again = json.loads(out.read_text())["gsm8k"]
    assert again["paragraphs"]["n"] == 6 and again["signals"] == entry["signals"]
    assert entry["n"] == 6 and entry["local_accuracy"] == entry["cloud_accuracy"]
    assert entry["step_format"] == "react" and entry["run_code"] is False  # what the tested run wrote
    assert {"confidence", "min_logprob", "position", "combined"} <= set(entry["signals"])
    assert set(entry["signals"]["combined"]) >= {"auroc_first", "auroc_within_wrong", "ci"}
    assert entry["curves"]["random"][0][0] > 0 and "cascade" in entry["curves"]
    # the AdaSwitch run escalated: its three unsure questions go to the cloud whole, on top of its own point
    assert entry["curves"]["adaswitch"] == [[0.0, round(1 / 6, 4)]]
    assert len(entry["curves"]["escalation"]) == 1 and entry["curves"]["escalation"][0][0] > 0.0
    combiner = CombinerModel.load(tmp_path / "combiner.json")
    assert "min_logprob" in combiner.names and combiner.fitted_on["split"] == "train"
    for signal in ("combined", "position"):
        calibration = Calibration.load(tmp_path / "cal" / f"{signal}.json")
        assert calibration.introspection == signal and calibration.questions == 8
        assert len(calibration.p_errors) == 16  # two judged steps per question
    assert "cloud_run" not in entry  # the cloud side was a --mode cloud run
    # a local-only run of the cloud model serves as the cloud side, and the entry says so
    monkeypatch.setattr(sys, "argv", [a if a != str(tmp_path / "cloud") else str(tmp_path / "test") for a in argv])
    benchmark_script("introspection").main()
    assert "a local-only run of" in json.loads(out.read_text())["gsm8k"]["cloud_run"]


def test_the_curve_picture_is_a_png(tmp_path, benchmark_script):
    entry = {"local_accuracy": 0.2, "cloud_accuracy": 0.5, "curves": {"adaswitch": [[0.2, 0.3], [0.1, 0.25]],
                                                                       "random": [[0.2, 0.26]], "empty": []}}
    out = benchmark_script("plot_curves").plot(entry, "test", tmp_path / "curves.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5_000


def test_the_headline_picture_puts_each_family_on_the_asked_axis(tmp_path, benchmark_script):
    rows = [{"method": "local", "accuracy": 0.2, "cloud_spend_steps": 0.0},
            {"method": "cloud", "accuracy": 0.5, "cloud_spend_steps": 1.0},
            {"method": "adaswitch", "accuracy": 0.3, "cloud_spend_steps": 0.2, "cloud_share_steps": 0.25},
            {"method": "cascade", "accuracy": 0.28, "cloud_spend_steps": 0.3},
            {"method": "cascade", "accuracy": 0.5, "cloud_spend_steps": None},
            {"method": "self-reflection", "accuracy": 0.21, "cloud_spend_steps": 0.0}]
    script = benchmark_script("plot_curves")
    entry = script.headline_entry({"n": 4, "methods": rows}, "cloud_spend_steps")
    assert (entry["local_accuracy"], entry["cloud_accuracy"]) == (0.2, 0.5)
    assert entry["curves"] == {"adaswitch": [[0.2, 0.3]], "cascade": [[0.3, 0.28]]}
    assert script.headline_entry({"n": 4, "methods": rows}, "cloud_share_steps")["curves"] == {"adaswitch": [[0.25, 0.3]]}
    out = script.plot(entry, "test", tmp_path / "h.png", script.AXES["cloud_spend_steps"], unjoined=frozenset({"cascade"}))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_combiner_fitted_on_gsm8k_train_is_scored_on_svamp(tmp_path, benchmark_script, monkeypatch):
    """Transfer: the fit run and the test run are of different benchmarks; the entry is the test's."""
    judged_local_runs(tmp_path, ("gsm8k", ["--split", "train", "--limit", "8", "--out", str(tmp_path / "fit")]),
                      ("svamp", ["--limit", "5", "--out", str(tmp_path / "test")]))
    out = tmp_path / "introspection.json"
    monkeypatch.setattr(sys, "argv", [
        "introspection.py", "--fit", str(tmp_path / "fit"), "--test", str(tmp_path / "test"),
        "--combiner-out", str(tmp_path / "combiner.json"), "--out", str(out)])
    benchmark_script("introspection").main()
    written = json.loads(out.read_text())
    assert set(written) == {"svamp"} and written["svamp"]["n"] == 5
    assert "combined" in written["svamp"]["signals"]
    assert CombinerModel.load(tmp_path / "combiner.json").fitted_on["benchmark"] == "gsm8k"


def test_fit_runs_on_disjoint_questions_are_pooled_and_a_repeated_one_refused(tmp_path, benchmark_script, monkeypatch):
    judged_local_runs(tmp_path, ("gsm8k", ["--split", "train", "--limit", "5", "--out", str(tmp_path / "fit-a")]),
                      ("gsm8k", ["--split", "train", "--offset", "5", "--limit", "3", "--out", str(tmp_path / "fit-b")]),
                      ("gsm8k", ["--limit", "4", "--out", str(tmp_path / "test")]))
    argv = ["introspection.py", "--fit", str(tmp_path / "fit-a"), "--fit", str(tmp_path / "fit-b"),
            "--test", str(tmp_path / "test"), "--combiner-out", str(tmp_path / "combiner.json"),
            "--calibration-out", str(tmp_path / "cal"), "--out", str(tmp_path / "out.json")]
    monkeypatch.setattr(sys, "argv", argv)
    benchmark_script("introspection").main()
    combiner = CombinerModel.load(tmp_path / "combiner.json")
    assert combiner.fitted_on["questions"] == 8 and " + " in combiner.fitted_on["run"]
    calibration = Calibration.load(tmp_path / "cal" / "combined.json")
    assert calibration.questions == 8 and len(calibration.sources) == 2
    # the same questions twice would count them twice: refused
    monkeypatch.setattr(sys, "argv", [*argv, "--fit", str(tmp_path / "fit-b")])
    with pytest.raises(SystemExit, match="repeats 3 questions"):
        benchmark_script("introspection").main()
    # a run of another benchmark cannot be pooled with GSM8K train
    monkeypatch.setattr(sys, "argv", [*argv[:3], "--fit", str(tmp_path / "test"), *argv[5:]])
    with pytest.raises(SystemExit, match="must share benchmark, split and local model"):
        benchmark_script("introspection").main()


def judged_local_runs(tmp_path, *runs: tuple[str, list[str]]) -> None:
    """``adaswitch eval BENCH --mode local --judge-steps`` with the scripted fake agent, per (BENCH, args)."""
    _register()
    script = tmp_path / "s.json"
    script.write_text(json.dumps(SCRIPT))
    judged = ["--local", f"fake:{script}", "--cache", "off", "--no-progress", "--mode", "local",
              "--judge-steps", "--introspection", "confidence"]
    for bench, args in runs:
        result = CliRunner().invoke(cli, ["eval", bench, *judged, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
