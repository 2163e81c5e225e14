"""An append-only JSONL journal keyed by sample id: what the generating stages write as they go.

Each finished sample is one line written with a single call and flushed to disk, so a killed stage
loses at most the sample in flight; reopening cuts a torn last line and reports the ids done.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from adaswitch.jsonl import complete_lines

log = logging.getLogger(__name__)


class Journal:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def rows(self) -> list[dict[str, Any]]:
        """Every complete row (a torn last line is cut off the file first)."""
        return [json.loads(line) for line in complete_lines(self.path)]

    def done_ids(self) -> set[str]:
        return {row["sample_id"] for row in self.rows()}

    def append(self, row: dict[str, Any]) -> None:
        line = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
        with self.path.open("ab") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
