"""``adaswitch sweep BENCHMARK``: the standard comparison (all methods, a threshold sweep) and its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from adaswitch.cli.options import settings_from_options, solver_options
from adaswitch.cli.runs import TqdmProgress, effective_workers, open_cache, parse_ids, with_run_options


@click.command()
@click.argument("benchmark")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              envvar="ADASWITCH_SWEEP_DIR", help="Directory for one run directory per method.")
@click.option("--thresholds", default="0.3,0.5,0.7", show_default=True, envvar="ADASWITCH_THRESHOLDS")
@click.option("--methods", default="local,cloud,adaswitch,self-reflection,random", show_default=True,
              help="Comma-separated methods; add cot for the chain-of-thought baseline (on --cot-model).",
              envvar="ADASWITCH_METHODS")
@click.option("--reflection-threshold", type=click.FloatRange(0, 1), envvar="ADASWITCH_REFLECTION_THRESHOLD",
              help="Self-reflection threshold (default: the middle of --thresholds).")
@with_run_options
@solver_options
def sweep(benchmark: str, out_dir: Path, thresholds: str, methods: str, reflection_threshold: float | None,
          split: str, limit: int | None, offset: int, ids: str | None, workers: int, cache_path: str,
          progress: bool, **options: Any) -> None:
    """Run every method on one BENCHMARK slice; rerun the same command to resume."""
    from adaswitch.benchmarks import get_benchmark
    from adaswitch.evaluation.runner import select_samples
    from adaswitch.evaluation.sweep import run_sweep
    from adaswitch.solver import Solver

    try:
        taus = sorted({float(t) for t in thresholds.split(",") if t.strip()})
    except ValueError as error:
        raise click.BadParameter(f"thresholds must be numbers: {error}") from error
    bench = get_benchmark(benchmark)
    samples = select_samples(bench, split, limit, offset, parse_ids(ids))
    options["mode"] = "adaswitch"  # load both models; each run sets its own mode
    settings = settings_from_options(options)
    with open_cache(cache_path) as cache, Solver(settings, cache=cache) as solver:
        outcomes = run_sweep(out_dir, bench, samples, solver, taus, [m.strip() for m in methods.split(",")],
                             reflection_threshold, split, effective_workers(solver, workers),
                             TqdmProgress if progress else None)
    failed = [f for o in outcomes for f in o.failed]
    for o in outcomes:
        click.echo(f"{o.run_dir}: {o.done_before} done before, {o.ran} run now, {len(o.failed)} failed")
    if failed:
        raise SystemExit(1)
    from adaswitch.evaluation.report import build_report, markdown, write_html, write_markdown

    built = build_report([o.run_dir for o in outcomes])
    write_markdown(built, out_dir / "report.md")
    write_html(built, out_dir / "report.html")
    click.echo(markdown(built))
