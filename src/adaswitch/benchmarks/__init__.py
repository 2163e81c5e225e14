"""The seven evaluation benchmarks, by name: ``get_benchmark("gsm8k").load(limit=10)``."""

from __future__ import annotations

from adaswitch.benchmarks.asdiv import ASDiv
from adaswitch.benchmarks.base import (
    Benchmark, DataNotFoundError, Sample, data_dir, data_file,
)
from adaswitch.benchmarks.gsm8k import GSM8K
from adaswitch.benchmarks.hotpotqa import HotpotQA
from adaswitch.benchmarks.math500 import MATH500
from adaswitch.benchmarks.strategyqa import StrategyQA
from adaswitch.benchmarks.svamp import SVAMP
from adaswitch.benchmarks.wiki2 import Wiki2
from adaswitch.scoring import Extraction, Score

BENCHMARKS: dict[str, Benchmark] = {
    b.name: b for b in (GSM8K(), SVAMP(), ASDiv(), MATH500(), HotpotQA(), Wiki2(), StrategyQA())
}


def get_benchmark(name: str) -> Benchmark:
    """The benchmark called ``name`` or one of its aliases (case and ``_``/``-`` ignored)."""
    key = name.strip().lower().replace("_", "-")
    for bench in BENCHMARKS.values():
        if key in (bench.name, *bench.aliases) or key.replace("-", "") == bench.name:
            return bench
    raise KeyError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")


__all__ = [
    "BENCHMARKS", "Benchmark", "DataNotFoundError", "Extraction", "Sample", "Score",
    "data_dir", "data_file", "get_benchmark",
]
