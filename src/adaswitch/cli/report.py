"""``adaswitch report RUN_DIR...``: the comparison tables, curves and per-question view of some runs."""

from __future__ import annotations

import os
from pathlib import Path

import click


@click.command()
@click.argument("run_dirs", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), envvar="ADASWITCH_REPORT_OUT",
              help="Where to write report.md and report.html [default: the common parent of the runs].")
@click.option("--prices", type=click.Path(exists=True, dir_okay=False, path_type=Path), envvar="ADASWITCH_PRICES",
              help="Price table (JSON: model name -> usd_per_million_input/output) "
                   "[default: the packaged, illustrative one].")
@click.option("--share", type=click.Choice(["tokens", "flops", "steps"]), default="tokens", show_default=True,
              envvar="ADASWITCH_REPORT_SHARE", help="Which cloud share the curves and APGR use.")
def report(run_dirs: tuple[Path, ...], out_dir: Path | None, prices: Path | None, share: str) -> None:
    """Summarise RUN_DIR... (grouped by benchmark) into report.md and report.html."""
    from adaswitch.evaluation.report import build_report, markdown, write_html, write_markdown
    from adaswitch.grading.rundir import RunDirError

    try:
        built = build_report(list(run_dirs), prices=prices, share=share)  # type: ignore[arg-type]
    except (RunDirError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    out = out_dir or common_parent(run_dirs)
    out.mkdir(parents=True, exist_ok=True)
    write_markdown(built, out / "report.md")
    write_html(built, out / "report.html")
    click.echo(markdown(built))
    click.echo(f"wrote {out / 'report.md'} and {out / 'report.html'}", err=True)


def common_parent(run_dirs: tuple[Path, ...]) -> Path:
    """The deepest folder holding all the runs (a single run's parent, not the run itself)."""
    resolved = [d.resolve() for d in run_dirs]
    common = Path(os.path.commonpath(resolved))
    return common.parent if common in resolved else common
