"""The fine-tuning speed benchmark: one configuration's figures from a real (tiny) training run."""

from __future__ import annotations

import pytest

from adaswitch.backends.base import Message
from adaswitch.embedded import EmbeddedModelError, resolve_model
from adaswitch.learning.records import SFTRecord, write_jsonl


@pytest.mark.realmodel
def test_one_configuration_reports_its_steps_without_the_warm_up(benchmark_script, tmp_path):
    pytest.importorskip("trl")
    try:
        resolve_model("smollm2-135m")
    except EmbeddedModelError as err:
        pytest.skip(str(err))
    speed = benchmark_script("finetune_speed")
    records = tmp_path / "records.jsonl"
    write_jsonl(records, [SFTRecord(messages=[Message(role="user", content=f"What is {n} + 1?")],
                                    completion=f" {n + 1}", kind="step") for n in range(6)])

    figures = speed.train_one(records, "smollm2-135m", 4, 3, "bf16-on", tmp_path / "run")

    assert figures["config"] == "bf16-on" and figures["bf16"] is True
    assert figures["steps"] == 3 and len(figures["step_seconds"]) == 3 and len(figures["losses"]) == 3
    later = sorted(figures["step_seconds"][1:])
    assert later[0] <= figures["median_step_seconds"] <= later[-1]
    assert figures["peak_rss_mb"] > 0
