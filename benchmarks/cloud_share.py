"""The share of a run's steps the cloud wrote (random switching is run at AdaSwitch's share).

Usage: python benchmarks/cloud_share.py RUN_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from adaswitch.grading.rundir import load_run


def cloud_share(run_dir: Path) -> float:
    _, records = load_run(run_dir)
    steps = [s for r in records for s in r.trace.paid_steps]
    return round(sum(s.author == "cloud" for s in steps) / max(len(steps), 1), 3)


if __name__ == "__main__":
    print(cloud_share(Path(sys.argv[1])))
