"""``adaswitch models``: list the embedded and trained models, prepare (assemble and verify) the
embedded ones, prepare llama.cpp's conversion scripts for exporting trained models, and build
llama.cpp's server for batched decoding."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def models() -> None:
    """Embedded models shipped inside PyPI packages, and models trained here."""


@models.command("list")
def list_models() -> None:
    """List the embedded models and the models trained and registered here."""
    from adaswitch.embedded import EMBEDDED_MODELS
    from adaswitch.trained_models import list_trained_models

    for model in EMBEDDED_MODELS.values():
        click.echo(f"{model.name:<22} {model.description}")
    for trained in list_trained_models():
        click.echo(f"{trained.name:<22} {trained.description}")


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


@models.command("prepare-tools")
@click.option("--sdist", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A local llama_cpp_python-VERSION.tar.gz instead of fetching it from PyPI.")
@click.option("--force", is_flag=True, help="Unpack again even when a prepared copy exists.")
def prepare_tools(sdist: Path | None, force: bool) -> None:
    """Fetch llama.cpp's GGUF conversion scripts (from the llama-cpp-python sdist) into the cache,
    so that trained models can be exported offline; print their directory."""
    from adaswitch.learning.llama_cpp_tools import ConversionToolsError, prepare_conversion_tools

    try:
        click.echo(prepare_conversion_tools(sdist=sdist, force=force).root)
    except ConversionToolsError as error:
        raise click.ClickException(str(error)) from error


@models.command("prepare-server")
@click.option("--sdist", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A local llama_cpp_python-VERSION.tar.gz instead of fetching it from PyPI.")
@click.option("--jobs", type=click.IntRange(1), default=None, help="Parallel compile jobs (default: all CPUs).")
@click.option("--force", is_flag=True, help="Build again even when a built binary exists.")
def prepare_server(sdist: Path | None, jobs: int | None, force: bool) -> None:
    """Build llama.cpp's llama-server (from the llama-cpp-python sdist) into the cache, for the
    server:MODEL backend that decodes many questions in one batch; print its path. Needs CMake and a
    C++ compiler; about 25 minutes on 2 cores, once."""
    from adaswitch.backends.llama_server_build import LlamaServerBuildError, build_llama_server
    from adaswitch.learning.llama_cpp_tools import ConversionToolsError

    try:
        click.echo(build_llama_server(sdist=sdist, jobs=jobs, force=force))
    except (LlamaServerBuildError, ConversionToolsError) as error:
        raise click.ClickException(str(error)) from error


@models.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Remove the trained model NAME from the registry."""
    from adaswitch.trained_models import TrainedModelError, remove_trained_model

    try:
        remove_trained_model(name)
    except TrainedModelError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"removed {name}")
