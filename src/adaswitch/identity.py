"""Which model answered: an identity for response-cache keys and run resume that changes with the model.

A name is not enough: a model retrained and registered again under its old name, or two ``.gguf``
files with the same stem, would share cached answers and resumed runs. A backend that runs a file
is identified by the file's SHA-256; an endpoint without a file by its name (its base URL is among
its settings). Both add the backend's reply-relevant settings (:meth:`Backend.identity_settings`).

Hashing a model file takes seconds, so the digest is stored beside it in ``<file>.sha256`` with the
file's size and modification time, and reused while both still match.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path

from adaswitch.backends.base import Backend
from adaswitch.jsonfile import read_json, write_atomic

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".sha256"
_BLOCK = 1 << 20
_memo: dict[tuple[str, int, int], str] = {}
_memo_lock = threading.Lock()


def sidecar_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def file_digest(path: str | Path) -> str:
    """The SHA-256 of a file, read from its ``.sha256`` sidecar when the file's size and mtime match
    the ones recorded there; otherwise computed and recorded (best effort: a read-only folder only
    loses the record, not the digest)."""
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
    ``;settings:HEX`` when the backend has reply-relevant settings."""
    kind = type(backend).__name__
    path = backend.model_file
    if path is not None and Path(path).is_file():
        identity = f"{kind}/sha256:{file_digest(path)}"
    else:
        identity = f"{kind}/name:{backend.name}"
    settings = backend.identity_settings()
    if settings:
        text = json.dumps(settings, sort_keys=True, default=str)
        identity += f";settings:{hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]}"
    return identity


def _recorded_digest(path: Path, stat: os.stat_result) -> str | None:
    record = read_json(sidecar_path(path))
    if not isinstance(record, dict):
        return None
    if record.get("size") != stat.st_size or record.get("mtime_ns") != stat.st_mtime_ns:
        return None
    digest = record.get("sha256")
    return digest if isinstance(digest, str) and len(digest) == 64 else None


def _hash_and_record(path: Path, stat: os.stat_result) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            h.update(block)
    digest = h.hexdigest()
    now = path.stat()
    if (now.st_size, now.st_mtime_ns) != (stat.st_size, stat.st_mtime_ns):
        return digest  # changed while being read: do not vouch for it
    record = {"sha256": digest, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "file": path.name}
    try:
        write_atomic(sidecar_path(path), json.dumps(record, indent=2) + "\n")
    except OSError as error:
        log.debug("cannot record the digest of %s beside it: %s", path, error)
    return digest
