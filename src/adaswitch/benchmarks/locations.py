"""Where the benchmark files are read from.

The search path, in order:

1. ``$ADASWITCH_DATA_DIR`` when it is set; then it is the only place searched (an explicit choice,
   and a directory that does not exist is an error, not a reason to look elsewhere);
2. ``shared/data`` beside the project: ``../shared/data`` and ``shared/data`` from the working
   directory, then ``shared/data`` next to the checkout that holds this package;
3. the download cache that ``adaswitch data fetch`` fills: ``<cache>/data``, where ``<cache>`` is
   ``$ADASWITCH_CACHE_DIR`` (default ``~/.cache/adaswitch/models``).

A file is read from the first directory of the path that holds it.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "ADASWITCH_DATA_DIR"
SEARCH_ORDER = (f"${ENV_VAR} (only it, when set); else ../shared/data, ./shared/data, shared/data beside "
                "the checkout; then the download cache <cache>/data ($ADASWITCH_CACHE_DIR, default "
                "~/.cache/adaswitch/models)")


class DataNotFoundError(FileNotFoundError):
    """The benchmark data directory, or one file in it, is missing."""


def data_cache_dir() -> Path:
    """Where ``adaswitch data fetch`` puts the files by default: ``<cache>/data``."""
    from adaswitch.embedded import default_cache_dir

    return default_cache_dir() / "data"


def env_data_dir() -> Path | None:
    """``$ADASWITCH_DATA_DIR`` as a path, or None when it is not set."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else None


def data_search_path() -> list[Path]:
    """The directories searched for benchmark files, in order; they need not exist."""
    env = env_data_dir()
    if env is not None:
        return [env]
    cwd = Path.cwd()
    return [cwd / ".." / "shared" / "data", cwd / "shared" / "data",
            Path(__file__).resolve().parents[4] / "shared" / "data", data_cache_dir()]


def existing_dirs(paths: list[Path]) -> list[Path]:
    """The directories of ``paths`` that exist, resolved, in order, without repeats."""
    return list(dict.fromkeys(p.resolve() for p in paths if p.is_dir()))


def existing_data_dirs() -> list[Path]:
    """The directories of the search path that exist (resolved, without repeats); an error when
    ``$ADASWITCH_DATA_DIR`` names a missing directory or none exists."""
    tried = data_search_path()
    env = env_data_dir()
    if env is not None and not env.is_dir():
        raise DataNotFoundError(f"benchmark data directory {env} (from ${ENV_VAR}) does not exist")
    found = existing_dirs(tried)
    if not found:
        raise DataNotFoundError(f"no benchmark data directory; tried {', '.join(map(str, tried))}; "
                                f"set ${ENV_VAR} or run `adaswitch data fetch`")
    return found


def data_dir() -> Path:
    """The first existing directory of the search path."""
    return existing_data_dirs()[0]


def locate(relative: str, directories: list[Path]) -> Path | None:
    """The directory of ``directories`` that holds the file ``relative`` first, or None."""
    for directory in directories:
        if (directory / relative).is_file():
            return directory
    return None


def data_file(*parts: str) -> Path:
    """The benchmark file ``parts`` (e.g. ``"gsm8k", "test.jsonl"``) from the first directory of
    the search path that holds it."""
    directories = existing_data_dirs()
    relative = "/".join(parts)
    found = locate(relative, directories)
    if found is None:
        raise DataNotFoundError(
            f"benchmark file {relative} not found in {', '.join(map(str, directories))} "
            f"(see `adaswitch data status`; set ${ENV_VAR} or run `adaswitch data fetch`)")
    return found / relative
