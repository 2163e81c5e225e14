"""Append-only JSONL files that a killed writer may have left with a torn last line."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def complete_lines(path: Path) -> list[bytes]:
    """The complete, non-blank lines of a JSONL file written by appends; a torn last line (a killed
    writer) is cut off the file first, so the next append starts on a fresh line."""
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        log.warning("cutting a torn last line (%d bytes) from %s", len(data) - end, path)
        with path.open("r+b") as f:
            f.truncate(end)
    return [line for line in data[:end].splitlines() if line.strip()]
