"""The combiner and calibrations shipped for the embedded local model: used where none is given."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from adaswitch.calibration import Calibration
from adaswitch.introspection.combined import CombinerModel
from adaswitch.introspection.shipped import embedded_name, format_key, shipped_file, shipped_formats
from adaswitch.solver import SolverSettings


def test_the_embedded_local_model_in_paragraphs_gets_the_shipped_combiner_and_calibration():
    for local in ("qwen2.5-coder-0.5b", "server:qwen2.5-coder-0.5b", "llama:qwen2.5-coder-0.5b"):
        settings = SolverSettings(local=local, step_format="paragraphs", introspection="combined", cloud_budget=0.2)
        combiner = CombinerModel.load(settings.probe_path)
        assert combiner.fitted_on["split"] == "train" and combiner.fitted_on["local_model"] == "qwen2.5-coder-0.5b"
        calibration = settings.calibration
        assert calibration is not None and calibration.introspection == "combined"
        assert calibration.local_model == "qwen2.5-coder-0.5b"
        # the budget is turned into the threshold the calibration gives for it
        assert settings.threshold == calibration.threshold_for(0.2) and 0.0 < settings.threshold < 1.0
    position = SolverSettings(step_format="paragraphs", introspection="position", cloud_budget=0.3)
    assert position.probe_path is None and position.calibration.introspection == "position"
    # no budget: the shipped calibration is read all the same (the server's adaswitch@budget=B uses it),
    # and the threshold stays the one given
    plain = SolverSettings(step_format="paragraphs", introspection="combined", threshold=0.6)
    assert plain.threshold == 0.6 and plain.calibration is not None


def test_a_file_of_ones_own_wins_and_no_shipped_calibration_meets_another_combiner(tmp_path):
    own = tmp_path / "own.json"
    Calibration(introspection="combined", local_model="qwen2.5-coder-0.5b", questions=2,
                p_errors=[0.1, 0.2, 0.3, 0.9]).save(own)
    settings = SolverSettings(step_format="paragraphs", introspection="combined", cloud_budget=0.25,
                              calibration_path=str(own))
    assert settings.calibration_path == str(own) and settings.threshold == pytest.approx(0.3)
    combiner = tmp_path / "combiner.json"
    combiner.write_bytes(shipped_file("qwen2.5-coder-0.5b", "paragraphs", False, "combiner.json").read_bytes())
    with pytest.raises(ValidationError, match="needs a calibration file"):
        SolverSettings(step_format="paragraphs", introspection="combined", probe_path=str(combiner), cloud_budget=0.2)


def test_nothing_is_shipped_for_other_models_or_formats_and_the_error_says_what_is():
    assert shipped_file("qwen2.5-coder-1.5b", "paragraphs", False, "combiner.json") is None
    assert shipped_file("qwen2.5-coder-0.5b", "react", False, "combiner.json") is None
    assert shipped_file("openai:gpt-4o-mini", "paragraphs", False, "combiner.json") is None
    assert "paragraphs" in shipped_formats("qwen2.5-coder-0.5b") and shipped_formats("/m/x.gguf") == []
    with pytest.raises(ValidationError, match="ships them for qwen2.5-coder-0.5b .* step format paragraphs"):
        SolverSettings(introspection="combined")  # the react format: none shipped
    with pytest.raises(ValidationError, match="needs its fitted file") as refused:
        SolverSettings(local="fake", step_format="paragraphs", introspection="combined")
    assert "ships" not in str(refused.value)
    assert embedded_name("server:qwen2.5-coder-0.5b") == "qwen2.5-coder-0.5b" and embedded_name("fake:s.json") == "fake:s.json"
    assert format_key("paragraphs", True) == "paragraphs+code" and format_key("react", True) == "react"
