"""A cloud-only run for the cascade: a ``--mode cloud`` run, or a local-only run of the cloud model."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from adaswitch.cli import _register, cli
from adaswitch.grading.metrics import cascade_points
from adaswitch.grading.rundir import RunDirError, load_cloud_only_run, load_run

SCRIPT = {"rules": [
    {"match": "Thought 1:$", "text": " Compute.\nAction 1: calculate[9 * 2]", "logprob": -0.9},
    {"match": "Thought 2:$", "text": " Done.\nAction 2: finish[18]", "logprob": -0.05}]}


@pytest.fixture
def runs(tmp_path):
    _register()
    script = tmp_path / "s.json"
    script.write_text(json.dumps(SCRIPT))
    model = f"fake:{script}"
    judged = ["--judge-steps", "--introspection", "confidence"]  # its answers get a final check
    for mode, out, more in (("cloud", "cloud", []), ("local", "alone", []), ("local", "judged", judged),
                            ("random", "random", [])):
        result = CliRunner().invoke(cli, [
            "eval", "gsm8k", "--local", model, "--cloud", model, "--cache", "off", "--no-progress", "--limit", "4",
            "--mode", mode, "--switch-rate", "0.5", *more, "--out", str(tmp_path / out)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return tmp_path


def test_a_local_run_of_the_cloud_model_reads_as_the_cloud_run(runs):
    cloud_config, cloud = load_cloud_only_run(runs / "cloud")
    assert cloud == load_run(runs / "cloud")[1]
    _, judged = load_run(runs / "judged")
    config, read = load_cloud_only_run(runs / "alone", cloud_config.cloud_identity)
    assert config.method == "local"
    assert all(s.author == "cloud" and all(c.agent == "cloud" for c in s.calls) for r in read for s in r.trace.steps)
    def work(records):  # what each step says and costs, its latency apart
        return {r.sample_id: [(s.author, s.text, [(c.agent, c.prompt_tokens, c.completion_tokens) for c in s.calls])
                              for s in r.trace.steps] for r in records}

    assert work(read) == work(cloud)
    # the cascade over either prices the questions it sends up as cloud work
    [via_local], [via_cloud] = cascade_points(judged, read, [0.0]), cascade_points(judged, cloud, [0.0])
    assert via_local.cloud_share_steps == via_cloud.cloud_share_steps > 0
    assert via_local.cloud_share_tokens == via_cloud.cloud_share_tokens and via_local.accuracy == via_cloud.accuracy


def test_another_model_or_a_switching_run_is_refused(runs):
    with pytest.raises(RunDirError, match="not the cloud model"):
        load_cloud_only_run(runs / "alone", "LlamaServerBackend/sha256:other")
    with pytest.raises(RunDirError, match="'random' run"):
        load_cloud_only_run(runs / "random")
