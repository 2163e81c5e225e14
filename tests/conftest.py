"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from faultserver import FaultServer


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A scriptable OpenAI-compatible server on 127.0.0.1, stopped (threads joined) after the test."""
    with FaultServer() as server:
        yield server
