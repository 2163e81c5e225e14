"""The one SHA-256 of a file the project computes (models, adapters, data files, probes, archives)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_of_file(path: str | Path) -> str:
    """Hex SHA-256 of the file's bytes, read in blocks (``hashlib.file_digest``)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
