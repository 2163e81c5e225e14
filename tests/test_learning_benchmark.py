"""The learning benchmark script: which models it evaluates and how its report reads."""

from __future__ import annotations

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
            "auroc_first": auroc and auroc - 0.1, "auroc_first_n": 7, "auroc_first_position": 0.6}


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
    assert table[2:] == ["| base-probe | 12 (5) | 0.71 | 0.71 | 0.80 | 0.61 (7) | 0.60 |",
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
