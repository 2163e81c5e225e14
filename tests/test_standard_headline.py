"""The headline script of the standard comparison: reading the cascade curve and the table."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def headline(benchmark_script):
    return benchmark_script("standard_headline")


def test_the_cascade_curve_is_read_linearly_and_clamped_outside_its_range(headline):
    curve = [(0.1, 0.2), (0.3, 0.4), (0.5, 0.4)]
    assert headline._interpolate(curve, 0.2) == (pytest.approx(0.3), True)
    assert headline._interpolate(curve, 0.5) == (0.4, True)
    assert headline._interpolate(curve, 0.05) == (0.2, False)
    assert headline._interpolate(curve, 0.9) == (0.4, False)


def test_the_table_has_one_row_per_benchmark_in_the_standard_order(headline):
    row = {"n": 30, "local": 0.1, "cloud": 0.4,
           "adaswitch": {"threshold": 0.4, "accuracy": 0.27, "accuracy_se": 0.08, "share_tokens": 0.27,
                         "share_steps": 0.88, "switch_rate": 0.88},
           "random": {"label": "random@0.88", "accuracy": 0.4, "share_tokens": 0.39, "share_steps": 0.84},
           "cascade": {"tokens": {"accuracy_at_same_share": 0.24, "inside_measured_range": True},
                       "steps": {"accuracy_at_same_share": 0.4, "inside_measured_range": False}}}
    text = headline.markdown([row | {"benchmark": "svamp"}, row | {"benchmark": "gsm8k"}])
    lines = text.splitlines()
    assert lines[2].startswith("| GSM8K | 30 | 10% | 40% | 0.4 | 27% ± 8% | 27%, 88% | 40% (39%) | 24% |")
    assert lines[2].endswith("| 40% (end of its range) |") and lines[3].startswith("| SVAMP ")
