"""``adaswitch solve QUESTION``: solve one question and show who wrote each step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from adaswitch.cli.options import settings_from_options, solver_options


@click.command()
@click.argument("question")
@click.option("--family", type=click.Choice(["math", "qa"]), default="math", show_default=True,
              envvar="ADASWITCH_FAMILY", help="Task family: which tools and prompts to use.")
@click.option("--context", "context_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              envvar="ADASWITCH_CONTEXT", help="QA knowledge base: JSON paragraphs or plain text.")
@click.option("--json", "as_json", is_flag=True, envvar="ADASWITCH_JSON", help="Print the trace as JSON only.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), envvar="ADASWITCH_OUTPUT",
              help="Also write the trace as JSON to this file.")
@solver_options
def solve(question: str, family: str, context_file: Path | None, as_json: bool, output: Path | None, **options: Any) -> None:
    """Solve QUESTION with the local agent, switching steps to the cloud agent when it is likely wrong."""
    from adaswitch.cli.display import format_step, format_summary
    from adaswitch.solver import Solver

    knowledge = None
    if context_file is not None:
        from adaswitch.tools.search import KnowledgeBase

        knowledge = KnowledgeBase.from_file(context_file).documents
    elif family == "qa":
        raise click.UsageError("--family qa needs --context FILE with the question's paragraphs")
    settings = settings_from_options(options)
    stand_in = settings.cloud_is_local_stand_in()
    if not as_json:
        click.echo(f"local: {settings.local}   cloud: {settings.cloud or '(none)'}"
                   f"{' (local stand-in)' if stand_in else ''}   mode: {settings.mode}"
                   f"{f'   threshold: {settings.threshold}' if settings.mode in ('adaswitch', 'self-reflection') else ''}",
                   err=True)
    try:
        solver = Solver(settings)
    except Exception as error:  # a missing model package, a bad spec: say it plainly
        raise click.ClickException(str(error)) from error
    with solver:
        on_step = None if as_json else (lambda step: click.echo(format_step(step)))
        trace = solver.solve(question, family, knowledge, on_step=on_step)
    if output is not None:
        output.write_text(trace.to_json(indent=2), encoding="utf-8")
    if as_json:
        click.echo(trace.to_json(indent=2))
    else:
        click.echo(format_summary(trace, stand_in))
    if trace.status == "error":
        raise SystemExit(1)
