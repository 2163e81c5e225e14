"""The headline of the standard comparison: per benchmark, AdaSwitch at its best threshold against
the cascade and random switching at the same cloud share.

Reads the run directories the standard comparison wrote (``RUNS/<benchmark>/<method>``) and writes
``OUT/headline.md`` and ``OUT/headline.json``:
- local-only and cloud-only accuracy;
- AdaSwitch's best threshold (highest accuracy; the smaller cloud share among ties), its accuracy and
  its cloud share of processed tokens and of steps;
- random switching run at that threshold's switch rate: accuracy and token share;
- the query-level cascade at the same cloud share of tokens and of steps: accuracy read off its curve
  (linear between its measured thresholds; outside their range the nearest end, flagged).

Usage: python benchmarks/standard_headline.py [--runs runs/standard30] [--out docs/results]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

NAMES = {"gsm8k": "GSM8K", "svamp": "SVAMP", "asdiv": "ASDiv", "math500": "MATH-500", "hotpotqa": "HotpotQA",
         "2wiki": "2WikiMultiHopQA", "strategyqa": "StrategyQA"}


def headline_rows(runs: Path) -> list[dict[str, Any]]:
    from adaswitch.evaluation.report import build_report

    run_dirs = sorted(p for bench in sorted(runs.iterdir()) if bench.is_dir()
                      for p in bench.iterdir() if (p / "config.json").is_file())
    report = build_report(run_dirs)
    return [_headline(b.benchmark, b.rows) for b in report.benchmarks]


def _headline(benchmark: str, rows: list) -> dict[str, Any]:  # noqa: ANN001
    by_method: dict[str, list] = {}
    for row in rows:
        by_method.setdefault(row.method, []).append(row)
    local, cloud = by_method["local"][0], by_method["cloud"][0]
    best = min(by_method["adaswitch"], key=lambda r: (-(r.accuracy or 0.0), r.cloud_share_tokens or 0.0))
    out: dict[str, Any] = {
        "benchmark": benchmark, "n": best.n, "local": local.accuracy, "cloud": cloud.accuracy,
        "adaswitch": {"threshold": best.threshold, "accuracy": best.accuracy, "accuracy_se": best.accuracy_se,
                      "share_tokens": best.cloud_share_tokens, "share_steps": best.cloud_share_steps,
                      "switch_rate": best.switch_rate},
    }
    randoms = by_method.get("random", [])
    if randoms and best.switch_rate is not None:
        match = min(randoms, key=lambda r: abs(_rate(r) - best.switch_rate))
        out["random"] = {"label": match.label, "accuracy": match.accuracy, "share_tokens": match.cloud_share_tokens,
                         "share_steps": match.cloud_share_steps}
    out["cascade"] = {}
    for axis in ("tokens", "steps"):
        curve = sorted((r.share(axis), r.accuracy) for r in by_method.get("cascade", [])
                       if r.share(axis) is not None and r.accuracy is not None)
        if curve and best.share(axis) is not None:
            accuracy, inside = _interpolate(curve, best.share(axis))
            out["cascade"][axis] = {"accuracy_at_same_share": accuracy, "inside_measured_range": inside}
    return out


def _rate(row) -> float:  # noqa: ANN001
    return float(row.label.split("@", 1)[1]) if "@" in row.label else 0.0


def _interpolate(points: list[tuple[float, float]], share: float) -> tuple[float, bool]:
    """Accuracy at ``share`` on the piecewise-linear curve through ``points`` (sorted by share)."""
    if share <= points[0][0]:
        return points[0][1], share == points[0][0]
    if share >= points[-1][0]:
        return points[-1][1], share == points[-1][0]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= share <= x1:
            return (y0 if x1 == x0 else y0 + (y1 - y0) * (share - x0) / (x1 - x0)), True
    raise AssertionError("unreachable")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| benchmark | n | local | cloud | AdaSwitch best τ | its accuracy | cloud share: tokens, steps "
        "| random at its switch rate (token share) | cascade at the same share of tokens | of steps |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = list(NAMES)
    for r in sorted(rows, key=lambda r: order.index(r["benchmark"]) if r["benchmark"] in order else len(order)):
        a, rnd, cas = r["adaswitch"], r.get("random"), r.get("cascade")
        random_text = f"{_pct(rnd['accuracy'])} ({_pct(rnd['share_tokens'])})" if rnd else "-"
        cascade_text = " | ".join(
            _pct(cas[axis]["accuracy_at_same_share"]) + ("" if cas[axis]["inside_measured_range"] else " (end of its range)")
            if axis in cas else "-" for axis in ("tokens", "steps"))
        lines.append(
            f"| {NAMES.get(r['benchmark'], r['benchmark'])} | {r['n']} | {_pct(r['local'])} | {_pct(r['cloud'])} "
            f"| {a['threshold']} | {_pct(a['accuracy'])} ± {_pct(a['accuracy_se'])} "
            f"| {_pct(a['share_tokens'])}, {_pct(a['share_steps'])} | {random_text} | {cascade_text} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/standard"))
    parser.add_argument("--out", type=Path, default=Path("docs/results"))
    args = parser.parse_args()
    rows = headline_rows(args.runs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "headline.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    text = markdown(rows)
    (args.out / "headline.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
