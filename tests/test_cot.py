"""The chain-of-thought baseline: prompt, extraction, trace shape, runner, sweep and command line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from adaswitch.backends.fake import FakeBackend, FakeReply, FakeScript
from adaswitch.benchmarks import get_benchmark
from adaswitch.cli import _register, cli
from adaswitch.cot import COT_MODE, NO_ANSWER, CotSettings, answer_kind, cot_messages, solve_cot
from adaswitch.documents import Document
from adaswitch.grading.records import EvalRecord, RunConfig
from adaswitch.evaluation.runner import Method, RunMismatch, run_method
from adaswitch.evaluation.sweep import run_sweep
from adaswitch.model import Model
from adaswitch.parsing import ANSWER_METHODS
from adaswitch.solver import Solver, SolverSettings

REASONED = "She sold 48 in April and 24 in May.\n48 + 24 = 72.\nAnswer: 72"


def model(text: str = REASONED, role: str = "local", **script) -> Model:
    return Model(FakeBackend(FakeScript(default=FakeReply(text=text), **script), name=f"fake-{role}"), role)


def solver(local_text: str = REASONED, cloud_text: str = "Answer: 5") -> Solver:
    local = FakeBackend(FakeScript(default=FakeReply(text=local_text)), name="fake-local")
    cloud = FakeBackend(FakeScript(default=FakeReply(text=cloud_text)), name="fake-cloud")
    return Solver(SolverSettings(local="fake", cloud="fake", mode="cot"), local=local, cloud=cloud)


def read_records(run_dir) -> list[EvalRecord]:
    return [EvalRecord.model_validate_json(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]


# -- prompt ------------------------------------------------------------------------------------


def test_the_prompt_asks_for_a_last_answer_line_in_the_benchmarks_form():
    math = cot_messages("What is 2 + 3?", answer_kind("math"))
    assert [m.role for m in math] == ["system", "user"]
    assert "step by step" in math[0].content and "'Answer: ...'" in math[0].content
    assert "number" in math[0].content and math[1].content == "Question: What is 2 + 3?"
    assert "LaTeX" in cot_messages("q", answer_kind("math", "math500"))[0].content
    assert answer_kind("qa", "strategyqa") == "yesno" and answer_kind("qa", "hotpotqa") == "phrase"


def test_context_paragraphs_come_before_the_question():
    docs = [Document(title="Blue Harbor", text="A 1987 film by Anna Lind."), Document(title="", text="Loose fact.")]
    user = cot_messages("Who directed Blue Harbor?", "phrase", docs)[1].content
    assert user.startswith("Context:\n[Blue Harbor] A 1987 film by Anna Lind.\nLoose fact.\n\n")
    assert user.endswith("Question: Who directed Blue Harbor?")


# -- one question ------------------------------------------------------------------------------


def test_one_completion_gives_a_one_step_trace_with_the_extracted_answer():
    m = model()
    trace = solve_cot(m, "How many clips?", "math", question_id="q1")
    request = m.backend.requests[0]
    assert len(m.backend.requests) == 1 and request.max_tokens == 400 and request.temperature == 0.0
    assert not request.continue_final and request.stop == []
    assert trace.mode == COT_MODE and trace.id == "q1" and trace.status == "finished"
    assert trace.answer == "72" and trace.answer_method == "answer_phrase" and trace.answer_source == "finish"
    [step] = trace.steps
    assert step.author == "local" and step.index == 1 and step.text == REASONED
    assert step.action.tool == "finish" and step.action.argument == "72" and step.p_error is None
    assert [c.purpose for c in step.calls] == ["step"] and step.calls[0].completion_tokens == len(REASONED.split())
    assert trace.usage["local"].calls == 1 and trace.usage["cloud"].calls == 0
    assert trace.local_model == "fake-local" and trace.cloud_model is None


@pytest.mark.parametrize(
    ("text", "family", "answer", "method", "source"),
    [
        ("So the total is \\boxed{42}.", "math", "42", "boxed", "finish"),
        ("First 3, then 4, so 7 in all", "math", "7", "last_number", "fallback"),
        ("I cannot tell from this.", "math", None, "none", "none"),
        ("The film was directed by Anna Lind.\nAnswer: Anna Lind", "qa", "Anna Lind", "answer_phrase", "finish"),
        # a QA reply with no answer phrase is read as its last line (small models reply with the span)
        ("Paris is big and 2 rivers cross it.", "qa", "Paris is big and 2 rivers cross it", "last_line", "fallback"),
        ("It is this one.\n\n**Animorphs**", "qa", "Animorphs", "last_line", "fallback"),
        ("  \n ", "qa", None, "none", "none"),
        ("Paris is big and 2 rivers cross it.", "math", "2", "last_number", "fallback"),
    ],
)
def test_how_the_answer_was_read_is_recorded_and_a_failed_read_stays_empty(text, family, answer, method, source):
    trace = solve_cot(model(text), "q", family)
    assert (trace.answer, trace.answer_method, trace.answer_source) == (answer, method, source)
    assert trace.answer_method in ANSWER_METHODS
    step = trace.steps[0]
    if answer is None:
        assert step.action is None and step.parse_error == NO_ANSWER
    else:
        assert step.action.argument == answer and step.parse_error is None


def test_a_reply_cut_by_the_token_budget_reads_as_the_step_limit():
    trace = solve_cot(model("one two three four five six 7"), "q", "math", settings=CotSettings(max_tokens=4))
    assert trace.status == "max_steps" and trace.answer is None
    cut_after_answer = solve_cot(model("Answer: 9 and more words"), "q", "math", settings=CotSettings(max_tokens=2))
    assert cut_after_answer.status == "max_steps" and cut_after_answer.answer == "9"
    assert cut_after_answer.answer_source == "fallback"


def test_a_failing_model_gives_an_error_trace_not_a_crash():
    m = Model(FakeBackend(FakeScript(faults=["auth"])), "cloud")
    trace = solve_cot(m, "q", "math", local_model="small")
    assert trace.status == "error" and trace.answer is None and "auth" in trace.error
    assert trace.steps[0].author == "cloud" and trace.steps[0].faults[-1].outcome == "failed_question"
    assert trace.local_model == "small" and trace.cloud_model == "fake"


def test_the_solver_runs_cot_on_the_chosen_model():
    s = solver()
    seen = []
    local = s.solve("q", mode="cot", on_step=seen.append)
    assert local.answer == "72" and local.steps[0].author == "local" and seen == local.steps
    cloud = s.solve_cot("q", model="cloud")
    assert cloud.answer == "5" and cloud.steps[0].author == "cloud"
    assert cloud.local_model == "fake-local" and cloud.cloud_model == "fake-cloud"
    assert cloud.usage["cloud"].calls == 1 and cloud.usage["local"].calls == 0
    no_cloud = Solver(SolverSettings(local="fake", cloud=None, mode="cot", cot_model="cloud"))
    with pytest.raises(ValueError, match="needs a cloud model"):
        no_cloud.solve("q")


# -- the harness -------------------------------------------------------------------------------


def test_cot_runs_are_normal_records_and_reports(tmp_path):
    from adaswitch.evaluation.report import build_report, markdown

    bench = get_benchmark("gsm8k")
    samples = bench.load(limit=2)
    outcome = run_method(tmp_path / "cot", bench, samples, Method("cot"), solver())
    assert outcome.ran == 2 and not outcome.failed
    config = RunConfig.model_validate_json((tmp_path / "cot" / "config.json").read_text())
    assert config.method == "cot" and config.label == "cot" and config.cot_model == "local"
    assert config.cloud_model is None
    records = read_records(tmp_path / "cot")
    assert [r.prediction for r in records] == ["72", "72"] and records[0].final_check_p is None
    assert records[0].extraction.ok and records[0].score.correct == (samples[0].answer == "72")
    assert "cot" in markdown(build_report([tmp_path / "cot"]))


def test_cot_on_the_cloud_is_its_own_run(tmp_path):
    bench = get_benchmark("gsm8k")
    samples = bench.load(limit=1)
    run_method(tmp_path / "run", bench, samples, Method("cot", model="cloud"), solver())
    config = RunConfig.model_validate_json((tmp_path / "run" / "config.json").read_text())
    assert config.label == "cot-cloud" and config.cloud_model == "fake-cloud"
    assert read_records(tmp_path / "run")[0].trace.steps[0].author == "cloud"
    with pytest.raises(RunMismatch, match="cot_model"):
        run_method(tmp_path / "run", bench, samples, Method("cot", model="local"), solver())


def test_qa_benchmarks_put_the_paragraphs_in_the_prompt_and_score_f1(tmp_path):
    bench = get_benchmark("hotpotqa")
    [sample] = bench.load(limit=1)
    s = solver(local_text=f"Reading the context.\nAnswer: {sample.answer}")
    run_method(tmp_path / "run", bench, [sample], Method("cot"), s)
    [record] = read_records(tmp_path / "run")
    assert record.score.correct and record.score.f1 == 1.0
    prompt = s.local.backend.requests[0].messages[1].content
    assert all(doc.text in prompt for doc in sample.knowledge)


def test_math500_asks_for_latex_and_uses_its_own_scorer(tmp_path):
    bench = get_benchmark("math500")
    [sample] = bench.load(limit=1)
    s = solver(local_text=f"Working it out.\nAnswer: ${sample.answer}$")
    run_method(tmp_path / "run", bench, [sample], Method("cot"), s)
    [record] = read_records(tmp_path / "run")
    assert record.score.correct
    assert "LaTeX" in s.local.backend.requests[0].messages[0].content


def test_sweep_runs_cot_only_when_asked(tmp_path):
    bench = get_benchmark("gsm8k")
    run_sweep(tmp_path, bench, bench.load(limit=1), solver(), thresholds=[0.5], methods=["local", "cot"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cot", "local"]


# -- command line ------------------------------------------------------------------------------


def test_eval_and_sweep_commands_take_mode_cot_and_the_cot_model(tmp_path):
    local, cloud = tmp_path / "local.json", tmp_path / "cloud.json"
    local.write_text(json.dumps({"default": {"text": "Answer: 72"}}))
    cloud.write_text(json.dumps({"default": {"text": "Answer: 5"}}))
    _register()
    common = ["--limit", "1", "--cache", "off", "--no-progress", "--local", f"fake:{local}", "--cloud", f"fake:{cloud}"]
    result = CliRunner().invoke(cli, ["eval", "gsm8k", "--mode", "cot", "--out", str(tmp_path / "a"), *common],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert read_records(tmp_path / "a")[0].prediction == "72"
    on_cloud = ["--mode", "cot", "--cot-model", "cloud", "--cot-max-tokens", "50"]
    result = CliRunner().invoke(cli, ["eval", "gsm8k", *on_cloud, "--out", str(tmp_path / "b"), *common],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [record] = read_records(tmp_path / "b")
    assert record.prediction == "5" and record.trace.settings["max_tokens"] == 50
    result = CliRunner().invoke(cli, ["sweep", "gsm8k", "--methods", "local,cot", "--out", str(tmp_path / "s"),
                                      *common], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s" / "cot" / "records.jsonl").is_file() and "cot" in result.output


# -- the tiny real model -----------------------------------------------------------------------


@pytest.mark.realmodel
def test_smollm2_answers_one_question_in_free_text():
    pytest.importorskip("llama_cpp")
    from adaswitch.embedded import EmbeddedModelError

    settings = SolverSettings(local="smollm2-135m", cloud=None, mode="cot", cot_max_tokens=48)
    settings.local_endpoint.n_ctx = 1024
    try:
        s = Solver(settings)
    except EmbeddedModelError as err:
        pytest.skip(str(err))
    with s:
        trace = s.solve("A box holds 12 eggs. Tom buys 3 boxes. How many eggs does he have?")
    [step] = trace.steps
    assert trace.status in ("finished", "max_steps") and step.author == "local" and step.text
    assert 0 < step.calls[0].completion_tokens <= 48
    assert trace.answer_method in ANSWER_METHODS
    assert (trace.answer is None) == (trace.answer_method == "none") == (step.action is None)
