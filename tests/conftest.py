"""Shared pytest fixtures."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from faultserver import FaultServer


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A scriptable OpenAI-compatible server on 127.0.0.1, stopped (threads joined) after the test."""
    with FaultServer() as server:
        yield server


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="session")
def benchmark_script() -> Callable[[str], ModuleType]:
    """Load a script of ``benchmarks/`` by name (``"learning"``) as a module, without running it."""

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
