"""The benchmark files and where they come from: the manifest ``adaswitch/data/benchmark_files.json``.

Each entry gives the file's path in the data directory, its size and sha256, its licence and its
upstream (GitHub repository, full commit, path). An entry whose ``derived`` is null is the upstream
file byte for byte and can be downloaded; a derived one is a conversion made by the project's
maintainers, which only its description and upstream can point to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from adaswitch.digest import sha256_of_file

RAW_BASE_URL = "https://raw.githubusercontent.com"

FileState = Literal["missing", "present", "verified", "wrong size", "wrong sha256"]


@dataclass(frozen=True)
class Upstream:
    repo: str
    commit: str
    path: str

    @property
    def reference(self) -> str:
        """``owner/name @commit : path``, as the data README writes it."""
        return f"{self.repo} @{self.commit[:8]} : {self.path}"

    @property
    def web_url(self) -> str:
        """The page of the file (or folder) at the commit on GitHub."""
        return f"https://github.com/{self.repo}/tree/{self.commit}/{self.path}"


@dataclass(frozen=True)
class DataFile:
    """One benchmark file of the manifest."""

    path: str
    benchmark: str
    sha256: str
    size: int
    licence: str
    upstream: Upstream
    records: int | None = None
    derived: str | None = None
    """How the project's maintainers made the file from its upstream; None: byte-identical."""

    @property
    def fetchable(self) -> bool:
        return self.derived is None

    def url(self, base_url: str = RAW_BASE_URL) -> str:
        """The raw download URL of the upstream file at its commit (``base_url`` replaces the host)."""
        up = self.upstream
        return f"{base_url.rstrip('/')}/{up.repo}/{up.commit}/{up.path}"

    def check(self, path: Path, verify: bool = False) -> FileState:
        """How the file at ``path`` compares with this entry: by size, and by sha256 if ``verify``."""
        if not path.is_file():
            return "missing"
        if path.stat().st_size != self.size:
            return "wrong size"
        if not verify:
            return "present"
        return "verified" if sha256_of_file(path) == self.sha256 else "wrong sha256"


def parse_manifest(data: dict[str, Any]) -> list[DataFile]:
    """Manifest entries from the JSON document (``{"files": [...]}``)."""
    return [DataFile(path=row["path"], benchmark=row["benchmark"], sha256=row["sha256"], size=int(row["size"]),
                     licence=row["licence"], upstream=Upstream(**row["upstream"]), records=row.get("records"),
                     derived=row.get("derived"))
            for row in data["files"]]


def load_manifest(path: Path | None = None) -> list[DataFile]:
    """The shipped manifest, or the one at ``path``."""
    if path is None:
        text = resources.files("adaswitch").joinpath("data/benchmark_files.json").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return parse_manifest(json.loads(text))


def select(files: list[DataFile], names: list[str]) -> list[DataFile]:
    """The entries named by benchmark (or one of its aliases) or by path; all when ``names`` is empty.
    An unknown name is a ValueError that lists the known ones."""
    if not names:
        return list(files)
    from adaswitch.benchmarks import get_benchmark

    wanted: set[str] = set()
    for name in names:
        if any(f.path == name for f in files):
            wanted.add(name)
            continue
        try:
            benchmark = get_benchmark(name).name
        except KeyError:
            benchmark = name
        matched = [f.path for f in files if f.benchmark == benchmark]
        if not matched:
            known = sorted({f.benchmark for f in files})
            raise ValueError(f"unknown data name {name!r}; known: {', '.join(known)} or a file path")
        wanted.update(matched)
    return [f for f in files if f.path in wanted]
