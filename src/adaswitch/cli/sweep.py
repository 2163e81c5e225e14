"""``adaswitch sweep BENCHMARK``: the standard comparison (all methods, a threshold sweep) and its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from adaswitch.cli.options import settings_from_options, solver_options
from adaswitch.cli.runs import TqdmProgress, effective_workers, load_slice, open_cache, open_solver, with_run_options


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
    from adaswitch.evaluation.sweep import KNOWN_METHODS, run_sweep

    try:
        taus = sorted({float(t) for t in thresholds.split(",") if t.strip()})
    except ValueError as error:
        raise click.BadParameter(f"thresholds must be numbers: {error}", param_hint="--thresholds") from None
    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    if unknown := sorted(set(chosen) - set(KNOWN_METHODS)):
        raise click.BadParameter(f"unknown methods {', '.join(unknown)}; expected some of {', '.join(KNOWN_METHODS)}",
                                 param_hint="--methods")
    _refuse_single_run_options(click.get_current_context())
    bench, samples = load_slice(benchmark, split, limit, offset, ids)
    options["mode"] = "adaswitch"  # load both models; each run sets its own mode
    settings = settings_from_options(options)
    with open_cache(cache_path) as cache, open_solver(settings, cache, samples) as solver:
        outcomes = run_sweep(out_dir, bench, samples, solver, taus, chosen,
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


def _refuse_single_run_options(ctx: click.Context) -> None:
    """A sweep runs every method at every threshold: options that choose one run would be ignored."""
    from click.core import ParameterSource

    given = [name for name in ("mode", "threshold", "switch_rate")
             if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise click.UsageError(f"sweep runs every method: {flags} would be ignored; choose methods with --methods "
                               "and thresholds with --thresholds (random follows the rates AdaSwitch reaches)")
