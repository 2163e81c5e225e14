"""The GPU training check's script, run whole on this CPU (its ``--smoke`` settings): a tiny random
model of the local agent's architecture trains, stops on SIGINT, resumes to the same losses, and its
adapter gives the same log-probabilities through PEFT and, exported to GGUF, through llama.cpp."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from adaswitch.backends.base import Message
from adaswitch.embedded import EmbeddedModelError, resolve_model
from adaswitch.learning.records import SFTRecord, write_jsonl


@pytest.mark.slow
def test_the_tiny_model_trains_resumes_and_reads_the_same_in_llama_cpp(benchmark_script, tmp_path):
    pytest.importorskip("trl")
    pytest.importorskip("llama_cpp")
    try:
        resolve_model("qwen2.5-coder-0.5b")
    except EmbeddedModelError as err:
        pytest.skip(str(err))
    check = benchmark_script("gpu_training_check")
    records = tmp_path / "practice.jsonl"
    write_jsonl(records, [SFTRecord(messages=[Message(role="user", content=f"Question: what is {n} + {n}?"),
                                              Message(role="assistant", content="")],
                                    completion=f"{n} + {n} = {2 * n}.\n\n", kind="step",
                                    source={"sample_id": f"q{n}"}) for n in range(10)])
    bundle, trained = tmp_path / "bundle", tmp_path / "trained"
    check.prepare(records, bundle, 8, "qwen2.5-coder-0.5b")
    check.train(bundle, trained, replace(check.SETTINGS, batch_size=1, max_length=256))
    out = tmp_path / "gpu_check.json"
    check.verify(bundle, trained, out)

    result = json.loads(out.read_text())
    assert result["straight"]["steps"] == check.SETTINGS.max_steps
    assert result["stopped"]["checkpoints_left"] == [f"checkpoint-{check.STOP_AT}"]
    assert result["resumed"]["resumed_at"] == [check.STOP_AT]
    assert result["resumed"]["max_relative_loss_gap_to_straight"] < 1e-4
    assert result["loss_first_last"][1] < result["loss_first_last"][0]
    here = result["verified_here"]
    assert here["peft_cpu_vs_gpu_max_abs_logprob_gap"] < 1e-3
    assert here["base_vs_gpu_max_abs_logprob_gap"] > 1e-2  # the adapter changed something
    assert here["llama_cpp_with_adapter"]["top10_overlap"] >= 9
    assert here["llama_cpp_with_adapter"]["max_abs_logprob_gap"] < 1e-2
