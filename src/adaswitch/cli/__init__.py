"""The ``adaswitch`` command line: one small module per command."""

from __future__ import annotations

import click

from adaswitch import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="adaswitch")
def cli() -> None:
    """Cloud-local collaborative reasoning: a small local model that knows when to ask a big one."""


def _register() -> None:
    from adaswitch.cli.calibrate import calibrate
    from adaswitch.cli.data import data
    from adaswitch.cli.eval import eval_command
    from adaswitch.cli.learn import learn
    from adaswitch.cli.models import models
    from adaswitch.cli.report import report
    from adaswitch.cli.serve import serve
    from adaswitch.cli.solve import solve
    from adaswitch.cli.sweep import sweep

    cli.add_command(solve)
    cli.add_command(calibrate)
    cli.add_command(models)
    cli.add_command(eval_command)
    cli.add_command(sweep)
    cli.add_command(serve)
    cli.add_command(report)
    cli.add_command(learn)
    cli.add_command(data)


def main() -> None:
    _register()
    cli()
