"""``adaswitch eval BENCHMARK``: run one method over a benchmark slice into a resumable run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from adaswitch.cli.options import settings_from_options, solver_options
from adaswitch.cli.runs import TqdmProgress, effective_workers, load_slice, open_cache, open_solver, with_run_options


@click.command("eval")
@click.argument("benchmark")
@click.option("--out", "run_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              envvar="ADASWITCH_RUN_DIR", help="Run directory (created, or resumed when it exists).")
@with_run_options
@solver_options
def eval_command(benchmark: str, run_dir: Path, split: str, limit: int | None, offset: int, ids: str | None,
                 workers: int, cache_path: str, progress: bool, **options: Any) -> None:
    """Evaluate one method (--mode, --threshold, ...) on BENCHMARK; rerun the same command to resume."""
    from adaswitch.evaluation.runner import Method, run_method

    bench, samples = load_slice(benchmark, split, limit, offset, ids)
    settings = settings_from_options(options)
    method = Method(settings.mode, settings.threshold, settings.switch_rate, model=settings.cot_model)
    with open_cache(cache_path) as cache, open_solver(settings, cache, samples) as solver:
        outcome = run_method(run_dir, bench, samples, method, solver, split, effective_workers(solver, workers),
                             TqdmProgress if progress else None)
    click.echo(f"{run_dir}: {outcome.done_before} already done, {outcome.ran} run now, {len(outcome.failed)} failed")
    for sample_id, error in outcome.failed:
        click.echo(f"  failed {sample_id}: {error}", err=True)
    if outcome.failed:
        raise SystemExit(1)
