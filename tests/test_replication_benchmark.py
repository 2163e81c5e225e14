"""benchmarks/replication.py on runs of fake models: each slice paired, the slices pooled, gaps left open."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

from adaswitch.cli import _register, cli

# the local agent answers 18 to everything (right on GSM8K test 0 only), unsure of its first step; the
# cloud answers, in order, 18 then 3 (right on test 0 and 1 when asked on them first)
LOCAL = {"rules": [
    {"match": "Thought 1:$", "text": " Compute.\nAction 1: calculate[9 * 2]", "logprob": -0.9},
    {"match": "Thought 2:$", "text": " Done.\nAction 2: finish[18]", "logprob": -0.05}]}
CLOUD = {"queue": [{"text": " Eggs.\nAction 1: finish[18]"}, {"text": " Bolts.\nAction 1: finish[3]"}]}


@pytest.fixture(scope="module")
def slices(tmp_path_factory):
    _register()
    root = tmp_path_factory.mktemp("replication")
    local, cloud = root / "local.json", root / "cloud.json"
    local.write_text(json.dumps(LOCAL))
    cloud.write_text(json.dumps(CLOUD))
    methods = {
        "local": ["--local", f"fake:{local}", "--mode", "local"],
        "cloud": ["--local", f"fake:{cloud}", "--mode", "local"],
        "adaswitch": ["--local", f"fake:{local}", "--mode", "adaswitch", "--introspection", "confidence", "-t", "0.5",
                      "--workers", "1"],
        "random": ["--local", f"fake:{local}", "--mode", "random", "--switch-rate", "0.0"],
    }
    made = {}
    for name, offset in (("first", "0"), ("second", "2")):
        made[name] = {}
        for method, args in methods.items():
            out = root / name / method
            common = ["gsm8k", "--offset", offset, "--limit", "2", "--cache", "off", "--no-progress",
                      "--cloud", f"fake:{cloud}"]
            result = CliRunner().invoke(cli, ["eval", *common, *args, "--out", str(out)], catch_exceptions=False)
            assert result.exit_code == 0, result.output
            made[name][method] = str(out)
    return made


def run_script(benchmark_script, monkeypatch, tmp_path, slices: dict[str, dict[str, str]]) -> dict:
    out = tmp_path / "replication.json"
    argv = ["replication.py", "--out", str(out)]
    for name, runs in slices.items():
        argv += ["--slice", name, *(f"{m}={d}" for m, d in runs.items())]
    monkeypatch.setattr(sys, "argv", argv)
    benchmark_script("replication").main()
    return json.loads(out.read_text())


def test_each_slice_is_paired_and_the_pool_adds_their_questions(slices, benchmark_script, monkeypatch, tmp_path):
    report = run_script(benchmark_script, monkeypatch, tmp_path, slices)
    first, second, pooled = report["slices"]["first"], report["slices"]["second"], report["pooled"]
    # the cloud takes the unsure first step and answers 18 then 3: right on test 0 and 1, wrong on 2 and 3
    assert first["methods"]["adaswitch"]["accuracy"] == 1.0 and second["methods"]["adaswitch"]["accuracy"] == 0.0
    assert first["methods"]["random"]["accuracy"] == 0.5 and first["methods"]["random"]["cloud_step_share"] == 0.0
    assert first["adaswitch_minus_random"]["gained"] == 1 and first["adaswitch_minus_random"]["lost"] == 0
    assert pooled["adaswitch_minus_random"]["n"] == 4
    assert pooled["adaswitch_minus_random"]["difference"] == pytest.approx(0.25)
    assert pooled["methods"]["local"]["n"] == 4 and pooled["missing"] == []
    assert first["gap_recovered"] == pytest.approx(1.0) and first["gap_questions"] == 2
    assert first["random_gap_recovered"] == pytest.approx(0.0)  # random never calls the cloud: the local's 0.5
    assert first["methods"]["local"]["run"] == slices["first"]["local"]
    assert len(first["methods"]["local"]["machines"]) == 1  # the machine that made it, read wall times against it
    assert first["methods"]["local"]["planned"] == 2 and first["methods"]["local"]["complete"]


def test_a_run_not_made_yet_is_reported_missing_and_kept_out_of_the_pool(slices, benchmark_script, monkeypatch,
                                                                          tmp_path):
    partial = {"first": slices["first"], "second": {**slices["second"], "random": str(tmp_path / "not-run")}}
    report = run_script(benchmark_script, monkeypatch, tmp_path, partial)
    assert report["slices"]["second"]["missing"] == ["random"]
    assert "adaswitch_minus_random" not in report["slices"]["second"]
    assert "random" not in report["pooled"]["methods"] and report["pooled"]["methods"]["adaswitch"]["n"] == 4


def test_a_started_run_without_records_is_missing_and_a_stopped_one_says_so(slices, benchmark_script, monkeypatch,
                                                                            tmp_path):
    import shutil

    empty, stopped = tmp_path / "empty", tmp_path / "stopped"
    shutil.copytree(slices["second"]["random"], empty)
    (empty / "records.jsonl").write_text("")
    shutil.copytree(slices["second"]["cloud"], stopped)
    first_line = (stopped / "records.jsonl").read_text().splitlines(keepends=True)[0]
    (stopped / "records.jsonl").write_text(first_line)
    report = run_script(benchmark_script, monkeypatch, tmp_path,
                        {"second": {**slices["second"], "random": str(empty), "cloud": str(stopped)}})
    second = report["slices"]["second"]
    assert second["missing"] == ["random"] and "adaswitch_minus_random" not in second
    assert "random_gap_recovered" not in second
    assert second["methods"]["cloud"]["n"] == 1 and second["methods"]["cloud"]["planned"] == 2
    assert not second["methods"]["cloud"]["complete"]
    assert second["gap_questions"] == 1  # the gap is measured on the questions the stopped run answered


def test_a_run_given_without_its_method_is_refused(benchmark_script, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["replication.py", "--slice", "a", "runs/x", "--out", str(tmp_path / "r.json")])
    with pytest.raises(SystemExit, match="METHOD=RUN_DIR"):
        benchmark_script("replication").main()


def test_a_plan_reads_its_decided_runs_and_writes_its_own_file(benchmark_script, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # none of the decided runs exists here
    monkeypatch.setattr(sys, "argv", ["replication.py", "--plan", "math500"])
    benchmark_script("replication").main()
    report = json.loads((tmp_path / "docs/results/replication-math500.json").read_text())
    assert report["plan"] == "math500" and list(report["slices"]) == ["first-100", "100-299"]
    assert all(part["missing"] == ["adaswitch", "random", "local", "cloud"] for part in report["slices"].values())
    assert not (tmp_path / "docs/results/replication-gsm8k.json").exists()
