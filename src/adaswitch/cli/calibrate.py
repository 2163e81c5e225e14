"""``adaswitch calibrate RUN_DIR...``: store a signal's probabilities on a calibration slice, so that
``--cloud-budget`` can turn a share of cloud steps into a threshold."""

from __future__ import annotations

from pathlib import Path

import click

DEFAULT_BUDGETS = (0.1, 0.2, 0.3)


@click.command()
@click.argument("run_dirs", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Calibration file to write (JSON); pass it as --calibration with --cloud-budget.")
def calibrate(run_dirs: tuple[Path, ...], out: Path) -> None:
    """Calibrate on RUN_DIR...: runs of one signal and local model in which every step was judged
    (--mode local --judge-steps), on questions kept apart from those you will report. Prints the
    threshold of a few budgets."""
    from adaswitch.calibration import calibration_from_runs
    from adaswitch.grading.rundir import RunDirError

    try:
        calibration = calibration_from_runs(run_dirs)
    except (RunDirError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    calibration.save(out)
    click.echo(f"{calibration.introspection} on {calibration.local_model}: {len(calibration.p_errors)} judged "
               f"proposals of {calibration.questions} questions")
    for budget in DEFAULT_BUDGETS:
        threshold = calibration.threshold_for(budget)
        click.echo(f"  budget {budget:.2f}: threshold {threshold:.4f} (share on the slice "
                   f"{calibration.share_above(threshold):.3f})")
    click.echo(f"wrote {out}", err=True)
