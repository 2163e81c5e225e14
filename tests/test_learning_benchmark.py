"""The learning benchmark script: which models it evaluates and how its report reads."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def learning(benchmark_script):
    return benchmark_script("learning")


def test_a_training_stage_that_did_not_run_registers_no_model(learning):
    manifest = {"stages": {"exam": {"status": "done", "outputs": {}},
                           "reflect-train": {"status": "failed", "outputs": {"registered_as": "x-reflected"}},
                           "practice-train": {"status": "done", "outputs": {"registered_as": "x-practised"}}}}
    assert learning._registered(manifest, "reflect-train") is None
    assert learning._registered(manifest, "practice-train") == "x-practised"
    assert learning._registered(manifest, "probe") is None


def _row(config: str, run: str, method: str, threshold: float | None, accuracy: float, auroc: float | None) -> dict:
    return {"config": config, "run": run, "method": method, "threshold": threshold, "n": 10,
            "accuracy": accuracy, "cloud_share_steps": 0.0 if threshold == 1.0 else 0.5, "cloud_share_tokens": 0.2,
            "auroc": auroc, "auroc_signal": auroc, "auroc_n": 12, "auroc_wrong": 5, "auroc_position": 0.8,
            "auroc_first": auroc and auroc - 0.1, "auroc_first_n": 7, "auroc_first_position": 0.6,
            "auroc_first_interval": [0.4, 0.9] if config == "base-probe" else None}


def test_the_report_puts_the_no_switching_runs_in_their_own_table(learning):
    runs = [_row("base-probe", "adaswitch@1", "adaswitch", 1.0, 0.1, 0.71),
            _row("base-verifier", "adaswitch@1", "adaswitch", 1.0, 0.1, 0.64),
            _row("base-verifier", "adaswitch@0.5", "adaswitch", 0.5, 0.3, 0.6),
            _row("base-verifier", "local", "local", None, 0.1, None)]
    info = {"command": "python benchmarks/learning.py", "machine": "x86_64, 2 CPUs, no GPU", "finished_at": "now",
            "local": "l", "cloud": "c", "train_slice": "t", "test_slices": {"gsm8k": "s"}, "seconds": {},
            "pipeline_stages": {"exam": {"seconds": 1.0, "figures": {"questions": 3}}}}
    text = learning.render(info, {"gsm8k": {"runs": runs, "curves": {}, "base_local": 0.1, "cloud": 0.4}})
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Introspection on identical steps"))
    table = lines[start + 2:start + 6]
    assert table[2:] == ["| base-probe | 12 (5) | 0.71 | 0.71 | 0.80 | 0.61 [0.40, 0.90] (7) | 0.60 |",
                         "| base-verifier | 12 (5) | 0.64 | 0.64 | 0.80 | 0.54 (7) | 0.60 |"]
    assert "| base-verifier | adaswitch@0.5 | 10 | 30% | 50% | 0.60 | 0.60 | 12 (5) |" in lines


def test_the_stage_table_opens_the_probe_figures_kept_per_model(learning):
    info = {"command": "c", "machine": "m", "finished_at": "now", "local": "l", "cloud": "c", "train_slice": "t",
            "test_slices": {"gsm8k": "s"}, "seconds": {},
            "pipeline_stages": {"probe": {"seconds": 204.0, "figures": {
                "base": {"n": 273, "heldout_auroc": 0.51644, "l2_cv_auroc": {"0.1": 0.52}}}}}}
    lines = learning.render(info, {}).splitlines()
    assert "| probe | 204.0 | base.n=273, base.heldout_auroc=0.516 |" in lines


def test_the_training_slice_names_only_the_stages_that_ran(learning):
    done = {"status": "done"}
    assert learning.train_slice({"stages": {"practice": done, "practice-train": done}}, 24, 30) == \
        "GSM8K train: practice questions 0-23"
    assert learning.train_slice({"stages": {"practice": done, "exam": done}}, 24, 30) == \
        "GSM8K train: practice questions 0-23, exam questions 24-53"
    assert learning.train_slice({"stages": {"exam": done, "practice": {"status": "failed"}}}, 24, 100) == \
        "GSM8K train: exam questions 0-99 (no self-practice)"


def test_a_training_stopped_with_a_checkpoint_ends_the_script_with_its_status(learning, capsys):
    import sys

    stopped = [sys.executable, "-c", f"raise SystemExit({learning.EXIT_BUDGET})"]
    with pytest.raises(SystemExit) as ended:
        learning._run(stopped, stopped_ok=True)
    assert ended.value.code == learning.EXIT_BUDGET == 75
    assert "run this command again" in capsys.readouterr().err

    import subprocess
    with pytest.raises(subprocess.CalledProcessError):  # any other failure, or a stop where none is expected
        learning._run(stopped)
    with pytest.raises(subprocess.CalledProcessError):
        learning._run([sys.executable, "-c", "raise SystemExit(1)"], stopped_ok=True)
    learning._run([sys.executable, "-c", "pass"])


def _flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_every_signal_judges_identical_steps_before_any_switching_run(learning, tmp_path):
    configs = learning.evaluation_configs({"base": "p.json"}, "x-reflected", [("older", "x-60-steps")])
    assert [label for label, _ in configs] == ["base-verifier", "base-confidence", "base-probe", "reflected-trained",
                                               "older"]
    commands = learning.sweep_commands("gsm8k", ["--offset", "100", "--limit", "30"], configs, tmp_path, "0.3,0.5",
                                       "x-practised", identical_only=False)
    first, rest = commands[:5], commands[5:]
    assert [_flag(c, "--thresholds") for c in first] == ["1"] * 5
    assert [_flag(c, "--methods") for c in first] == ["adaswitch"] * 5
    assert _flag(first[4], "--local") == "x-60-steps" and _flag(first[4], "--introspection") == "trained"
    methods = {Path(_flag(c, "--out")).name: _flag(c, "--methods") for c in rest}
    assert methods == {"base-verifier": "local,cloud,adaswitch,random", "base-confidence": "adaswitch",
                       "base-probe": "adaswitch", "reflected-trained": "local,adaswitch", "older": "local,adaswitch",
                       "practised": "local"}
    assert all(c[:4] == ["sweep", "gsm8k", "--offset", "100"] for c in commands)
    with_position = learning.sweep_commands("gsm8k", [], configs, tmp_path, "0.5", None, identical_only=False,
                                            position_thresholds="0.3,0.5")
    last = with_position[-1]
    assert Path(_flag(last, "--out")).name == "base-position" and _flag(last, "--thresholds") == "0.3,0.5"
    assert _flag(last, "--introspection") == "position" and len(with_position) == 11
    assert learning.sweep_commands("gsm8k", [], configs, tmp_path, "0.5", None, identical_only=True,
                                   position_thresholds="0.3") == with_position[:5]


def test_identical_only_runs_each_signal_once_without_switching(learning, tmp_path):
    configs = learning.evaluation_configs({}, None, [])
    commands = learning.sweep_commands("hotpotqa", ["--limit", "10"], configs, tmp_path, "0.5", "x-practised",
                                       identical_only=True)
    assert [(Path(_flag(c, "--out")).name, _flag(c, "--thresholds")) for c in commands] == \
        [("base-verifier", "1"), ("base-confidence", "1")]


@pytest.mark.parametrize("text", ["older", "=x", "older="])
def test_a_compared_model_needs_a_label_and_a_name(learning, text):
    import argparse
    with pytest.raises(argparse.ArgumentTypeError, match="LABEL=MODEL"):
        learning._label_and_model(text)
