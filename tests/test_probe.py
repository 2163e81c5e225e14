"""The hidden-state probe: fitting, saving, features on the fake backend, and switching through the Solver."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from adaswitch.backends.base import (
    BackendError,
    CompletionRequest,
    HiddenStateRequest,
    Message,
)
from adaswitch.backends.fake import FakeBackend, FakeReply, FakeScript
from adaswitch.cli import _register, cli
from adaswitch.grading.records import RunConfig
from adaswitch.evaluation.runner import Method, RunMismatch, run_method
from adaswitch.introspection import ProbeIntrospector, make_introspector
from adaswitch.learning.probe import (
    ModelIdentity,
    ProbeModel,
    auroc,
    cross_validate,
    fit_probe,
    fit_probe_on_features,
    fold_assignment,
    select_l2,
    fit_probe_on_steps,
    probe_features,
)
from adaswitch.learning.records import LabelledStep
from adaswitch.model import Model
from adaswitch.solver import Solver, SolverSettings

QUESTION = "Ann has 3 apples and buys 4 more. How many apples does she have?"
WRONG_STEP = r"calculate\[\d+ - \d+\]\nCheck:$"
"""The fake local model's hidden state moves along its first axis after a subtraction: the probe's
signal for a wrong step."""


def separable(n: int = 300, d: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) * rng.uniform(0.5, 20, d) + rng.uniform(-50, 50, d)
    y = (x - x.mean(0)) @ rng.standard_normal(d) > 0
    return x, y


# ---------------------------------------------------------------- fitting


def test_fit_probe_separates_a_separable_set_train_and_held_out():
    x, y = separable()
    probe = fit_probe(x, y, l2=1.0)
    assert auroc(probe.predict(x).tolist(), y.tolist()) > 0.95
    held_out = cross_validate(x, y, l2=1.0, folds=5)
    assert auroc(held_out.tolist(), y.tolist()) > 0.95
    # a probability of error: high for the wrong (positive) steps, low for the others
    p = probe.predict(x)
    assert p[y].mean() > 0.8 and p[~y].mean() < 0.2


def test_fit_probe_is_at_chance_on_shuffled_labels():
    x, y = separable(n=400)
    shuffled = np.random.default_rng(1).permutation(y)
    held_out = cross_validate(x, shuffled, l2=10.0, folds=5)
    assert abs(auroc(held_out.tolist(), shuffled.tolist()) - 0.5) < 0.1


def test_wide_features_fit_in_the_span_of_the_steps_with_the_same_weights():
    # more features than steps (the 896-wide hidden state on a few hundred steps)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 120))
    y = x[:, 0] + 0.5 * rng.standard_normal(40) > 0
    wide = fit_probe(x, y, l2=5.0)
    # the same objective solved directly in all 120 dimensions
    from adaswitch.logistic import newton

    z = (x - x.mean(0)) / x.std(0)
    theta, _ = newton(z, y.astype(float), np.ones(40), 5.0, 200, 1e-12)
    assert np.allclose(wide.weights, theta[:-1], atol=1e-5) and abs(wide.bias - theta[-1]) < 1e-5


def test_grouped_folds_keep_each_question_whole_and_spread_the_wrong_steps():
    labels = np.array([True, False, False, True, True, False, False, False, True, False, True, False])
    groups = ["a", "a", "a", "b", "b", "c", "c", "d", "e", "e", "f", "g"]
    fold = fold_assignment(labels, groups, folds=3, seed=0)
    for g in set(groups):
        assert len({fold[i] for i, h in enumerate(groups) if h == g}) == 1
    assert set(fold.tolist()) == {0, 1, 2}
    assert all(labels[fold == f].any() for f in range(3))  # every fold holds a wrong step
    assert fold_assignment(labels, ["a"] * 12, folds=3) is None  # one question: nothing to hold out
    with pytest.raises(ValueError, match="one group per step"):
        fold_assignment(labels, ["a"], folds=3)


def test_grouped_validation_sees_through_what_per_step_folds_memorise():
    # every question has its own offset and one label for all its steps: per-step folds learn the
    # question back from its siblings; grouped folds cannot, and are at chance as they should be
    rng = np.random.default_rng(0)
    questions = 40
    centres = rng.standard_normal((questions, 30)) * 3
    wrong = rng.random(questions) < 0.5
    groups = [f"q{q}" for q in range(questions) for _ in range(5)]
    x = np.vstack([centres[q] + 0.1 * rng.standard_normal(30) for q in range(questions) for _ in range(5)])
    y = np.repeat(wrong, 5)
    per_step = auroc(cross_validate(x, y, l2=1.0).tolist(), y.tolist())
    grouped = auroc(cross_validate(x, y, l2=1.0, groups=groups).tolist(), y.tolist())
    assert per_step > 0.9 and abs(grouped - 0.5) < 0.2


def test_select_l2_prefers_strong_regularisation_on_noise_and_weak_on_signal():
    x, y = separable(n=200, d=10)
    best, scores = select_l2(x, y, grid=(0.1, 1.0, 1000.0))
    assert set(scores) == {0.1, 1.0, 1000.0} and scores[best] == max(scores.values()) and best < 1000.0
    rng = np.random.default_rng(2)
    noise, coin = rng.standard_normal((120, 60)), rng.random(120) < 0.5
    steps = fit_probe_on_features(noise, coin, [f"q{i // 3}" for i in range(120)], folds=4)
    assert steps.figures["questions"] == 40 and steps.figures["folds"] == 4
    assert "nested" in steps.figures["heldout"] and abs(steps.figures["heldout_auroc"] - 0.5) < 0.15
    fixed = fit_probe_on_features(x, y, [f"q{i}" for i in range(200)], l2=1.0)
    assert fixed.figures["l2"] == 1.0 and fixed.figures["l2_cv_auroc"] is None and fixed.figures["heldout_auroc"] > 0.9


def test_fit_probe_is_deterministic_and_balancing_shifts_the_prior():
    x, y = separable(n=200)
    skewed = y & (np.arange(len(y)) % 3 == 0)  # few positives
    a, b = fit_probe(x, skewed, l2=5.0), fit_probe(x, skewed, l2=5.0)
    assert np.array_equal(a.weights, b.weights) and a.bias == b.bias
    balanced = fit_probe(x, skewed, l2=5.0, balance=True)
    assert balanced.predict(x).mean() > a.predict(x).mean()
    assert a.figures["balance"] is False and balanced.figures["balance"] is True


def test_fit_probe_refuses_one_class_and_no_regularisation():
    x, y = separable(n=50)
    with pytest.raises(ValueError, match="both"):
        fit_probe(x, np.ones(50, dtype=bool))
    with pytest.raises(ValueError, match="l2"):
        fit_probe(x, y, l2=0.0)
    assert cross_validate(x, np.arange(50) == 0) is None  # one wrong step: nothing to hold out


def test_save_load_round_trip_gives_identical_predictions(tmp_path):
    x, y = separable(n=120, d=9)
    probe = fit_probe(x, y, l2=2.0)
    probe.kinds = ("hidden", "confidence")
    probe.model = ModelIdentity(name="m", hidden_size=7, file_size=10, sha256="ab" * 32)
    loaded = ProbeModel.load(probe.save(tmp_path / "probe.json"))
    assert np.array_equal(loaded.predict(x), probe.predict(x))
    assert loaded.kinds == probe.kinds and loaded.model == probe.model and loaded.figures == probe.figures
    assert loaded.hidden_size == 7 and loaded.uses_confidence


def test_load_says_what_is_wrong_with_a_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        ProbeModel.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": 99}))
    with pytest.raises(ValueError, match="version"):
        ProbeModel.load(bad)


# ---------------------------------------------------------------- the fake model's hidden states


def test_fake_hidden_state_is_deterministic_and_scriptable():
    backend = FakeBackend(FakeScript(hidden_size=5, hidden_rules=[FakeReply(match="minus", hidden=[10.0])]))
    plain = HiddenStateRequest(messages=[Message(role="user", content="plus")])
    a, b = backend.hidden_state(plain), backend.hidden_state(plain)
    assert a.vector.shape == (5,) and np.array_equal(a.vector, b.vector)
    shifted = backend.hidden_state(HiddenStateRequest(messages=[Message(role="user", content="minus")]))
    assert shifted.vector[0] > 5 and not np.array_equal(shifted.vector, a.vector)


def test_hidden_state_is_unsupported_by_default_and_model_retries_like_probe():
    from adaswitch.backends.base import Backend

    class CompletionOnly(Backend):
        def complete(self, request: CompletionRequest):  # pragma: no cover - never called
            raise AssertionError

    with pytest.raises(BackendError) as caught:
        CompletionOnly().hidden_state(HiddenStateRequest(messages=[Message(role="user", content="x")]))
    assert caught.value.kind == "unsupported" and not caught.value.retryable
    flaky = FakeBackend(FakeScript(faults=["timeout", None]))
    reply = Model(flaky, "local", sleep=lambda s: None).hidden_state(
        HiddenStateRequest(messages=[Message(role="user", content="x")])
    )
    assert reply.attempts == 2 and [f.kind for f in reply.faults] == ["timeout"]


# ---------------------------------------------------------------- fitted on labelled steps, used by the Solver


def labelled_steps(n: int = 24) -> list[LabelledStep]:
    steps = []
    for i in range(n):
        a, b = 3 + i, 4 + i % 5
        wrong = i % 3 == 0
        op = "-" if wrong else "+"
        steps.append(
            LabelledStep(
                sample_id=f"s{i}", benchmark="gsm8k", family="math", question=f"Ann has {a} apples and buys {b} more?",
                trajectory="", index=1, step_text=f"Thought 1: Add them.\nAction 1: calculate[{a} {op} {b}]",
                wrong=wrong, rule="test",
            )
        )
    return steps


def fake_local(**script) -> FakeBackend:
    script.setdefault(
        "rules",
        [
            FakeReply(match=r"Thought 1:$", text=" Add them.\nAction 1: calculate[3 - 4]"),
            FakeReply(match=r"Thought 2:$", text=" She has 7.\nAction 2: finish[7]"),
        ],
    )
    script.setdefault("hidden_rules", [FakeReply(match=WRONG_STEP, hidden=[10.0])])
    return FakeBackend(FakeScript(**script), name="fake-local")


def fake_cloud() -> FakeBackend:
    rules = [
        FakeReply(match=r"Thought 1:$", text=" Add 3 and 4.\nAction 1: calculate[3 + 4]"),
        FakeReply(match=r"Thought 2:$", text=" The total is 7.\nAction 2: finish[7]"),
    ]
    return FakeBackend(FakeScript(rules=rules), name="fake-cloud")


@pytest.fixture
def probe_file(tmp_path):
    local = Model(fake_local(), "local")
    probe = fit_probe_on_steps(local, labelled_steps(30), l2=1.0, folds=5, progress=False)
    assert probe.figures["train_auroc"] > 0.95 and probe.figures["heldout_auroc"] > 0.95
    assert probe.figures["n"] == 30 and probe.figures["n_wrong"] == 10
    assert probe.model == ModelIdentity(name="fake-local", hidden_size=8)
    return probe.save(tmp_path / "probe.json")


def test_probe_introspection_switches_the_steps_the_probe_calls_wrong(probe_file):
    local, cloud = fake_local(), fake_cloud()
    settings = SolverSettings(local="fake", cloud="fake", introspection="probe", probe_path=str(probe_file))
    with Solver(settings, local=local, cloud=cloud) as solver:
        trace = solver.solve(QUESTION, threshold=0.5)
    first, second = trace.steps
    assert trace.introspection == "probe" and trace.answer == "7"
    assert first.switched and first.author == "cloud" and first.p_error > 0.9
    assert first.replaced[0].action.argument == "3 - 4"
    assert second.author == "local" and not second.switched and second.p_error < 0.1
    judge = [c for c in first.calls if c.purpose == "judge"]
    assert len(judge) == 1 and judge[0].agent == "local"
    # the hidden state is read right after the step, where a judgment would be written
    reads = [r for r in local.requests if isinstance(r, HiddenStateRequest)]
    assert reads[0].continue_final and reads[0].messages[-1].content.endswith("calculate[3 - 4]\nCheck:")
    # ... extending the step prompt, so only the step and the judgment prefix are new
    assert 0 < judge[0].recomputed_prompt_tokens < judge[0].prompt_tokens / 2


def test_a_probe_for_another_model_is_refused_or_warned(probe_file, tmp_path):
    settings = SolverSettings(local="fake", cloud=None, mode="self-reflection", introspection="probe",
                              probe_path=str(probe_file))
    with pytest.raises(ValueError, match="8-dimensional"):
        Solver(settings, local=fake_local(hidden_size=16))
    with pytest.warns(UserWarning, match="fitted for fake-local"):
        Solver(settings, local=FakeBackend(FakeScript(), name="other")).close()
    # a model file of its own: the SHA-256 decides
    probe = ProbeModel.load(probe_file)
    probe.model = ModelIdentity(name="fake-local", hidden_size=8, sha256="0" * 64)
    probe.save(probe_file)
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"not the model the probe was fitted for")
    backend = fake_local()
    backend.model_file = weights
    with pytest.raises(ValueError, match="fit a probe for this model"):
        Solver(settings, local=backend)


def test_probe_needs_a_file_and_say_so():
    with pytest.raises(ValueError, match="probe_path"):
        SolverSettings(introspection="probe")
    with pytest.raises(ValueError, match="--probe"):
        make_introspector("probe")
    with pytest.raises(ValueError, match="unknown introspection"):
        SolverSettings(introspection="oracle")


def test_confidence_features_need_logprobs_and_reproduced_steps(tmp_path):
    local = Model(fake_local(rules=[FakeReply(match=r"Thought 1:$", text=" Add them.\nAction 1: calculate[3 + 4]")]),
                  "local")
    steps = labelled_steps(6)
    first = probe_features(local, steps[1], ("hidden", "confidence"))  # 'calculate[4 + 5]': not what it writes
    assert first is None
    reproduced = LabelledStep(**{**steps[1].to_json(), "question": QUESTION,
                                 "step_text": "Thought 1: Add them.\nAction 1: calculate[3 + 4]"})
    vector = probe_features(local, reproduced, ("hidden", "confidence"))
    assert vector.shape == (8 + 2,) and vector[-2:] == pytest.approx([-0.1, -0.1])  # the fake's token logprob
    x = np.vstack([vector, vector + 1])
    probe = fit_probe(x, [False, True], l2=1.0)
    probe.kinds, probe.model = ("hidden", "confidence"), ModelIdentity("fake-local", 8)
    introspector = ProbeIntrospector(probe)
    assert introspector.needs_logprobs


# ---------------------------------------------------------------- runs and the command line


def test_run_config_records_the_probe_and_a_resume_refuses_another(probe_file, tmp_path):
    from adaswitch.benchmarks import get_benchmark

    bench = get_benchmark("gsm8k")
    samples = bench.load(limit=1)
    settings = SolverSettings(local="fake", cloud="fake", introspection="probe", probe_path=str(probe_file))
    run_dir = tmp_path / "run"
    with Solver(settings, local=fake_local(), cloud=fake_cloud()) as solver:
        run_method(run_dir, bench, samples, Method("adaswitch", threshold=0.5), solver)
    config = RunConfig.model_validate_json((run_dir / "config.json").read_text())
    assert config.introspection == "probe" and config.probe == str(probe_file) and len(config.probe_sha256) == 64
    probe = ProbeModel.load(probe_file)
    probe.bias += 1.0
    probe.save(probe_file)
    with Solver(settings, local=fake_local(), cloud=fake_cloud()) as solver:
        with pytest.raises(RunMismatch, match="probe_sha256"):
            run_method(run_dir, bench, samples, Method("adaswitch", threshold=0.5), solver)


def test_cli_takes_the_probe_option_and_says_when_it_is_missing(probe_file, tmp_path):
    script = tmp_path / "local.json"
    script.write_text(fake_local().script.model_dump_json())
    _register()
    runner = CliRunner()
    missing = runner.invoke(cli, ["solve", QUESTION, "--local", f"fake:{script}", "--mode", "self-reflection",
                                  "--introspection", "probe"], env={})
    assert missing.exit_code == 2 and "needs its fitted file" in missing.output
    env = {"ADASWITCH_PROBE": str(probe_file), "ADASWITCH_INTROSPECTION": "probe"}
    with pytest.warns(UserWarning, match="fitted for fake-local"):  # the CLI names the fake by its file
        ok = runner.invoke(cli, ["solve", QUESTION, "--local", f"fake:{script}", "--mode", "self-reflection",
                                 "--json"], env=env, catch_exceptions=False)
    assert ok.exit_code == 0, ok.output
    trace = json.loads(ok.output)
    assert trace["introspection"] == "probe" and trace["steps"][0]["p_error"] > 0.9
