"""Which model answered: an identity for response-cache keys and run resume that changes with the model.

A name is not enough: a model retrained and registered again under its old name, or two ``.gguf``
files with the same stem, would share cached answers and resumed runs. A backend that runs a file
is identified by the file's SHA-256; an endpoint without a file by its name (its base URL is among
its settings). Both add the backend's reply-relevant settings (:meth:`Backend.identity_settings`).

Hashing a model file takes seconds, so the digest is stored beside it in ``<file>.sha256`` with the
file's size and modification time, and reused while both still match. A file inside an installed
Python package (an embedded model) or in a folder that cannot be written keeps its record in
``<model cache>/digests/`` instead, named after the file's resolved path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path

from adaswitch.digest import sha256_of_file
from adaswitch.backends.base import Backend
from adaswitch.jsonfile import read_json, write_atomic

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".sha256"
_memo: dict[tuple[str, int, int], str] = {}
_memo_lock = threading.Lock()


def sidecar_path(path: str | Path) -> Path:
    """``<file>.sha256``: where a file's digest is recorded, beside it."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def fallback_record_path(path: str | Path) -> Path:
    """Where the digest of a file is recorded when it cannot be recorded beside the file."""
    from adaswitch.embedded import default_cache_dir

    resolved = str(Path(path).resolve())
    name = hashlib.sha256(resolved.encode("utf-8")).hexdigest()[:32]
    return default_cache_dir() / "digests" / f"{Path(path).name}.{name}{SIDECAR_SUFFIX}"


def file_digest(path: str | Path) -> str:
    """The SHA-256 of a file, read from its record (``<file>.sha256``) when the file's size and mtime
    match the ones recorded there; otherwise computed and recorded (best effort: where no record can
    be written, only the record is lost, not the digest)."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _memo_lock:
        if key in _memo:
            return _memo[key]
    digest = _recorded_digest(path, stat) or _hash_and_record(path, stat)
    with _memo_lock:
        _memo[key] = digest
    return digest


def backend_identity(backend: Backend) -> str:
    """``Class/sha256:HEX`` for a backend that runs a file, ``Class/name:NAME`` otherwise, plus
    ``+lora:HEX`` for a LoRA adapter applied to it and ``;settings:HEX`` when the backend has
    reply-relevant settings."""
    kind = type(backend).__name__
    path = backend.model_file
    if path is not None and Path(path).is_file():
        identity = f"{kind}/sha256:{file_digest(path)}"
    else:
        identity = f"{kind}/name:{backend.name}"
    adapter = backend.adapter_file
    if adapter is not None and Path(adapter).is_file():
        identity += f"+lora:{file_digest(adapter)}"
    settings = backend.identity_settings()
    if settings:
        text = json.dumps(settings, sort_keys=True, default=str)
        identity += f";settings:{hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]}"
    return identity


def _record_paths(path: Path) -> list[Path]:
    """Where the record may be, in the order tried: beside the file (not inside an installed
    package), then the fallback store."""
    installed = any(part in ("site-packages", "dist-packages") for part in path.resolve().parts)
    return ([] if installed else [sidecar_path(path)]) + [fallback_record_path(path)]


def _recorded_digest(path: Path, stat: os.stat_result) -> str | None:
    for record_path in _record_paths(path):
        record = read_json(record_path)
        if not isinstance(record, dict):
            continue
        if record.get("size") != stat.st_size or record.get("mtime_ns") != stat.st_mtime_ns:
            continue
        digest = record.get("sha256")
        if isinstance(digest, str) and len(digest) == 64:
            return digest
    return None


def _hash_and_record(path: Path, stat: os.stat_result) -> str:
    digest = sha256_of_file(path)
    now = path.stat()
    if (now.st_size, now.st_mtime_ns) != (stat.st_size, stat.st_mtime_ns):
        return digest  # changed while being read: do not vouch for it
    record = {"sha256": digest, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "file": str(path.resolve())}
    text = json.dumps(record, indent=2) + "\n"
    for record_path in _record_paths(path):
        try:
            record_path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(record_path, text)
            return digest
        except OSError as error:
            log.debug("cannot record the digest of %s in %s: %s", path, record_path, error)
    return digest
