"""The learning pipeline's driver and CLI on fake backends: stage records, resuming, mismatches."""

from __future__ import annotations

import json
import time

from click.testing import CliRunner

from adaswitch.backends.fake import FakeReply, FakeScript
from adaswitch.cli import _register, cli
from adaswitch.learning.journal import Journal


def _scripts(tmp_path):
    local = FakeScript(default=FakeReply(text=" I guess.\nAction 1: finish[1]"))
    cloud = FakeScript(default=FakeReply(text=" From the hint.\nAction 1: finish[2]"))
    paths = []
    for name, script in (("local", local), ("cloud", cloud)):
        path = tmp_path / f"{name}.json"
        path.write_text(script.model_dump_json())
        paths.append(str(path))
    return paths


def _invoke(args):
    _register()
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_exam_stage_records_its_figures_and_a_rerun_skips_it(tmp_path):
    local, cloud = _scripts(tmp_path)
    work = tmp_path / "work"
    args = ["learn", "exam", str(work), "--local", f"fake:{local}", "--cloud", f"fake:{cloud}",
            "--skip-practice", "--exam-questions", "3", "--no-progress"]
    result = _invoke(args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((work / "pipeline.json").read_text())
    exam = manifest["stages"]["exam"]
    assert exam["status"] == "done" and exam["inputs"]["questions"] == 3
    # finish[1] is wrong on these GSM8K questions: each first step is a labelled mistake, then corrected
    assert exam["figures"]["labelled_steps"] == 3 and exam["figures"]["wrong_steps"] == 3
    assert exam["figures"]["records_by_kind"] == {"judgment": 3, "correction": 3}
    rows = Journal(work / "exam" / "journal.jsonl").rows()
    assert len(rows) == 3

    again = _invoke(args)
    assert again.exit_code == 0
    assert json.loads((work / "pipeline.json").read_text())["stages"]["exam"]["finished_at"] == exam["finished_at"]
    assert len(Journal(work / "exam" / "journal.jsonl").rows()) == 3


def test_a_work_directory_refuses_other_settings(tmp_path):
    local, cloud = _scripts(tmp_path)
    work = tmp_path / "work"
    base = ["learn", "exam", str(work), "--local", f"fake:{local}", "--cloud", f"fake:{cloud}", "--skip-practice",
            "--no-progress"]
    assert _invoke(base + ["--exam-questions", "1"]).exit_code == 0
    result = CliRunner().invoke(cli, base + ["--exam-questions", "2"])
    assert result.exit_code != 0 and "exam_questions" in result.output


def test_a_resumed_exam_runs_only_the_missing_questions(tmp_path):
    local, cloud = _scripts(tmp_path)
    work = tmp_path / "work"
    args = ["learn", "exam", str(work), "--local", f"fake:{local}", "--cloud", f"fake:{cloud}",
            "--skip-practice", "--exam-questions", "2", "--no-progress"]
    assert _invoke(args).exit_code == 0
    journal = work / "exam" / "journal.jsonl"
    first = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(first[0] + first[1][:20])  # a killed run: one row and a torn line
    manifest = json.loads((work / "pipeline.json").read_text())
    manifest["stages"]["exam"]["status"] = "running"
    (work / "pipeline.json").write_text(json.dumps(manifest))
    assert _invoke(args).exit_code == 0
    rows = Journal(journal).rows()
    assert [r["sample_id"] for r in rows] == [json.loads(first[0])["sample_id"], json.loads(first[1])["sample_id"]]


def test_bf16_and_an_uncapped_step_count_reach_the_fine_tuning_settings(tmp_path, monkeypatch):
    import adaswitch.learning.finetune as finetune_module

    local, cloud = _scripts(tmp_path)
    work = tmp_path / "work"
    options = [str(work), "--local", f"fake:{local}", "--cloud", f"fake:{cloud}", "--skip-practice",
               "--exam-questions", "2", "--no-progress", "--bf16", "off"]
    assert _invoke(["learn", "exam", *options]).exit_code == 0
    args = ["learn", "reflect", *options]
    seen = []

    def refuse(base, records, out_dir, settings, progress=True, overwrite=False, stop_by=None):
        seen.append(settings)
        raise RuntimeError("training is not what this test runs")

    monkeypatch.setattr(finetune_module, "finetune", refuse)
    result = CliRunner().invoke(cli, args)
    assert isinstance(result.exception, RuntimeError)
    assert [(s.bf16, s.max_steps, s.epochs) for s in seen] == [("off", None, 2.0)]  # no cap: the epochs decide
    manifest = json.loads((work / "pipeline.json").read_text())
    assert manifest["settings"]["bf16"] == "off" and manifest["stages"]["reflect-train"]["status"] == "failed"

    bad = CliRunner().invoke(cli, args[:-1] + ["sideways"])
    assert bad.exit_code == 2 and "sideways" in bad.output


def test_a_training_stopped_by_a_signal_is_recorded_as_stopped_and_says_how_to_resume(tmp_path, monkeypatch):
    import adaswitch.learning.finetune as finetune_module
    from adaswitch.learning.checkpoints import TrainingInterrupted

    local, cloud = _scripts(tmp_path)
    work = tmp_path / "work"
    options = [str(work), "--local", f"fake:{local}", "--cloud", f"fake:{cloud}", "--skip-practice",
               "--exam-questions", "2", "--no-progress", "--checkpoint-every", "5", "--train-threads", "1"]
    assert _invoke(["learn", "exam", *options]).exit_code == 0
    seen = []

    def stopped(base, records, out_dir, settings, progress=True, overwrite=False, stop_by=None):
        seen.append((settings, stop_by))
        raise TrainingInterrupted("training stopped by SIGINT at step 5 of 9; run it again")

    monkeypatch.setattr(finetune_module, "finetune", stopped)
    result = CliRunner().invoke(cli, ["learn", "reflect", *options])
    assert result.exit_code == 130
    assert "stopped: training stopped by SIGINT at step 5" in result.output
    assert [(s.checkpoint_every, s.threads, stop_by) for s, stop_by in seen] == [(5, 1, None)]
    entry = json.loads((work / "pipeline.json").read_text())["stages"]["reflect-train"]
    assert entry["status"] == "stopped" and "step 5 of 9" in entry["error"]

    def out_of_time(base, records, out_dir, settings, progress=True, overwrite=False, stop_by=None):
        seen.append((settings, stop_by))
        raise TrainingInterrupted("training stopped to keep within its time budget at step 7 of 9", budget=True)

    monkeypatch.setattr(finetune_module, "finetune", out_of_time)
    before = time.time()
    result = CliRunner().invoke(cli, ["learn", "reflect", *options, "--time-budget", "90"])
    assert result.exit_code == 75 and "time budget at step 7" in result.output
    deadline = seen[-1][1]
    assert before + 90 * 60 <= deadline <= time.time() + 90 * 60  # minutes from the command's start
    assert json.loads((work / "pipeline.json").read_text())["stages"]["reflect-train"]["status"] == "stopped"


def test_the_step_cap_binds_a_finished_training_but_not_an_exam_without_practice(tmp_path):
    local, cloud = _scripts(tmp_path)
    work = tmp_path / "work"
    options = [str(work), "--local", f"fake:{local}", "--cloud", f"fake:{cloud}", "--skip-practice",
               "--exam-questions", "1", "--no-progress"]
    assert _invoke(["learn", "exam", *options, "--max-train-steps", "5"]).exit_code == 0
    # the base model sat the exam: a longer training on the same exam reuses it
    assert _invoke(["learn", "exam", *options, "--max-train-steps", "7"]).exit_code == 0

    manifest = json.loads((work / "pipeline.json").read_text())
    manifest["stages"]["reflect-train"] = {"status": "done"}  # as if trained with a cap of 7
    (work / "pipeline.json").write_text(json.dumps(manifest))
    refused = CliRunner().invoke(cli, ["learn", "exam", *options, "--max-train-steps", "9"])
    assert refused.exit_code != 0 and "max_train_steps" in refused.output


def test_status_shows_each_stage_and_how_far_an_unfinished_training_got(tmp_path):
    import socket
    import subprocess
    import sys

    local, cloud = _scripts(tmp_path)
    work = tmp_path / "work"
    assert _invoke(["learn", "exam", str(work), "--local", f"fake:{local}", "--cloud", f"fake:{cloud}",
                    "--skip-practice", "--exam-questions", "1", "--no-progress"]).exit_code == 0
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    manifest = json.loads((work / "pipeline.json").read_text())
    manifest["stages"]["reflect-train"] = {"status": "running", "pid": int(gone.stdout), "host": socket.gethostname()}
    (work / "pipeline.json").write_text(json.dumps(manifest))
    checkpoints = work / "reflect" / "train" / "checkpoints"
    for step, loss in ((10, 0.9), (20, 0.357)):
        (checkpoints / f"checkpoint-{step}").mkdir(parents=True)
        timer = {"step_seconds": [200.0] * (step - 10) + [60.0] * 9 + [70.0], "seconds": 60.0 * step}
        (checkpoints / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps(
            {"global_step": step, "max_steps": 228, "log_history": [{"loss": 1.5}, {"loss": loss}],
             "stateful_callbacks": {"StepTimer": {"args": {}, "attributes": timer}}}))
    (checkpoints / "checkpoint-30").mkdir()  # being written: no state yet, and left alone

    result = _invoke(["learn", "status", str(work)])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split()[:2] == ["exam", "done"]
    assert lines[1].startswith("reflect-train   running")
    assert "process is gone" in lines[1] and "checkpoint at step 20 of 228, loss 0.357" in lines[1]
    # the pace of the last 10 steps (median 60 s), not the slow start: 208 steps left
    assert "60 s/step lately, about 3 h 28 min left" in lines[1]
    assert (checkpoints / "checkpoint-30").exists()

    missing = CliRunner().invoke(cli, ["learn", "status", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and "no pipeline.json" in missing.output
