"""The per-layer probe diagnostic: which tokens it runs once for all judgment prompts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "probe_layers.py"


def _script():
    spec = importlib.util.spec_from_file_location("probe_layers_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shared_prefix_stops_at_the_first_difference():
    assert _script()._common_prefix_length([[1, 2, 3, 4, 5], [1, 2, 3, 9, 5], [1, 2, 3, 4]]) == 3


def test_the_shared_prefix_leaves_a_token_of_the_shortest_prompt_to_run():
    assert _script()._common_prefix_length([[1, 2, 3], [1, 2, 3, 4]]) == 2
    assert _script()._common_prefix_length([[7], [7, 8]]) == 0
