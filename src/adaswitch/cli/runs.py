"""Pieces shared by ``eval`` and ``sweep``: building the solver and cache, progress bars, slices."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from adaswitch.evaluation.runner import Progress

if TYPE_CHECKING:
    from adaswitch.response_cache import ResponseCache

_CACHE_DEFAULT = "~/.cache/adaswitch/responses.sqlite"

run_options = [
    click.option("--split", default="test", show_default=True, envvar="ADASWITCH_SPLIT"),
    click.option("--limit", type=click.IntRange(1), envvar="ADASWITCH_LIMIT", help="At most this many samples."),
    click.option("--offset", type=click.IntRange(0), default=0, show_default=True, envvar="ADASWITCH_OFFSET"),
    click.option("--ids", envvar="ADASWITCH_IDS", help="Comma-separated sample ids (instead of a slice)."),
    click.option("--workers", type=click.IntRange(1, 256), default=8, show_default=True, envvar="ADASWITCH_WORKERS",
                 help="Concurrent questions for HTTP backends; in-process models always use one."),
    click.option("--cache", "cache_path", default=_CACHE_DEFAULT, show_default=True, envvar="ADASWITCH_RESPONSE_CACHE",
                 help="SQLite response cache shared by runs; 'off' disables it."),
    click.option("--progress/--no-progress", default=True, envvar="ADASWITCH_PROGRESS"),
]


def with_run_options(command: Any) -> Any:
    for option in reversed(run_options):
        command = option(command)
    return command


class TqdmProgress(Progress):
    def __init__(self, total: int, label: str):
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=label, unit="q", leave=True)

    def update(self, n: int = 1) -> None:
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()


@contextmanager
def open_cache(cache_path: str) -> Iterator["ResponseCache | None"]:
    """The response cache at ``cache_path`` ('off' for none), closed when the block ends."""
    if cache_path.lower() in ("off", "none", ""):
        yield None
        return
    from adaswitch.response_cache import ResponseCache

    cache = ResponseCache(Path(cache_path).expanduser())
    try:
        yield cache
    finally:
        cache.close()


def load_slice(benchmark: str, split: str, limit: int | None, offset: int, ids: str | None) -> tuple[Any, list[Any]]:
    """The benchmark and its samples, or a one-line error (unknown name, missing data, bad split),
    before any model loads."""
    from adaswitch.benchmarks import DataNotFoundError, get_benchmark
    from adaswitch.evaluation.runner import select_samples

    try:
        bench = get_benchmark(benchmark)
        samples = select_samples(bench, split, limit, offset, parse_ids(ids))
    except KeyError as error:
        raise click.UsageError(str(error.args[0] if error.args else error)) from None
    except (DataNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    if not samples:
        raise click.ClickException(f"{bench.name} {split}: no samples in that slice")
    return bench, samples


@contextmanager
def open_solver(settings: Any, cache: "ResponseCache | None", samples: list[Any] | None = None) -> Iterator[Any]:
    """The solver for ``settings``; a model that cannot load is a one-line error. The step oracle
    (``--introspection step-oracle``) is built from ``samples``, the slice being evaluated."""
    from adaswitch.backends.base import BackendError
    from adaswitch.embedded import EmbeddedModelError
    from adaswitch.solver import Solver

    introspector = None
    if settings.introspection == "step-oracle" and samples is not None:
        from adaswitch.grading.step_oracle import StepOracle

        introspector = StepOracle.for_samples(samples)
    try:
        solver = Solver(settings, cache=cache, introspector=introspector)
    except (BackendError, EmbeddedModelError, FileNotFoundError, ValueError) as error:
        raise click.ClickException(f"cannot load the models: {error}") from None
    with solver:
        yield solver


def parse_ids(ids: str | None) -> list[str] | None:
    return [i.strip() for i in ids.split(",") if i.strip()] if ids else None


def effective_workers(solver: Any, workers: int) -> int:
    return 1 if solver.in_process else workers
