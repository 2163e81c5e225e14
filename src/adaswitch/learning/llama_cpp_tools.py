"""llama.cpp's Hugging Face to GGUF converter, taken from the llama-cpp-python source distribution.

The installed llama-cpp-python wheel carries the engine but not llama.cpp's Python conversion
scripts; its sdist on PyPI does (``vendor/llama.cpp``). The scripts are found, in order:

1. in the directory named by ``ADASWITCH_LLAMA_CPP_SOURCE`` (a llama.cpp checkout or an unpacked
   ``vendor/llama.cpp``);
2. in a prepared copy in the cache directory, ``<cache>/tools/llama.cpp-<version>``;
3. else the sdist of the installed llama-cpp-python version is fetched with ``pip download`` and only
   the converter, its ``conversion`` package, ``gguf-py`` and the chat templates are unpacked into
   that prepared copy (atomically; a second call finds it and does nothing).

``adaswitch models prepare-tools`` runs step 3 ahead of time, so that exporting works offline.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from adaswitch.digest import sha256_of_file
from adaswitch.backends.llama_cpp_sdist import (
    DISTRIBUTION,
    SOURCE_ENV,
    ConversionToolsError,
    download_sdist,
    llama_cpp_version,
)

__all__ = [
    "DISTRIBUTION",
    "MARKER",
    "SOURCE_ENV",
    "ConversionTools",
    "ConversionToolsError",
    "conversion_tools",
    "download_sdist",
    "find_conversion_tools",
    "llama_cpp_version",
    "prepare_conversion_tools",
    "prepared_dir",
]

MARKER = "PREPARED.json"
_VENDOR = "vendor/llama.cpp"
_FILES = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "LICENSE")
_TREES = ("conversion/", "gguf-py/gguf/", "models/templates/")
_GGUF_PY_FILES = ("gguf-py/LICENSE", "gguf-py/pyproject.toml")


@dataclass(frozen=True)
class ConversionTools:
    """A directory laid out like llama.cpp's source root (the parts the converter needs)."""

    root: Path

    @property
    def convert_hf(self) -> Path:
        return self.root / "convert_hf_to_gguf.py"

    @property
    def convert_lora(self) -> Path:
        return self.root / "convert_lora_to_gguf.py"

    @property
    def gguf_py(self) -> Path:
        return self.root / "gguf-py"

    def problems(self) -> list[str]:
        """What is missing for the converter to run; empty when the directory is usable."""
        needed = [self.convert_hf, self.gguf_py / "gguf" / "__init__.py"]
        return [str(p.relative_to(self.root)) for p in needed if not p.is_file()]


def prepared_dir(cache_dir: Path | None = None, version: str | None = None) -> Path:
    """Where the prepared copy for ``version`` (default: the installed one) lives."""
    from adaswitch.embedded import default_cache_dir

    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return cache / "tools" / f"llama.cpp-{version or llama_cpp_version()}"


def find_conversion_tools(cache_dir: Path | None = None) -> ConversionTools | None:
    """The tools from ``ADASWITCH_LLAMA_CPP_SOURCE`` or the prepared copy; None when neither exists.

    A directory named by the environment variable that lacks the converter is an error, not a
    reason to look elsewhere: the user asked for that directory.
    """
    source = os.environ.get(SOURCE_ENV)
    if source:
        tools = ConversionTools(Path(source).expanduser())
        if missing := tools.problems():
            raise ConversionToolsError(f"{SOURCE_ENV}={source} lacks {', '.join(missing)}")
        return tools
    tools = ConversionTools(prepared_dir(cache_dir))
    if (tools.root / MARKER).is_file() and not tools.problems():
        return tools
    return None


def conversion_tools(cache_dir: Path | None = None, *, fetch: bool = True) -> ConversionTools:
    """The tools, preparing them from PyPI when ``fetch`` and they are not there yet."""
    tools = find_conversion_tools(cache_dir)
    if tools is not None:
        return tools
    if not fetch:
        raise ConversionToolsError(
            f"llama.cpp's conversion scripts are not prepared in {prepared_dir(cache_dir)}; run "
            f"'adaswitch models prepare-tools' (needs PyPI) or set {SOURCE_ENV} to a llama.cpp source directory"
        )
    return prepare_conversion_tools(cache_dir)


def prepare_conversion_tools(
    cache_dir: Path | None = None,
    *,
    version: str | None = None,
    sdist: Path | None = None,
    force: bool = False,
) -> ConversionTools:
    """Unpack the conversion scripts from the llama-cpp-python sdist into the cache; idempotent.

    ``sdist`` is a local ``llama_cpp_python-<version>.tar.gz``; without it the sdist of ``version``
    (default: the installed version) is fetched with ``pip download``.
    """
    version = version or llama_cpp_version()
    target = prepared_dir(cache_dir, version)
    tools = ConversionTools(target)
    if not force and (target / MARKER).is_file() and not tools.problems():
        return tools
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as scratch:
        archive = Path(sdist) if sdist is not None else download_sdist(version, Path(scratch))
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
        try:
            count = _extract(archive, staging)
            staged = ConversionTools(staging)
            if missing := staged.problems():
                raise ConversionToolsError(f"{archive.name} lacks {', '.join(missing)} under {_VENDOR}")
            marker = {"distribution": DISTRIBUTION, "version": version, "sdist": archive.name,
                      "sha256": sha256_of_file(archive), "files": count}
            (staging / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
            _install(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return tools


def _extract(archive: Path, into: Path) -> int:
    """Copy the wanted regular files of ``vendor/llama.cpp`` out of the sdist; return their count."""
    count = 0
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            rel = _wanted(member.name)
            if rel is None or not member.isfile():
                continue
            dest = into.joinpath(*rel.parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None  # a regular file always has content
            with source, dest.open("wb") as out:
                shutil.copyfileobj(source, out)
            count += 1
    return count


def _wanted(name: str) -> PurePosixPath | None:
    """The path under ``vendor/llama.cpp`` of a member to keep, or None."""
    parts = PurePosixPath(name).parts
    if len(parts) < 3 or "/".join(parts[1:3]) != _VENDOR or ".." in parts:
        return None
    rel = PurePosixPath(*parts[3:]) if len(parts) > 3 else None
    if rel is None:
        return None
    text = rel.as_posix()
    if text in _FILES or text in _GGUF_PY_FILES or any(text.startswith(tree) for tree in _TREES):
        return rel
    return None


def _install(staging: Path, target: Path) -> None:
    """Move ``staging`` into place as ``target``, replacing an incomplete or forced older copy."""
    if target.exists():
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old."))
        os.replace(target, old / "tree")
        shutil.rmtree(old, ignore_errors=True)
    try:
        os.replace(staging, target)
    except OSError:
        # another process installed it meanwhile: theirs is as good as ours
        if not (target / MARKER).is_file():
            raise




