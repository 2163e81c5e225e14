"""The evaluation runner: records, resume after a real SIGKILL, torn lines, cache, concurrency."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from adaswitch.backends.fake import FakeBackend, FakeReply, FakeScript
from adaswitch.benchmarks import get_benchmark
from adaswitch.response_cache import ResponseCache
from adaswitch.grading.records import EvalRecord, RunConfig
from adaswitch.evaluation.runner import Method, RunMismatch, completed_ids, run_method, run_methods
from adaswitch.evaluation.sweep import run_sweep
from adaswitch.solver import Solver, SolverSettings

# a local agent that answers 18 to everything, in two steps
SCRIPT = {
    "rules": [
        {"match": "Thought 1:$", "text": " Compute.\nAction 1: calculate[9 * 2]"},
        {"match": "Thought 2:$", "text": " Done.\nAction 2: finish[18]"},
    ],
    "probe_default": {"Yes": 0.3, "No": 0.7},
}


def solver(cache: ResponseCache | None = None, **script) -> Solver:
    local = FakeBackend(FakeScript(**{**SCRIPT, **script}), name="fake-local")
    cloud = FakeBackend(FakeScript(**SCRIPT), name="fake-cloud")
    return Solver(SolverSettings(local="fake", cloud="fake"), local=local, cloud=cloud, cache=cache)


def samples(n: int):
    return get_benchmark("gsm8k").load(limit=n)


def read_records(run_dir: Path) -> list[EvalRecord]:
    lines = (run_dir / "records.jsonl").read_text().splitlines()
    return [EvalRecord.model_validate_json(line) for line in lines if line.strip()]


def test_a_run_writes_config_and_one_scored_record_per_sample(tmp_path):
    bench, slice_ = get_benchmark("gsm8k"), samples(3)
    outcome = run_method(tmp_path / "run", bench, slice_, Method("local"), solver())
    assert outcome.ran == 3 and outcome.failed == []
    config = RunConfig.model_validate_json((tmp_path / "run" / "config.json").read_text())
    assert config.sample_ids == [s.id for s in slice_] and config.method == "local"
    records = read_records(tmp_path / "run")
    assert [r.sample_id for r in records] == config.sample_ids
    first = records[0]
    assert first.prediction == "18" and first.gold == slice_[0].answer
    assert first.score.correct == (slice_[0].answer == "18")
    assert first.extraction.ok and first.final_check_p == pytest.approx(0.7)
    assert first.final_check_usage.calls == 1


def test_resume_skips_done_samples_and_cuts_a_torn_line(tmp_path):
    bench, slice_ = get_benchmark("gsm8k"), samples(4)
    run_dir = tmp_path / "run"
    run_method(run_dir, bench, slice_[:2], Method("local"), solver())
    # the slice grows only through a new directory: config mismatch is an error
    with pytest.raises(RunMismatch):
        run_method(run_dir, bench, slice_, Method("local"), solver())
    records_file = run_dir / "records.jsonl"
    with records_file.open("a") as f:
        f.write('{"version": 1, "sample_id": "torn')
    assert len(completed_ids(records_file)) == 2
    assert records_file.read_text().endswith("\n")
    outcome = run_method(run_dir, bench, slice_[:2], Method("local"), solver())
    assert outcome.done_before == 2 and outcome.ran == 0
    assert len(read_records(run_dir)) == 2


def test_a_run_keeps_every_machine_that_solved_some_of_its_questions(tmp_path, monkeypatch):
    import adaswitch.evaluation.runner as runner

    bench, slice_ = get_benchmark("gsm8k"), samples(3)
    run_dir = tmp_path / "run"
    monkeypatch.setattr(runner, "describe_machine", lambda: "Intel Xeon, 2 CPUs, avx2, avx512f")
    run_method(run_dir, bench, slice_[:3], Method("local"), solver(), workers=1)
    machines = lambda: RunConfig.model_validate_json((run_dir / "config.json").read_text()).machines  # noqa: E731
    assert machines() == ["Intel Xeon, 2 CPUs, avx2, avx512f"]
    # stopped after one record, then resumed elsewhere: the second machine joins the trail
    records = run_dir / "records.jsonl"
    records.write_text(records.read_text().splitlines(keepends=True)[0])
    monkeypatch.setattr(runner, "describe_machine", lambda: "AMD EPYC, 2 CPUs, avx2")
    assert run_method(run_dir, bench, slice_[:3], Method("local"), solver()).ran == 2
    assert machines() == ["Intel Xeon, 2 CPUs, avx2, avx512f", "AMD EPYC, 2 CPUs, avx2"]
    # a machine that finds nothing left to solve is not recorded
    monkeypatch.setattr(runner, "describe_machine", lambda: "Apple M2, 8 CPUs")
    assert run_method(run_dir, bench, slice_[:3], Method("local"), solver()).ran == 0
    assert machines() == ["Intel Xeon, 2 CPUs, avx2, avx512f", "AMD EPYC, 2 CPUs, avx2"]


def test_the_response_cache_serves_a_repeated_run(tmp_path):
    bench, slice_ = get_benchmark("gsm8k"), samples(3)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    first = solver(cache)
    run_method(tmp_path / "a", bench, slice_, Method("local"), first)
    calls_first = len(first.local.backend.requests)
    second = solver(cache)
    run_method(tmp_path / "b", bench, slice_, Method("local"), second)
    assert calls_first > 0 and len(second.local.backend.requests) == 0
    cached = [c.cached for r in read_records(tmp_path / "b") for s in r.trace.steps for c in s.calls]
    assert cached and all(cached)
    assert [r.prediction for r in read_records(tmp_path / "b")] == [r.prediction for r in read_records(tmp_path / "a")]
    cache.close()


class CountingBackend(FakeBackend):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.active = 0
        self.peak = 0
        self._count_lock = threading.Lock()

    def complete(self, request):
        with self._count_lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            time.sleep(0.05)
            return super().complete(request)
        finally:
            with self._count_lock:
                self.active -= 1


def test_http_style_backends_run_questions_concurrently(tmp_path):
    local = CountingBackend(FakeScript(**SCRIPT), name="fake-local")
    s = Solver(SolverSettings(local="fake", cloud=None, mode="local"), local=local)
    outcome = run_method(tmp_path / "run", get_benchmark("gsm8k"), samples(8), Method("local"), s, workers=4)
    assert outcome.ran == 8 and local.peak > 1
    assert sorted(r.sample_id for r in read_records(tmp_path / "run")) == sorted(x.id for x in samples(8))


def test_several_methods_share_one_pool_and_each_gets_its_own_records(tmp_path):
    in_flight: list[str] = []
    overlapped = threading.Event()

    class Watched(FakeBackend):
        def complete(self, request):
            in_flight.append(self.name)
            if len(set(in_flight)) > 1:
                overlapped.set()
            try:
                time.sleep(0.05)
                return super().complete(request)
            finally:
                in_flight.remove(self.name)

    local, cloud = Watched(FakeScript(**SCRIPT), name="fake-local"), Watched(FakeScript(**SCRIPT), name="fake-cloud")
    s = Solver(SolverSettings(local="fake", cloud="fake"), local=local, cloud=cloud)
    runs = [(tmp_path / "local", Method("local")), (tmp_path / "cloud", Method("cloud"))]
    outcomes = run_methods(runs, get_benchmark("gsm8k"), samples(3), s, workers=6)
    assert [o.ran for o in outcomes] == [3, 3] and not any(o.failed for o in outcomes)
    # both methods' questions were in flight together: the pool did not wait for the first method to end
    assert overlapped.is_set()
    for run_dir, _ in runs:
        assert sorted(r.sample_id for r in read_records(run_dir)) == sorted(x.id for x in samples(3))
    assert {r.trace.mode for r in read_records(tmp_path / "cloud")} == {"cloud"}
    again = run_methods(runs, get_benchmark("gsm8k"), samples(3), s, workers=6)
    assert [(o.done_before, o.ran) for o in again] == [(3, 0), (3, 0)]


def test_sweep_runs_every_method_and_matches_random_to_the_switch_rate(tmp_path):
    outcomes = run_sweep(tmp_path, get_benchmark("gsm8k"), samples(2), solver(), thresholds=[0.5, 0.9])
    names = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    # p(error) is 0.7: every step switches at 0.5, none at 0.9
    assert names == ["adaswitch@0.5", "adaswitch@0.9", "cloud", "local", "random@0", "random@1", "self-reflection@0.9"]
    assert all(not o.failed for o in outcomes)


def test_a_killed_eval_resumes_with_exactly_one_record_per_sample(tmp_path):
    script = tmp_path / "slow.json"
    script.write_text(json.dumps({**SCRIPT, "delay_s": 0.15}))
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "adaswitch.cli.__main__", "eval", "gsm8k", "--limit", "10", "--out", str(run_dir),
           "--local", f"fake:{script}", "--mode", "local", "--workers", "3", "--cache", "off", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = run_dir / "records.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if records.exists() and records.read_text().count("\n") >= 3:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    done_at_kill = records.read_text().count("\n")
    assert 3 <= done_at_kill < 10
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    ids = [r.sample_id for r in read_records(run_dir)]
    assert len(ids) == 10 and len(set(ids)) == 10
    assert set(ids) == {s.id for s in samples(10)}


def test_sweep_command_writes_runs_and_a_report(tmp_path):
    from click.testing import CliRunner

    from adaswitch.cli import _register, cli

    script = tmp_path / "s.json"
    script.write_text(json.dumps(SCRIPT))
    _register()
    result = CliRunner().invoke(
        cli,
        ["sweep", "gsm8k", "--out", str(tmp_path / "sweep"), "--limit", "2", "--thresholds", "0.5",
         "--local", f"fake:{script}", "--cloud", f"fake:{script}", "--cache", "off", "--no-progress"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "sweep" / "report.html").exists()
    assert "adaswitch@0.5" in result.output and "local" in result.output
