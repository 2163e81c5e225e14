"""Which benchmark files are found where, and whether they match the manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from adaswitch.benchmarks.locations import locate
from adaswitch.benchmarks.sources import DataFile, FileState


@dataclass(frozen=True)
class FileStatus:
    file: DataFile
    directory: Path | None
    """The first searched directory that holds the file (the one the loaders read); None: missing."""
    state: FileState


def file_statuses(files: list[DataFile], directories: list[Path], verify: bool = False) -> list[FileStatus]:
    """For each file, where it is found in ``directories`` (in order) and how it compares with the
    manifest: by size, and by sha256 when ``verify``."""
    statuses = []
    for file in files:
        directory = locate(file.path, directories)
        state = file.check(directory / file.path, verify) if directory is not None else "missing"
        statuses.append(FileStatus(file, directory, state))
    return statuses
