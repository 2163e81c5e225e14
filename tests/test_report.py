"""Run directories read back, and the report built from a tiny sweep written by the test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from adaswitch.backends.fake import FakeBackend, FakeReply, FakeScript
from adaswitch.benchmarks import get_benchmark
from adaswitch.benchmarks.base import Sample
from adaswitch.cli import _register, cli
from adaswitch.engine import Collaboration, EngineSettings
from adaswitch.grading.records import CONFIG_FILE, RECORDS_FILE, EvalRecord, RunConfig
from adaswitch.evaluation.report import build_report, markdown, write_html, write_markdown
from adaswitch.grading.rundir import RunDirError, load_run
from adaswitch.introspection import VerifierIntrospector
from adaswitch.model import Model, RetryPolicy
from adaswitch.policies import make_policy

SAMPLES = [
    Sample(id="r-0", benchmark="gsm8k", family="math", answer="18", gold_values=["18"],
           question="Ann has 9 apples and doubles them. How many? <script>alert(1)</script>"),
    Sample(id="r-1", benchmark="gsm8k", family="math", answer="18", gold_values=["18"],
           question="Bob has 6 pears and triples them. How many?"),
    Sample(id="r-2", benchmark="gsm8k", family="math", answer="9", gold_values=["9"],
           question="Cy has 3 bags of 3 plums. How many?"),
]
# the local agent answers 18 to everything and doubts itself on r-2; the cloud is always right
HARD = {"r-0": 0.2, "r-1": 0.2, "r-2": 0.9}


def steps(first: str, answer: str) -> list[FakeReply]:
    return [FakeReply(match=r"Thought 1:$", text=f" Compute.\nAction 1: calculate[{first}]"),
            FakeReply(match=r"Thought 2:$", text=f" Done.\nAction 2: finish[{answer}]")]


def solve(sample: Sample, mode: str, threshold: float = 0.5, switch_rate: float = 0.0):
    retry = RetryPolicy(max_attempts=1, base_delay_s=0.0)
    p = HARD[sample.id]
    local = FakeBackend(FakeScript(rules=steps("9 * 2", "18"), probe_default={"Yes": 1 - p, "No": p}), "fake-local")
    cloud_answer = ("3 * 3", "9") if sample.answer == "9" else ("9 * 2", "18")
    cloud = FakeBackend(FakeScript(rules=steps(*cloud_answer)), "fake-cloud")
    policy = make_policy(mode, threshold=threshold, switch_rate=switch_rate)
    engine = Collaboration(Model(local, "local", retry), Model(cloud, "cloud", retry), policy,
                           VerifierIntrospector() if policy.needs_probability else None, EngineSettings())
    return engine.solve(sample.question, question_id=sample.id)


def write_run(run_dir: Path, method: str, threshold: float | None = None, switch_rate: float | None = None) -> Path:
    run_dir.mkdir(parents=True)
    config = RunConfig(benchmark="gsm8k", method=method, threshold=threshold, switch_rate=switch_rate,
                       introspection="verifier" if threshold is not None else None,
                       local_model="qwen2.5-coder-0.5b", cloud_model=None if method == "local" else "qwen2.5-coder-1.5b",
                       local_parameters=494_000_000, cloud_parameters=1_540_000_000,
                       sample_ids=[s.id for s in SAMPLES])
    (run_dir / CONFIG_FILE).write_text(config.model_dump_json(indent=2))
    bench = get_benchmark("gsm8k")
    with (run_dir / RECORDS_FILE).open("w") as out:
        for sample in SAMPLES:
            trace = solve(sample, method, threshold or 0.5, switch_rate or 0.0)
            score = bench.score(trace.answer, sample)
            record = EvalRecord(sample_id=sample.id, benchmark="gsm8k", gold=sample.answer, prediction=trace.answer,
                                extraction=score.extraction, score=score, trace=trace,
                                final_check_p=HARD[sample.id] if method == "local" else None)
            out.write(record.model_dump_json() + "\n")
    return run_dir


@pytest.fixture
def runs(tmp_path) -> list[Path]:
    root = tmp_path / "sweep"
    return [write_run(root / "local", "local"), write_run(root / "cloud", "cloud"),
            write_run(root / "adaswitch@0.5", "adaswitch", threshold=0.5),
            write_run(root / "random@0.3", "random", switch_rate=0.3)]


# ---------------------------------------------------------------- run directories


def test_load_run_reads_config_and_records(runs):
    config, records = load_run(runs[0])
    assert config.method == "local" and [r.sample_id for r in records] == ["r-0", "r-1", "r-2"]


def test_load_run_skips_a_torn_last_line(runs):
    path = runs[0] / RECORDS_FILE
    path.write_text(path.read_text() + '{"version": 1, "sample_id": "r-9", "tra')
    assert len(load_run(runs[0])[1]) == 3


def test_load_run_rejects_duplicates_and_broken_lines(runs):
    path = runs[0] / RECORDS_FILE
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines + lines[:1]))
    with pytest.raises(RunDirError, match="more than once: r-0"):
        load_run(runs[0])
    path.write_text("".join(lines[:1] + ["{not json\n"] + lines[1:]))
    with pytest.raises(RunDirError, match=r":2: not a record"):
        load_run(runs[0])
    with pytest.raises(RunDirError, match="no config.json"):
        load_run(runs[0].parent)


# ---------------------------------------------------------------- the report


def test_report_rows_baselines_and_curves(runs):
    report = build_report(runs)
    (bench,) = report.benchmarks
    rows = {r.label: r for r in bench.rows}
    assert list(rows)[:4] == ["local", "cloud", "adaswitch@0.5", "random@0.3"]
    assert any(label.startswith("cascade@") for label in rows) and "oracle" in rows
    assert rows["local"].accuracy == pytest.approx(2 / 3) and rows["cloud"].accuracy == 1.0
    assert rows["adaswitch@0.5"].accuracy == 1.0 and 0 < rows["adaswitch@0.5"].cloud_share_steps < 1
    assert rows["oracle"].accuracy == 1.0 and rows["local"].cloud_share_tokens == 0.0
    assert rows["cloud"].cloud_share_flops == 1.0 and rows["adaswitch@0.5"].usd is not None
    assert set(bench.curves) >= {"adaswitch", "cascade", "random"}
    assert bench.curves["adaswitch"].apgr is not None
    # the test's questions are not in the GSM8K data (or the data is absent): a note says so
    assert any("any-task rules" in note for note in bench.notes)


def test_markdown_has_a_row_per_method(runs, tmp_path):
    report = build_report(runs)
    text = markdown(report)
    for label in ("local", "cloud", "adaswitch@0.5", "random@0.3", "oracle"):
        assert f"| {label} |" in text
    assert re.search(r"\| cascade@[\d.]+ \|", text) and "APGR" in text and "## gsm8k" in text
    write_markdown(report, tmp_path / "r.md")
    assert (tmp_path / "r.md").read_text() == text


def test_html_is_one_self_contained_file_with_plots_and_questions(runs, tmp_path):
    out = tmp_path / "html"
    out.mkdir()
    write_html(build_report(runs), out / "report.html")
    assert [p.name for p in out.iterdir()] == ["report.html"]
    page = (out / "report.html").read_text()
    assert page.count("<svg") == 1 and "<polyline" in page and "cloud share of processed tokens" in page
    assert "<details>" in page and "r-2" in page and "replaced local proposal" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert not re.search(r"(src|href)=\"https?:|<link", page)


def test_report_command_writes_both_files_to_the_common_parent(runs):
    _register()
    result = CliRunner().invoke(cli, ["report", *map(str, runs)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    parent = runs[0].parent
    assert (parent / "report.md").is_file() and (parent / "report.html").is_file()
    assert "| adaswitch@0.5 |" in result.output


def test_report_command_reports_a_bad_run_directory(tmp_path):
    _register()
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "empty")])
    assert result.exit_code != 0 and "no config.json" in result.output


def table_cells(text: str, first_header: str, label: str) -> dict[str, str]:
    """The cells of the row ``label`` in the Markdown table whose first header is ``first_header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    header = [c.strip() for c in lines[start].split("|")]
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.split("|")]
        if cells[1] == label:
            return dict(zip(header, cells))
    raise AssertionError(f"no row {label} under {first_header}")


def test_markdown_shows_the_auroc_up_to_the_first_error_and_the_position_baseline(runs):
    report = build_report(runs)
    (bench,) = report.benchmarks
    i = next(i for i, r in enumerate(bench.rows) if r.label == "adaswitch@0.5")
    bench.rows[i] = bench.rows[i].model_copy(update={"auroc": 0.91, "auroc_n": 113, "auroc_forced": 9,
                                                     "auroc_first": 0.75, "auroc_first_n": 47,
                                                     "auroc_first_forced": 7, "auroc_position": 0.87,
                                                     "auroc_first_position": 0.68,
                                                     "auroc_first_interval": (0.6, 0.875),
                                                     "auroc_within_wrong": 0.58, "auroc_within_wrong_n": 30,
                                                     "auroc_within_wrong_trajectories": 6,
                                                     "auroc_within_wrong_position": 0.71})
    text = markdown(report)
    cells = table_cells(text, "method", "adaswitch@0.5")
    assert cells["AUROC (n)"] == "0.910 (113)" and cells["forced steps: all / to 1st error"] == "9 / 7"
    assert cells["AUROC to 1st error, signal only (n)"] == "0.750 [0.60, 0.88] (47)"
    assert cells["AUROC within wrong trajectories (trajectories)"] == "0.580 (6)"
    assert cells["step position alone: signal only / to 1st error / within wrong"] == "0.87 / 0.68 / 0.71"
    assert "'to 1st error' keeps each trajectory's steps" in text


def test_report_pairs_every_row_with_the_local_run(runs):
    report = build_report(runs)
    (bench,) = report.benchmarks
    rows = {r.label: r for r in bench.rows}
    paired = {d.label: d for d in bench.paired}
    assert set(paired) == set(rows) - {"local"}
    for label, d in paired.items():
        assert d.reference == "local" and d.n == 3
        assert d.difference == pytest.approx(rows[label].accuracy - rows["local"].accuracy)
        assert d.interval[0] <= d.difference <= d.interval[1]
    # three questions decide nothing: every interval holds 0, and the table marks each one
    text = markdown(report)
    for label, d in paired.items():
        assert d.includes_zero
        assert table_cells(text, "method vs local", label)["interval contains 0"] == "yes"


def test_a_clear_paired_difference_is_not_marked(runs, tmp_path):
    report = build_report(runs)
    (bench,) = report.benchmarks
    clear = bench.paired[0].model_copy(update={"difference": 0.3, "interval": (0.1, 0.5)})
    bench.paired[0] = clear
    cells = table_cells(markdown(report), "method vs local", clear.label)
    assert cells["interval contains 0"] == "no" and cells["difference (points)"] == "+30.0"
    write_html(report, tmp_path / "report.html")
    assert "method vs local" in (tmp_path / "report.html").read_text()
