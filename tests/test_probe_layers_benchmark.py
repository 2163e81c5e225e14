"""The per-layer probe diagnostic: which tokens it runs once for all judgment prompts."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def probe_layers(benchmark_script):
    return benchmark_script("probe_layers")


def test_the_shared_prefix_stops_at_the_first_difference(probe_layers):
    assert probe_layers._common_prefix_length([[1, 2, 3, 4, 5], [1, 2, 3, 9, 5], [1, 2, 3, 4]]) == 3


def test_the_shared_prefix_leaves_a_token_of_the_shortest_prompt_to_run(probe_layers):
    assert probe_layers._common_prefix_length([[1, 2, 3], [1, 2, 3, 4]]) == 2
    assert probe_layers._common_prefix_length([[7], [7, 8]]) == 0
