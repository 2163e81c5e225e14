"""Models trained here: a GGUF file and its manifest under ``<cache>/trained/<name>/``.

A registered name works wherever an embedded model name does (``--local my-practised``,
``llama:my-practised``): :func:`adaswitch.embedded.resolve_model` falls back to this registry.
The manifest records where the model came from (base model, stage, settings: whatever the caller
gives) plus the file's size and sha256 and the registration time.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adaswitch.digest import sha256_of_file
from adaswitch.embedded_catalog import EMBEDDED_MODELS, EmbeddedModelError, default_cache_dir

MODEL_FILE = "model.gguf"
MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1
ADAPTER_OF = "adapter_of"
"""Manifest key of a registered LoRA adapter: the base model it applies to."""
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_GGUF_MAGIC = b"GGUF"


class TrainedModelError(EmbeddedModelError):
    """A trained model cannot be registered or found."""


@dataclass(frozen=True)
class TrainedModel:
    name: str
    path: Path
    """The GGUF file."""
    manifest: dict[str, Any]

    @property
    def description(self) -> str:
        base = self.manifest.get(ADAPTER_OF)
        parts = [f"LoRA adapter of {base}" if base else f"trained from {self.manifest.get('base', '?')}"]
        if stage := self.manifest.get("stage"):
            parts.append(f"stage {stage}")
        if created := self.manifest.get("created"):
            parts.append(str(created)[:19].replace("T", " "))
        return ", ".join(parts)


def trained_root(cache_dir: Path | None = None) -> Path:
    return (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / "trained"


def validate_name(name: str) -> str:
    """A name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit; it may not
    end in ``.gguf`` (that reads as a path) nor shadow an embedded model."""
    if not _NAME.fullmatch(name or ""):
        raise TrainedModelError(
            f"bad model name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    if name.lower().endswith(".gguf"):
        raise TrainedModelError(f"bad model name {name!r}: a name ending in .gguf would be read as a file path")
    if name in EMBEDDED_MODELS:
        raise TrainedModelError(f"bad model name {name!r}: it is an embedded model's name")
    return name


def register_trained_model(
    name: str,
    gguf_path: Path | str,
    manifest: dict[str, Any],
    *,
    move: bool = False,
    replace: bool = False,
    cache_dir: Path | None = None,
) -> Path:
    """Copy (or ``move``) ``gguf_path`` into the registry as ``name``; return the registered file.

    ``manifest`` must be JSON-serialisable; ``name``, ``size``, ``sha256``, ``created`` and
    ``manifest_version`` are filled in here. An existing name is an error unless ``replace``.
    """
    validate_name(name)
    source = Path(gguf_path)
    _check_gguf(source)
    root = trained_root(cache_dir)
    target = root / name
    if target.exists() and not replace:
        raise TrainedModelError(f"trained model {name!r} already exists in {root}; pass replace to overwrite it")
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}."))
    try:
        model_file = staging / MODEL_FILE
        if move:
            shutil.move(source, model_file)
            digest = _hash_file(model_file)
        else:
            digest = _copy_hashing(source, model_file)
        record = dict(manifest)
        record.update(
            name=name,
            file=MODEL_FILE,
            size=model_file.stat().st_size,
            sha256=digest,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            manifest_version=MANIFEST_VERSION,
        )
        try:
            text = json.dumps(record, indent=2, sort_keys=True)
        except TypeError as err:
            raise TrainedModelError(f"manifest for {name!r} is not JSON-serialisable: {err}") from None
        (staging / MANIFEST_FILE).write_text(text + "\n")
        _swap_in(staging, target)
    except BaseException:
        if move and not source.exists() and (staging / MODEL_FILE).exists():
            shutil.move(staging / MODEL_FILE, source)  # give the caller's file back
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target / MODEL_FILE


def list_trained_models(cache_dir: Path | None = None) -> list[TrainedModel]:
    """Registered models, sorted by name; incomplete entries are skipped."""
    root = trained_root(cache_dir)
    if not root.is_dir():
        return []
    models = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        try:
            models.append(get_trained_model(entry.name, cache_dir))
        except TrainedModelError:
            continue
    return models


def get_trained_model(name: str, cache_dir: Path | None = None) -> TrainedModel:
    """The registered model ``name``; its file must exist with the recorded size."""
    validate_name(name)
    entry = trained_root(cache_dir) / name
    try:
        manifest = json.loads((entry / MANIFEST_FILE).read_text())
    except FileNotFoundError:
        raise TrainedModelError(f"no trained model named {name!r} in {trained_root(cache_dir)}") from None
    except ValueError as err:
        raise TrainedModelError(f"trained model {name!r}: unreadable {MANIFEST_FILE} ({err})") from None
    path = entry / MODEL_FILE
    if not path.is_file() or path.stat().st_size != manifest.get("size"):
        raise TrainedModelError(f"trained model {name!r}: {path} is missing or not the registered size")
    return TrainedModel(name=name, path=path, manifest=manifest)


def trained_model_path(name: str, cache_dir: Path | None = None) -> Path | None:
    """The GGUF file of a registered ``name``; None when no such model is registered. A registered
    LoRA adapter is not a model file on its own: asking for one is an error that says so."""
    model = _registered(name, cache_dir)
    if model is None:
        return None
    if base := model.manifest.get(ADAPTER_OF):
        raise TrainedModelError(f"{name!r} is a LoRA adapter of {base}, not a model file: serve it through a "
                                f"backend (llama:{name}, server:{name}), which loads the base with it")
    return model.path


def trained_adapter(name: str, cache_dir: Path | None = None) -> tuple[str, Path] | None:
    """``(base, adapter file)`` when ``name`` is a registered LoRA adapter (its manifest's
    ``adapter_of`` names the base model: an embedded name or a path); None otherwise."""
    model = _registered(name, cache_dir)
    if model is None or not (base := model.manifest.get(ADAPTER_OF)):
        return None
    return str(base), model.path


def _registered(name: str, cache_dir: Path | None) -> TrainedModel | None:
    try:
        validate_name(name)
    except TrainedModelError:
        return None
    if not (trained_root(cache_dir) / name / MANIFEST_FILE).is_file():
        return None
    return get_trained_model(name, cache_dir)


def manifest_beside(path: Path | str) -> dict[str, Any] | None:
    """The registry manifest of a registered model file (``.../<name>/model.gguf``), found beside
    it; None for any other file. An unreadable manifest is a :class:`TrainedModelError`."""
    path = Path(path)
    manifest = path.parent / MANIFEST_FILE
    if path.name != MODEL_FILE or not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text())
    except ValueError as err:
        raise TrainedModelError(f"{manifest}: unreadable ({err})") from None
    return data if isinstance(data, dict) else None


def verify_trained_model(name: str, cache_dir: Path | None = None) -> TrainedModel:
    """Like :func:`get_trained_model`, also checking the file's sha256."""
    model = get_trained_model(name, cache_dir)
    digest = _hash_file(model.path)
    if digest != model.manifest.get("sha256"):
        raise TrainedModelError(f"trained model {name!r}: sha256 {digest} does not match its manifest")
    return model


def remove_trained_model(name: str, cache_dir: Path | None = None) -> None:
    get_trained_model(name, cache_dir)
    shutil.rmtree(trained_root(cache_dir) / name)


def _check_gguf(path: Path) -> None:
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as err:
        raise TrainedModelError(f"cannot read {path}: {err.strerror}") from None
    if magic != _GGUF_MAGIC:
        raise TrainedModelError(f"{path} is not a GGUF file")


def _swap_in(staging: Path, target: Path) -> None:
    """Make ``staging`` the entry ``target``, replacing an older one whole."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old."))
        os.replace(target, old / "entry")
    try:
        os.replace(staging, target)
    except BaseException:
        if old is not None:
            os.replace(old / "entry", target)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _copy_hashing(source: Path, target: Path) -> str:
    digest = hashlib.sha256()
    with source.open("rb") as src, target.open("wb") as out:
        while block := src.read(8 * 1024 * 1024):
            out.write(block)
            digest.update(block)
    return digest.hexdigest()


_hash_file = sha256_of_file
